/**
 * Lab-VM test of `deno task lab 1 --vm` and `deno task lab 2 --vm`
 * (tools/lab/vm.ts): in one boot of the lab VM, the reference solutions of
 * labs 1 and 2 must pass every requirement on the real (emulated) PCI
 * devices and real hugepages, and wrong solutions from tests/fixtures/labs/
 * must fail exactly the requirements that name their mistake, with the
 * referee's value in the message. Needs root on the host (QEMU); see
 * tools/vm/README.md.
 */

import assert from "node:assert/strict";
import { runLabsInVm, type VmLabRun } from "../../tools/lab/vm.ts";

const FIXTURES = new URL("../fixtures/labs/", import.meta.url).pathname;

/** A lab file and the requirements it must fail: [substring of the name, of the message]. */
interface Case {
  lab: number;
  file?: string;
  fails: [requirement: string, message: string][];
}

const CASES: Case[] = [
  { lab: 1, fails: [] },
  { lab: 1, file: "lab1_vendor_big_endian.ts", fails: [["vendor ID", "expected 0x8086"]] },
  // Bit 1 (Memory Space) instead of 2: set on the bridges, whose Bus Master is clear.
  { lab: 1, file: "lab1_bus_master_bit1.ts", fails: [["Bus Master", "expected false"]] },
  { lab: 2, fails: [] },
  {
    lab: 2,
    file: "lab2_phys_keeps_flags.ts",
    fails: [["physAddr translates real hugepages", "bits 55-63 are flags"]],
  },
  {
    lab: 2,
    file: "lab2_pool_contiguous.ts",
    fails: [["createMempool on real hugepages", "Real hugepages are not physically adjacent"]],
  },
];

Deno.test("lab VM: labs 1 and 2 --vm accept the references and name the fixtures' mistakes", async (t) => {
  const runs: VmLabRun[] = CASES.map((c) => ({
    lab: c.lab,
    impl: c.file === undefined ? undefined : FIXTURES + c.file,
  }));
  // trustImports: the fixtures wrap the reference on purpose (tests/sim/lab_sandbox_test.ts
  // checks that a student's file may not).
  const lists = await runLabsInVm(runs, { limitMs: 60_000, trustImports: true });
  for (const [i, c] of CASES.entries()) {
    await t.step(`lab ${c.lab}: ${c.file ?? "reference"}`, () => {
      const results = lists[i].results;
      const shown = results.map((r) => `${r.ok ? "PASS" : "FAIL"} ${r.name}: ${r.reason}`)
        .join("\n");
      assert.equal(results.length, c.lab === 1 ? 6 : 5, shown);
      const failed = results.filter((r) => !r.ok);
      assert.equal(failed.length, c.fails.length, `expected ${c.fails.length} failures:\n${shown}`);
      for (const [name, message] of c.fails) {
        const r = failed.find((f) => f.name.includes(name));
        assert.ok(r, `"${name}" should fail:\n${shown}`);
        assert.ok(r.reason.includes(message), `"${name}" should say "${message}":\n${shown}`);
      }
    });
  }
});
