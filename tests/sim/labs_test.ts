/**
 * The lab checkers (tools/lab/) on the software 82599: each must accept its
 * reference solution and reject the deliberately broken versions in
 * tests/fixtures/labs/, naming the requirements that fail. One test runs the
 * command line for its exit codes and --help.
 */

import assert from "node:assert/strict";
import { Checklist, type LabOptions, runLab } from "../../tools/lab/mod.ts";

const FIXTURES = new URL("../fixtures/labs/", import.meta.url).pathname;

/** Lab, broken fixture, and a requirement (substring of its name) that must fail. */
const BROKEN: [number, string, string][] = [
  [1, "lab1_pci_broken.ts", "vendor ID"],
  [2, "lab2_dma_broken.ts", "its own page"],
  [3, "lab3_tx_broken.ts", "byte for byte"],
  [3, "lab3_tx_noclean_broken.ts", "until the device has sent them"],
  [4, "lab4_rx_broken.ts", "last descriptor it refilled"],
  [5, "lab5_stats_broken.ts", "clear when read"],
  [6, "lab6_loop_broken.ts", "leaks no buffer"],
];

const labOptions = (n: number): LabOptions =>
  n === 6 ? { out: Deno.makeTempFileSync({ suffix: ".svg" }), durationMs: 100 } : {};

for (let n = 1; n <= 6; n++) {
  Deno.test(`lab ${n} checker accepts the reference solution`, async () => {
    const list = new Checklist();
    const options = labOptions(n);
    await runLab(n, list, options);
    const failed = list.results.filter((r) => !r.ok);
    assert.deepEqual(failed, [], JSON.stringify(failed));
    assert.ok(list.results.length >= 4, "a lab checks at least four requirements");
    if (options.out !== undefined) {
      assert.match(Deno.readTextFileSync(options.out), /^<svg .*<polyline/s);
    }
  });
}

for (const [n, file, requirement] of BROKEN) {
  Deno.test(`lab ${n} checker rejects ${file}`, async () => {
    const list = new Checklist();
    await runLab(n, list, { ...labOptions(n), impl: FIXTURES + file });
    assert.equal(list.allMet, false);
    const failed = list.results.filter((r) => !r.ok);
    assert.ok(
      failed.some((r) => r.name.includes(requirement)),
      `expected "${requirement}" to fail; failed: ${failed.map((r) => r.name).join(" | ")}`,
    );
    for (const r of failed) assert.ok(r.reason.length > 0, `no reason given for ${r.name}`);
  });
}

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
  const bad = await run("4", "--impl", FIXTURES + "lab4_rx_broken.ts");
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /FAIL {2}writes RDT once per batch/);
  const missing = await run("3", "--impl", FIXTURES + "lab4_rx_broken.ts");
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
          "q.regs.write32(IXGBE_RDT(q.queueId), last);",
          "q.regs.write32(IXGBE_RDT(q.queueId), index);",
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
