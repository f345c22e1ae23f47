/**
 * The lab 7 checker (`deno task lab 7`, QEMU's igb in the lab VM, the
 * kernel's igb as the sender) accepts its reference — the igb driver's own
 * drivers/igb/rx.ts — and rejects copies of that file with one line broken:
 * RDT written with the next index instead of the last descriptor refilled
 * (the classic off-by-one, which the 82576 reads as "ring empty"), and no
 * DD check — and accepts a copy that reads the status word with
 * `Atomics.load` instead of the reference's plain load. Four boots of the lab
 * VM (about a minute each here); needs QEMU 8.0 or newer.
 */

import assert from "node:assert/strict";
import { Checklist, runLab } from "../../tools/lab/mod.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("lab 7 checker accepts drivers/igb/rx.ts, the driver's own receive ring", async () => {
  const list = new Checklist();
  await runLab(7, list);
  const failed = list.results.filter((r) => !r.ok);
  assert.deepEqual(failed, [], JSON.stringify(failed, null, 1));
  assert.ok(list.results.length >= 8, JSON.stringify(list.results.map((r) => r.name)));
  assert.ok(list.results.some((r) => r.name.includes("guest error")));
});

/** Broken copies of drivers/igb/rx.ts: the line, its replacement, requirements that must fail. */
const BROKEN: { what: string; line: string; broken: string; fails: string[] }[] = [
  {
    what: "RDT set one too far (the next index, not the last refilled)",
    line: "q.regs.write32(IGB_RDT(q.queueId), last);",
    broken: "q.regs.write32(IGB_RDT(q.queueId), index);",
    fails: ["last descriptor it refilled", "gives every descriptor back"],
  },
  {
    what: "no DD check",
    line: "if ((status & IGB_RXDADV_STAT.DD) === 0) break;",
    broken: "void IGB_RXDADV_STAT;",
    fails: ["nothing has arrived"],
  },
];

/**
 * Runs the checker on a copy of drivers/igb/rx.ts with `line` (there once)
 * replaced by `replacement`. A copy of src/ and drivers/ keeps rx.ts's
 * relative imports working. The lab VM sees the host's files but has a /tmp
 * of its own: the copy goes into the repository (a dot directory, removed at
 * the end).
 */
async function runOnCopy(line: string, replacement: string): Promise<Checklist> {
  const copy = Deno.makeTempDirSync({ dir: ROOT, prefix: ".lab7_copy_" });
  try {
    for (const part of ["src", "drivers"]) {
      const cp = await new Deno.Command("cp", { args: ["-r", ROOT + part, copy] }).output();
      assert.equal(cp.code, 0, `copying ${part}`);
    }
    const file = `${copy}/drivers/igb/rx.ts`;
    const text = Deno.readTextFileSync(file);
    assert.equal(text.split(line).length, 2, `drivers/igb/rx.ts must contain "${line}" once`);
    Deno.writeTextFileSync(file, text.replace(line, replacement));
    const list = new Checklist();
    await runLab(7, list, { impl: file });
    return list;
  } finally {
    Deno.removeSync(copy, { recursive: true });
  }
}

// The reference reads the status word with a plain load (as drivers/ixgbe/rx.ts,
// which says why that is enough); lab 4 taught Atomics.load. Both are right.
Deno.test("lab 7 checker accepts rx.ts reading the status word with Atomics.load", async () => {
  const list = await runOnCopy(
    "const status = desc[w + RXD.WB_STATUS_ERROR];",
    "const status = Atomics.load(desc, w + RXD.WB_STATUS_ERROR);",
  );
  const failed = list.results.filter((r) => !r.ok);
  assert.deepEqual(failed, [], JSON.stringify(failed, null, 1));
  assert.ok(list.results.length >= 8, JSON.stringify(list.results.map((r) => r.name)));
});

for (const b of BROKEN) {
  Deno.test(`lab 7 checker rejects rx.ts with ${b.what}`, async () => {
    const list = await runOnCopy(b.line, b.broken);
    const failed = list.results.filter((r) => !r.ok).map((r) => r.name);
    for (const requirement of b.fails) {
      assert.ok(
        failed.some((name) => name.includes(requirement)),
        `expected "${requirement}" to fail; failed: ${failed.join(" | ")}`,
      );
    }
    const passed = list.results.filter((r) => r.ok).map((r) => r.name);
    assert.ok(passed.some((name) => name.startsWith("configureRxQueue")), passed.join(" | "));
  });
}
