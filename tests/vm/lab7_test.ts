/**
 * The lab 7 checker (QEMU's igb in the lab VM, the kernel's igb as the
 * sender), in one boot of the lab VM: it accepts its reference — the igb
 * driver's own drivers/igb/rx.ts — and a correct solution written otherwise
 * (tests/fixtures/labs/lab7_correct.ts), and rejects each planted mistake of
 * tests/fixtures/labs/lab7_*.ts with the requirement that names it: the
 * 82599's tail register or RXE bit in the ring, no wait for RXDCTL.ENABLE
 * to read 0, the 82599's DROP_EN bit, RDT written before the queue runs.
 * QEMU's guest-error log stays empty through all of them. About five
 * minutes here; needs QEMU 8.0 or newer.
 */

import assert from "node:assert/strict";
import { runLab7InVm } from "../../tools/lab/lab7_igb.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FIXTURES = new URL("../fixtures/labs/", import.meta.url).pathname;

/**
 * A lab file; the requirements it must fail (substrings of their names) and
 * may fail (a consequence the model may or may not show); all others pass.
 */
interface Case {
  file?: string;
  fails: string[];
  mayFail?: string[];
}

const CASES: Case[] = [
  { fails: [] },
  { file: "lab7_correct.ts", fails: [] },
  // The tail write goes to a register the 82576 does not read as RDT: after
  // the first ring's worth of frames the queue has no descriptor left.
  { file: "lab7_ixgbe_tail.ts", fails: ["newRxQueue", "2000 frames", "counts agree"] },
  { file: "lab7_ixgbe_rxe.ts", fails: ["newRxQueue"] },
  { file: "lab7_no_disable_poll.ts", fails: ["RXDCTL.ENABLE polled to 0"] },
  { file: "lab7_ixgbe_drop_en.ts", fails: ["SRRCTL"] },
  // A real 82576 may drop a tail written to a disabled queue; QEMU's keeps it.
  {
    file: "lab7_rdt_before_enable.ts",
    fails: ["startRxQueue"],
    mayFail: ["one frame", "2000 frames", "counts agree"],
  },
];

Deno.test("lab 7 checker: the reference and a correct file pass, each planted mistake fails", async (t) => {
  const paths = CASES.map((c) =>
    c.file === undefined ? ROOT + "drivers/igb/rx.ts" : FIXTURES + c.file
  );
  const run = await runLab7InVm(paths);
  for (const [i, c] of CASES.entries()) {
    await t.step(c.file ?? "drivers/igb/rx.ts (reference)", () => {
      const results = run.perFile[i];
      const shown = results.map((r) => `${r.ok ? "PASS" : "FAIL"} ${r.name}: ${r.reason}`)
        .join("\n");
      assert.equal(results.length, 7, shown);
      for (const r of results) {
        const must = c.fails.some((f) => r.name.includes(f));
        const may = (c.mayFail ?? []).some((f) => r.name.includes(f));
        if (must) assert.ok(!r.ok, `"${r.name}" should fail:\n${shown}`);
        else if (!may) assert.ok(r.ok, `"${r.name}" should pass:\n${shown}`);
      }
      for (const f of c.fails) {
        assert.ok(results.some((r) => r.name.includes(f)), `no requirement "${f}":\n${shown}`);
      }
    });
  }
  assert.ok(run.qemuLog.ok, run.qemuLog.reason);
});
