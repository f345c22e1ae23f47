/**
 * The lab checkers (tools/lab/) on the software 82599, labs 1-3 (labs 4-6:
 * labs_456_test.ts): each must accept its reference solution (and a second
 * correct solution written differently), and reject every wrong solution in
 * tests/fixtures/labs/ by exactly the requirements listed for it in
 * labs_lib.ts, each with a message that names the mistake. Also the command
 * line's exit codes and --help, and the checks of the driver's own rings.
 */

import assert from "node:assert/strict";
import { Checklist, runLab } from "../../tools/lab/mod.ts";
import { CORRECT, FIXTURES, inParallel, labCheckerTests, labOptions } from "./labs_lib.ts";

for (const n of [1, 2, 3]) labCheckerTests(n);

Deno.test("the checkers accept correct solutions written differently", async () => {
  const failed = await inParallel(CORRECT.map(([n, file]) => async () => {
    const list = new Checklist();
    await runLab(n, list, { ...labOptions(n), impl: FIXTURES + file, trustImports: true });
    return list.results.filter((r) => !r.ok).map((r) => `${file}: ${r.name}: ${r.reason}`);
  }));
  assert.deepEqual(failed.flat(), []);
});

Deno.test("deno task lab: exit codes, one-line errors, --help", async () => {
  const run = async (...args: string[]) => {
    const main = new URL("../../tools/lab/main.ts", import.meta.url).pathname;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  };
  const ok = await run("4");
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /PASS {2}receives one frame/);
  const bad = await run("4", "--impl", FIXTURES + "lab4_rdt_whole_ring.ts");
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /FAIL {2}writes RDT once per batch/);
  const missing = await run("3", "--impl", FIXTURES + "lab4_rdt_whole_ring.ts");
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr.trim().split("\n").length, 1, missing.stderr);
  assert.match(missing.stderr, /does not export function txBatch/);
  const help = await run("--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: deno task lab <n>/);
  const wrong = await run("9");
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^error: Invalid --lab number "9"/);
});

/**
 * The reference of labs 3 and 4 is the driver's own ring code: in a copy of
 * the repository with one line of drivers/ixgbe/rx.ts (or tx.ts) broken,
 * `deno task lab 4` (or 3) — no --impl — fails on the requirement that line
 * serves.
 */
Deno.test("labs 3 and 4 check the driver's own drivers/ixgbe/tx.ts and rx.ts", async (t) => {
  const root = new URL("../../", import.meta.url).pathname;
  const copy = Deno.makeTempDirSync({ prefix: "ixy_labs_ref_" });
  try {
    for (const part of ["deno.json", "src", "drivers", "tools"]) {
      const cp = await new Deno.Command("cp", { args: ["-r", root + part, copy] }).output();
      assert.equal(cp.code, 0, `copying ${part}`);
    }
    /** Replaces `line` (which must occur once) in the copy's `file`. */
    const breakLine = (file: string, line: string, broken: string) => {
      const text = Deno.readTextFileSync(`${copy}/${file}`);
      assert.equal(text.split(line).length, 2, `${file} must contain "${line}" once`);
      Deno.writeTextFileSync(`${copy}/${file}`, text.replace(line, broken));
    };
    const lab = async (n: number) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["task", "lab", String(n)],
        cwd: copy,
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, text: new TextDecoder().decode(out.stdout) };
    };
    await t.step(
      "rx.ts: RDT written with the next index instead of the last refilled",
      async () => {
        breakLine(
          "drivers/ixgbe/rx.ts",
          "q.regs.write32(q.tail, last);",
          "q.regs.write32(q.tail, index);",
        );
        const r = await lab(4);
        assert.equal(r.code, 1, r.text);
        assert.match(r.text, /FAIL {2}writes RDT once per batch/);
      },
    );
    await t.step("tx.ts: the sent buffers are never cleaned", async () => {
      breakLine(
        "drivers/ixgbe/tx.ts",
        "cleanTx(q, Math.min(TX_CLEAN_BATCH, q.size >> 1));",
        "void TX_CLEAN_BATCH;",
      );
      const r = await lab(3);
      assert.equal(r.code, 1, r.text);
      assert.match(r.text, /FAIL {2}sends 3000 frames/);
    });
  } finally {
    Deno.removeSync(copy, { recursive: true });
  }
});

/**
 * Lab 7 runs in the lab VM (tests/vm/lab7_test.ts); what it refuses before
 * booting is checked here: a file without its functions, and a file in /tmp,
 * which the lab VM (with a /tmp of its own) cannot see.
 */
Deno.test("lab 7 refuses, before booting the VM, a file it cannot use", async () => {
  await assert.rejects(
    () => runLab(7, new Checklist(), { impl: FIXTURES + "lab4_no_dd_check.ts" }),
    /does not export function newRxQueue, function configureRxQueue, function startRxQueue/,
  );
  const dir = Deno.makeTempDirSync({ dir: "/tmp" });
  try {
    const file = `${dir}/lab7.ts`;
    Deno.writeTextFileSync(
      file,
      "export function newRxQueue() {}\nexport function configureRxQueue() {}\n" +
        "export function startRxQueue() {}\n",
    );
    await assert.rejects(() => runLab(7, new Checklist(), { impl: file }), /a \/tmp of its own/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
