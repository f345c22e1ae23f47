/**
 * The software 82599's register path allocates nothing per access: lab 6's
 * allocation probe (tools/lab/lab6_perf.ts) counts every byte the student's
 * loop allocates, and a loop that reads a register per frame (getLinkSpeed)
 * must not be blamed for the model's garbage.
 *
 * Measured in a fresh process per V8 configuration (tests/sim/bar_alloc_probe.ts):
 * by default; with TurboFan off, so Maglev's code is the steady state; and
 * with inlining off, as when the BAR's methods are called from a student's
 * loop too large to inline them into: an object or a double that crosses a
 * call there is allocated on every access.
 */

import assert from "node:assert/strict";

const PROBE = new URL("./bar_alloc_probe.ts", import.meta.url).pathname;

/**
 * Bytes per access tolerated: the probe's own sampling costs ~0.2; the
 * smallest allocation (a heap number) is 16.
 */
const MAX_BYTES_PER_ACCESS = 1;

const CONFIGS: { name: string; v8Flags: string[] }[] = [
  { name: "default tiers", v8Flags: [] },
  { name: "Maglev only", v8Flags: ["--no-turbofan"] },
  { name: "nothing inlined", v8Flags: ["--no-turbo-inlining", "--no-maglev-inlining"] },
];

Deno.test("software 82599: register reads and writes allocate nothing per access", async () => {
  // The three probes run side by side: each counts bytes allocated, which
  // another process's load cannot change (it makes them slower, not fatter).
  const text = new TextDecoder();
  const results = await Promise.all(CONFIGS.map(async ({ name, v8Flags }) => {
    const flags = v8Flags.length > 0 ? [`--v8-flags=${v8Flags.join(",")}`] : [];
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ...flags, PROBE],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, `${name}: ${text.decode(out.stderr)}`);
    const r = JSON.parse(text.decode(out.stdout).trim().split("\n").at(-1)!) as {
      read: number;
      write: number;
      violations: number;
    };
    return { name, ...r };
  }));
  const problems: string[] = [];
  for (const r of results) {
    assert.equal(r.violations, 0, `${r.name}: the probe's accesses broke a datasheet rule`);
    for (const [what, bytes] of [["read32", r.read], ["write32", r.write]] as const) {
      if (bytes > MAX_BYTES_PER_ACCESS) {
        problems.push(`${r.name}: ${what} allocated ${bytes.toFixed(2)} bytes per access`);
      }
    }
  }
  assert.deepEqual(problems, [], JSON.stringify(results));
});
