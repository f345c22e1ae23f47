/**
 * Helpers shared by the lab-VM tests: run a guest script, share one boot
 * between a file's tests ({@link SharedBoot}), read `NAME=value` lines.
 *
 * @module
 */

import assert from "node:assert/strict";
import { readQemuLog, runInVm, type VmOptions } from "../../tools/vm/mod.ts";
import { shellQuote } from "../../tools/vm/run_dir.ts";

/**
 * Boots the lab VM with `options`, runs `script` and returns its output;
 * fails the test (showing the output) on a non-zero exit.
 */
export async function guest(script: string, options: VmOptions = {}): Promise<string> {
  const result = await runInVm(script, { nics: 2, timeoutSeconds: 600, ...options });
  assert.equal(result.code, 0, `guest script failed (exit ${result.code}):\n${result.output}`);
  return result.output;
}

/**
 * Runs `script` as {@link guest} does, with QEMU's `-d guest_errors,unimp`
 * log (VmOptions `qemuLog`) in a temporary file; returns the output and the
 * log's lines (a test expects none). Without `nics`, one NIC per model.
 */
export async function guestWithLog(
  script: string,
  options: VmOptions = {},
): Promise<{ out: string; qemuLog: string[] }> {
  const logFile = await Deno.makeTempFile({ prefix: "ixy-qemu-", suffix: ".log" });
  try {
    const nics = options.nicModels?.length ?? 2;
    const out = await guest(script, { nics, ...options, qemuLog: logFile });
    return { out, qemuLog: readQemuLog(logFile) };
  } finally {
    await Deno.remove(logFile).catch(() => {});
  }
}

/** One guest script of a {@link SharedBoot}, with its own environment. */
export interface Section {
  /** Shell command(s), run by /bin/sh in a subshell of their own. */
  readonly script: string;
  /** Variables exported for this section only. */
  readonly env?: Readonly<Record<string, string>>;
}

/** What one section of a shared boot printed, and how it ended. */
interface SectionResult {
  readonly code: number;
  readonly output: string;
}

/** Takes every interface of the initial network namespace but lo down. */
const RESET_INTERFACES = "for i in $(ls /sys/class/net); do " +
  '[ "$i" = lo ] || ip link set "$i" down 2>/dev/null; done';

const BEGIN = "@@ixy-section-begin ";
const END = "@@ixy-section-end ";

/**
 * One boot of the lab VM for several tests of a file. Booting costs ~10 s
 * under TCG (QEMU, the kernel, the first Deno start in the guest), and the
 * tests of a file mostly need the same machine: so the first test to ask boots
 * it and runs every section in order, each in its own subshell, and each test
 * then checks its own section's output and exit code. The sections must not
 * depend on each other's success. Between sections every kernel interface goes
 * down again, as at boot; other changes (a NIC taken from the kernel, fewer
 * hugepages) stay, so a section that makes them comes later in the list. QEMU's guest-error log, with `qemuLog: true`, covers the
 * whole boot.
 */
export class SharedBoot {
  readonly #options: VmOptions;
  readonly #sections: ReadonlyMap<string, Section>;
  readonly #withLog: boolean;
  #run: Promise<{ results: Map<string, SectionResult>; qemuLog: string[] }> | undefined;

  /**
   * @param options the VM (NICs, models, IOMMU, ...); the timeout defaults to 600 s per boot
   * @param sections name → section, run in this order
   * @param qemuLog also record QEMU's `-d guest_errors,unimp` log
   */
  constructor(options: VmOptions, sections: Record<string, Section>, qemuLog = false) {
    this.#options = options;
    this.#sections = new Map(Object.entries(sections));
    this.#withLog = qemuLog;
  }

