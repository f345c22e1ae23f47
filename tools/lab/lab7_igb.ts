/**
 * Lab 7 checker: the student's port of the ixgbe receive path to the 82576,
 * checked on QEMU's igb model in the lab VM with the Linux kernel as the
 * sender — two referees we did not write. Boots the VM with two 82576 on one
 * hub: ours (the student's ring on queue 0, brought up by the project's igb
 * driver) and the kernel's (its own igb driver). The checks themselves run in
 * the guest (lab7_guest.ts); here their results are collected, and QEMU's
 * guest-error log (`-d guest_errors,unimp`) must stay empty.
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

/** Lab 7: from the 82599 to the 82576. */
export const lab7: Lab = {
  number: 7,
  title: "From the 82599 to the 82576: the receive path on QEMU's igb (lab VM)",
  reference: "drivers/igb/rx.ts",
  functions: ["configureRxQueue", "startRxQueue", "rxBatch"],
  bootsVm: true,
  async run(_impl, list, options) {
    // The host has loaded the file (it exports the functions); the guest runs it.
    const implPath = options.implPath ?? ROOT + lab7.reference;
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
    await requireQemu({ min: "8.0", why: "lab 7 (-device igb, the Intel 82576)" });
    const models: NicModel[] = ["igb", "igb"];
    list.note("booting the lab VM with two 82576 (QEMU's igb): this takes about a minute");
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
          timeoutSeconds: 600,
          env: {
            LAB7_IMPL: implPath,
            OURS: vmNicAddress(0, models),
            PEER: vmNicAddress(1, models),
          },
        },
      );
      const line = /^LAB7_RESULTS=(.*)$/m.exec(result.output);
      if (line === null) {
        const tail = result.output.trim().split("\n").slice(-15).join("\n        ");
        await list.check("the checker ran in the lab VM", () => {
          must(false, `it stopped early (exit ${result.code}):\n        ${tail}`);
        });
        return;
      }
      for (const r of JSON.parse(line[1]) as RequirementResult[]) {
        await list.check(r.name, () => must(r.ok, r.reason));
      }
      await list.check("QEMU's igb model logged no guest error (-d guest_errors,unimp)", () => {
        const errors = readQemuLog(qemuLog);
        must(
          errors.length === 0,
          `QEMU logged ${errors.length} line(s); the first: ${errors[0]}`,
        );
      });
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
};
