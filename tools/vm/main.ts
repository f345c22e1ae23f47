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
      const { kernel, initramfs } = await setupVm({ log });
      log(`Ready: kernel ${kernel.version} (${kernel.bootImage}), initramfs ${initramfs}`);
      return 0;
    }
    case "run": {
      // ^C or a kill ends QEMU too, instead of leaving it running.
      const abort = new AbortController();
      const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
      const onSignal = (): void => abort.abort();
      for (const signal of signals) Deno.addSignalListener(signal, onSignal);
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
      } finally {
        for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
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
