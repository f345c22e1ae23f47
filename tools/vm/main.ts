/**
 * `deno task vm [options] -- <command>`: the lab VM's command line.
 *
 * Runs <command> in a fresh QEMU guest and exits with its exit code. See
 * `deno task vm --help`, and mod.ts for the same from TypeScript.
 *
 * @module
 */

import { EXIT_VM_FAILURE, VmError } from "./errors.ts";
import { HELP, parseCliArgs } from "./options.ts";
import { runInVm } from "./run_vm.ts";
import { setupVm } from "./setup.ts";
import { DEVICE_MIN_QEMU, versionAtLeast } from "./qemu_version.ts";

/** Progress messages go to stderr, marked so they stand out from the command's output. */
function log(message: string): void {
  console.error(`[vm] ${message}`);
}

/**
 * Runs the CLI.
 *
 * @param args command-line arguments
 * @returns the exit code
 */
export async function main(args: readonly string[]): Promise<number> {
  const request = parseCliArgs(args);
  switch (request.kind) {
    case "help":
      console.log(HELP);
      return 0;
    case "setup": {
      const { kernel, initramfs, qemu } = await setupVm({ log });
      log(`Ready: kernel ${kernel.version} (${kernel.bootImage}), initramfs ${initramfs}`);
      const igb = DEVICE_MIN_QEMU.igb;
      log(
        `QEMU ${qemu.version} (${qemu.path})` +
          (versionAtLeast(qemu.version, igb)
            ? ""
            : `: enough for everything but igb, which needs QEMU ${igb} (Debian 12: from ` +
              "bookworm-backports; a task that uses igb gets it as root, or says how)"),
      );
      return 0;
    }
    case "run": {
      // ^C or a kill ends QEMU too, instead of leaving it running; we then
      // exit with 128 + the signal's number, as shells do.
      const abort = new AbortController();
      const signals = { SIGINT: 2, SIGTERM: 15 } as const;
      let received = 0;
      const listeners = Object.entries(signals).map(([name, number]) => {
        const listener = (): void => {
          received ||= number;
          abort.abort();
        };
        Deno.addSignalListener(name as Deno.Signal, listener);
        return [name as Deno.Signal, listener] as const;
      });
      try {
        const result = await runInVm(request.command, {
          ...request.options,
          stream: true,
          log,
          signal: abort.signal,
        });
        if (request.options.verbose && result.bootSeconds !== undefined) {
          log(
            `Command started ${result.bootSeconds.toFixed(1)} s after QEMU did; ` +
              `total ${result.totalSeconds.toFixed(1)} s; exit code ${result.code}`,
          );
        }
        return result.code;
      } catch (error) {
        if (received === 0) throw error;
        log(`Stopped the lab VM (signal ${received})`);
        return 128 + received;
      } finally {
        for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
      }
    }
  }
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (error) {
    if (error instanceof VmError) {
      console.error(error.message);
      code = error.exitCode;
    } else {
      // A bug in the tool itself: here the stack trace helps.
      console.error("Unexpected failure of the lab VM tool:", error);
      code = EXIT_VM_FAILURE;
    }
  }
  Deno.exit(code);
}
