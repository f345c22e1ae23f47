/**
 * Lab 7 checker: the student's 82576 receive-queue bring-up — the ring's
 * device-specific state (`newRxQueue`), `configureRxQueue` and
 * `startRxQueue` — checked on QEMU's igb model in the lab VM with the Linux
 * kernel as the sender: two referees we did not write. The packet loop is
 * the driver's own (drivers/ixgbe/rx.ts's `rxBatch`, which the igb driver
 * runs): it moves frames only through a queue brought up right. Boots the VM
 * with two 82576 on one hub: ours (the student's queue 0, the rest of the
 * NIC brought up by the project's igb driver) and the kernel's (its own igb
 * driver). The checks themselves run in the guest (lab7_guest.ts); here
 * their results are collected, and QEMU's guest-error log (`-d
 * guest_errors,unimp`) must stay empty.
 *
 * Needs what the lab VM needs (`deno task vm --setup`) and QEMU 8.0 or newer.
 *
 * @module
 */

import { readQemuLog, requireQemu, runInVm, vmNicAddress } from "../vm/mod.ts";
import type { NicModel } from "../vm/mod.ts";
import { IxyError } from "../../src/error.ts";
import { must } from "./checklist.ts";
import type { RequirementResult } from "./checklist.ts";
import type { Lab } from "./lab.ts";

/** The repository root (tools/lab/ is two levels down). */
const ROOT = new URL("../../", import.meta.url).pathname;

/** The functions a lab 7 file exports. */
const FUNCTIONS = ["newRxQueue", "configureRxQueue", "startRxQueue"];

/** The requirement about QEMU's log, judged once per boot. */
export const QEMU_LOG_REQUIREMENT =
  "QEMU's igb model logged no guest error (-d guest_errors,unimp)";

/** What one boot of {@link runLab7InVm} found. */
export interface Lab7Run {
  /** The requirement results of each lab file, in the order given. */
  perFile: RequirementResult[][];
  /** Whether QEMU logged a guest error during the whole boot (all files). */
  qemuLog: RequirementResult;
}

/**
 * Runs lab 7's checks on each of `implPaths` (absolute paths of lab files
 * under the repository) in one boot of the lab VM, one after another, each
 * on a freshly reset NIC.
 */
export async function runLab7InVm(
  implPaths: readonly string[],
  note: (line: string) => void = () => {},
): Promise<Lab7Run> {
  for (const implPath of implPaths) {
    // The guest covers /tmp and /run with file systems of its own and shows
    // again only the directory it runs in (the repository, which may itself
    // be a clone under /tmp): a file elsewhere under them is out of its sight.
    const hidden = ["/tmp/", "/run/"].some((dir) => implPath.startsWith(dir));
    if (hidden && !implPath.startsWith(ROOT)) {
      throw new IxyError(
        `${implPath}: the lab VM has a /tmp of its own (and a /run), where it shows only ` +
          `the repository, so it cannot see this file. ` +
          `Put your lab file in tools/lab/mine/.`,
      );
    }
  }
  await requireQemu({ min: "8.0", why: "lab 7 (-device igb, the Intel 82576)" });
  const models: NicModel[] = ["igb", "igb"];
  note("booting the lab VM with two 82576 (QEMU's igb): this takes about a minute");
  const dir = Deno.makeTempDirSync({ prefix: "ixy-lab7-" });
  try {
    const qemuLog = `${dir}/qemu.log`;
    const result = await runInVm(
      `modprobe igb && $IXY_DENO run -A --no-check ${ROOT}tools/lab/lab7_guest.ts`,
      {
        cwd: ROOT,
        nics: models.length,
        nicModels: models,
        qemuLog,
        timeoutSeconds: 300 + 120 * implPaths.length,
        env: {
          LAB7_IMPLS: JSON.stringify(implPaths),
          OURS: vmNicAddress(0, models),
          PEER: vmNicAddress(1, models),
        },
      },
    );
    const lines = [...result.output.matchAll(/^LAB7_RESULTS=(.*)$/gm)].map((m) => m[1]);
    const tail = result.output.trim().split("\n").slice(-15).join("\n        ");
    const perFile = implPaths.map((_, i): RequirementResult[] =>
      i < lines.length ? JSON.parse(lines[i]) : [{
        name: "the checker ran in the lab VM",
        ok: false,
        reason: `it stopped early (exit ${result.code}):\n        ${tail}`,
      }]
    );
    const errors = readQemuLog(qemuLog);
    const qemuLogResult: RequirementResult = {
      name: QEMU_LOG_REQUIREMENT,
      ok: errors.length === 0,
      reason: errors.length === 0
        ? ""
        : `QEMU logged ${errors.length} line(s); the first: ${errors[0]}`,
    };
    return { perFile, qemuLog: qemuLogResult };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** Lab 7: from the 82599 to the 82576. */
export const lab7: Lab = {
  number: 7,
  title: "From the 82599 to the 82576: the receive queue's bring-up on QEMU's igb (lab VM)",
  reference: "drivers/igb/rx.ts",
  functions: FUNCTIONS,
  bootsVm: true,
  async run(_impl, list, options) {
    // A Worker without permissions has checked the file exports the functions; the guest runs it.
    const implPath = options.implPath ?? ROOT + lab7.reference;
    const run = await runLab7InVm([implPath], (line) => list.note(line));
    for (const r of [...run.perFile[0], run.qemuLog]) {
      await list.check(r.name, () => must(r.ok, r.reason));
    }
  },
};