  /** The output of section `name`; fails the test (showing it) if its script failed. */
  async section(name: string): Promise<string> {
    const result = (await this.#boot()).results.get(name);
    assert.ok(result, `section ${name} did not run (the boot ended before it)`);
    assert.equal(
      result.code,
      0,
      `guest section ${name} failed (exit ${result.code}):\n${result.output}`,
    );
    return result.output;
  }

  /** QEMU's guest-error lines of the whole boot (needs `qemuLog` in the constructor). */
  async qemuLog(): Promise<string[]> {
    assert.ok(this.#withLog, "this SharedBoot records no QEMU log");
    return (await this.#boot()).qemuLog;
  }

  #boot(): Promise<{ results: Map<string, SectionResult>; qemuLog: string[] }> {
    this.#run ??= this.#start();
    return this.#run;
  }

  async #start(): Promise<{ results: Map<string, SectionResult>; qemuLog: string[] }> {
    const lines: string[] = [];
    for (const [name, { script, env }] of this.#sections) {
      const exports = Object.entries(env ?? {})
        .map(([k, v]) => `export ${k}=${shellQuote(v)}; `).join("");
      lines.push(
        `echo ${shellQuote(BEGIN + name)}`,
        `(${exports}${script}) 2>&1; echo "${END}${name} $?"`,
        // As at boot, the next section finds every kernel interface down.
        RESET_INTERFACES,
      );
    }
    const logFile = this.#withLog
      ? await Deno.makeTempFile({ prefix: "ixy-qemu-", suffix: ".log" })
      : undefined;
    // Kept as it comes: a boot that times out still shows how far it got.
    const decoder = new TextDecoder();
    let output = "";
    let failure: string | undefined;
    try {
      await runInVm(lines.join("\n"), {
        nics: this.#options.nicModels?.length ?? 2,
        timeoutSeconds: 900,
        ...this.#options,
        qemuLog: logFile,
        onOutput: (chunk) => {
          output += decoder.decode(chunk, { stream: true });
        },
      });
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
    }
    try {
      return {
        results: this.#split(output, failure),
        qemuLog: logFile ? readQemuLog(logFile) : [],
      };
    } finally {
      if (logFile) await Deno.remove(logFile).catch(() => {});
    }
  }

  /** Cuts the boot's output into its sections; one cut short gets `failure` and the output. */
  #split(output: string, failure: string | undefined): Map<string, SectionResult> {
    const results = new Map<string, SectionResult>();
    let current: { name: string; lines: string[] } | undefined;
    for (const line of output.split("\n")) {
      if (line.startsWith(BEGIN)) {
        current = { name: line.slice(BEGIN.length), lines: [] };
      } else if (current && line.startsWith(END + current.name + " ")) {
        const code = Number(line.slice(END.length + current.name.length + 1));
        results.set(current.name, { code, output: current.lines.join("\n") });
        current = undefined;
      } else current?.lines.push(line);
    }
    // A section cut short (timeout, a guest crash), and those after it.
    const why = failure ?? "the guest stopped before the section ended";
    for (const name of this.#sections.keys()) {
      if (results.has(name)) continue;
      const shown = current?.name === name ? current.lines.join("\n") : "(not started)";
      results.set(name, { code: -1, output: `${why}\n--- its output so far ---\n${shown}` });
    }
    return results;
  }
}

/** The value of the `name=value` line in `output`; fails the test if absent. */
export function field(output: string, name: string): string {
  const m = new RegExp(`^${name}=(.*)$`, "m").exec(output);
  assert.ok(m, `no ${name}= line in:\n${output}`);
  return m[1].trim();
}

const numbers = (text: string): number[] => text.trim().split(/\s+/).map(Number);

/**
 * Checks what tests/vm/guest/forward.sh printed: ping worked, the TCP
 * transfer of `bytes` arrived with the same SHA-256, every counter of our two
 * ports equals the kernel's counter on the other end of its wire, and every
 * frame one port received either left on the other or was counted as dropped.
 * (Under emulation a TCP burst can find the TX ring full; fwd drops and counts
 * such frames, as ixy does, and TCP retransmits them.)
 */
export function checkForwardOutput(out: string, bytes: number): void {
  assert.equal(field(out, "PING_OK"), "1", "ping A -> B through our forwarder");
  const source = JSON.parse(field(out, "SOURCE_RESULT"));
  const sink = JSON.parse(field(out, "SINK_RESULT"));
  assert.equal(sink.bytes, bytes);
  assert.equal(sink.sha256, source.sha256, "TCP data arrived unchanged");
  const [aRx0, aTx0] = numbers(field(out, "A_BEFORE"));
  const [aRx1, aTx1] = numbers(field(out, "A_AFTER"));
  const [bRx0, bTx0] = numbers(field(out, "B_BEFORE"));
  const [bRx1, bTx1] = numbers(field(out, "B_AFTER"));
  const m = /rx (\d+) tx (\d+); \S+ rx (\d+) tx (\d+); dropped (\d+) \+ (\d+)/.exec(
    field(out, "FWD_FINAL"),
  );
  assert.ok(m, out);
  const [xRx, xTx, yRx, yTx, dropXY, dropYX] = m.slice(1).map(Number);
  assert.equal(xRx, aTx1 - aTx0, "X received what A sent");
  assert.equal(xTx, aRx1 - aRx0, "A received what X sent");
  assert.equal(yTx, bRx1 - bRx0, "B received what Y sent");
  assert.equal(yRx, bTx1 - bTx0, "Y received what B sent");
  assert.equal(yTx + dropXY, xRx, "what X received left on Y or was counted as dropped");
  assert.equal(xTx + dropYX, yRx, "what Y received left on X or was counted as dropped");
  // A TCP transfer needs at least one full-size frame per 1448 bytes.
  assert.ok(xRx > bytes / 1448, `a ${bytes}-byte transfer needs more than ${xRx} frames`);
}
