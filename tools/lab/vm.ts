/**
 * The host half of `deno task lab <n> --vm` (labs 1 and 2): boots the lab VM
 * (tools/vm), runs vm_guest.ts in it as root, which checks the lab file on a
 * real (emulated) PCI device and on real hugepages (lab1_vm.ts, lab2_vm.ts),
 * and records the requirements it reports, as they come, in a
 * {@link Checklist} per lab file. One boot can check several lab files
 * (the tests do); a boot takes about a minute under emulation.
 *
 * @module
 */

import { dirname } from "node:path";
import { IxyError } from "../../src/error.ts";
import { runInVm, VmError } from "../vm/mod.ts";
import { checkGuestVisible, shellQuote } from "../vm/run_dir.ts";
import { Checklist } from "./checklist.ts";
import { checkLabFile } from "./mod.ts";
import { findLab, VM_LAB_LIST } from "./labs.ts";
import { type GuestReport, type GuestRequest, REPORT_MARKER } from "./vm_guest.ts";
import { VM_LAB1_EXTRA_DEVICE } from "./lab1_vm.ts";

/** The labs with a lab-VM step. */
export const VM_LABS: readonly number[] = VM_LAB_LIST.map((l) => l.number);

/** The repository root (tools/lab/ is two levels down). */
const ROOT = new URL("../../", import.meta.url).pathname;

/** One lab file to check in the VM. */
export interface VmLabRun {
  /** The lab (1 or 2). */
  lab: number;
  /** The lab file (default: the reference solution). */
  impl?: string;
  /** Where its results go (default: a silent one). */
  list?: Checklist;
}

/** Options of {@link runLabsInVm}. */
export interface VmLabOptions {
  /** Time limit of one call of a lab function in milliseconds (default: mod.ts's). */
  limitMs?: number;
  /** Progress of the VM's setup (kernel download, initramfs). */
  log?: (message: string) => void;
  /** Seconds before the VM is stopped (default 600). */
  timeoutSeconds?: number;
  /**
   * Tests only (no command-line flag): skip the import check of the lab files,
   * whose planted mistakes wrap the reference on purpose (see runLab's).
   */
  trustImports?: boolean;
}

/**
 * Checks each lab file of `runs` in one boot of the lab VM; returns, per run,
 * its checklist. Throws an {@link IxyError} that says what to do when a lab
 * file cannot be loaded, the VM cannot boot (what to install), or the guest
 * fails.
 */
export async function runLabsInVm(
  runs: readonly VmLabRun[],
  options: VmLabOptions = {},
): Promise<Checklist[]> {
  const lists = runs.map((r) => r.list ?? new Checklist());
  const request: GuestRequest = { runs: [], limitMs: options.limitMs };
  for (const run of runs) {
    const lab = findLab(run.lab, true);
    if (lab === undefined) {
      throw new IxyError(
        `Lab ${run.lab} has no lab-VM step: only labs ${VM_LABS.join(" and ")} have one ` +
          `(the VM has no 82599). Run it without --vm.`,
      );
    }
    const given = run.impl ?? ROOT + lab.reference;
    const impl = given.startsWith("/") ? given : `${Deno.cwd()}/${given}`;
    // A clear error now, not after a minute of booting; the reference is not checked.
    if (run.impl !== undefined) await checkLabFile(run.lab, given, options.trustImports);
    try {
      checkGuestVisible(dirname(Deno.realPathSync(impl)));
    } catch (e) {
      throw new IxyError(`Cannot check ${given} in the lab VM: ${(e as Error).message}`);
    }
    request.runs.push({ lab: run.lab, impl: Deno.realPathSync(impl) });
  }

  // Report lines arrive in chunks; record each result as soon as its line is complete.
  const done = new Set<number>();
  const errors = new Map<number, string>();
  let pending = "";
  const other: string[] = [];
  const onLine = (line: string) => {
    if (!line.startsWith(REPORT_MARKER)) return void other.push(line);
    const r = JSON.parse(line.slice(REPORT_MARKER.length)) as GuestReport;
    if (r.type === "result") lists[r.run].record(r.result);
    else if (r.type === "note") lists[r.run].note(r.line);
    else if (r.type === "done") done.add(r.run);
    else errors.set(r.run, r.message);
  };
  const decoder = new TextDecoder();
  const command = `$IXY_DENO run -A --no-check ${shellQuote(`${ROOT}tools/lab/vm_guest.ts`)} ` +
    shellQuote(JSON.stringify(request));
  let code: number;
  options.log?.("Booting the lab VM (about 30 s on an idle machine; QEMU without KVM)");
  try {
    ({ code } = await runInVm(command, {
      nics: 1,
      extraDevices: [VM_LAB1_EXTRA_DEVICE],
      timeoutSeconds: options.timeoutSeconds ?? 600,
      log: options.log,
      onOutput: (chunk) => {
        const lines = (pending + decoder.decode(chunk, { stream: true })).split("\n");
        pending = lines.pop()!;
        for (const line of lines) onLine(line.replace(/\r$/, ""));
      },
    }));
  } catch (e) {
    if (e instanceof VmError) throw new IxyError(e.message); // says what to install or fix
    throw e;
  }
  if (pending !== "") onLine(pending);
  for (const [run, message] of errors) {
    throw new IxyError(`${request.runs[run].impl}: ${message}`);
  }
  if (code !== 0 || done.size !== runs.length) {
    throw new IxyError(
      `The lab checker in the VM stopped early (exit code ${code}). Its output:\n` +
        other.slice(-30).join("\n"),
    );
  }
  return lists;
}
