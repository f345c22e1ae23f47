/**
 * A driver must run as long as traffic flows without its optimised code
 * being thrown away. `deno task bench` runs 12 M packets; here every driver
 * forward 40 M (2.4 GB of 60-byte frames: past 2^31, where a byte counter
 * kept in an object field stops being a small integer and every function
 * using the object deoptimises) under `deno task bench:latency`, which
 * counts GCs and deoptimisations inside its timed window.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Latency } from "../../tools/bench/latency.ts";
import { DRIVERS } from "../../tools/bench/scenarios.ts";

Deno.test("40 M forwarded packets: no deoptimisation and no GC in steady state (every driver)", async () => {
  const out = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const run = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../tools/bench/latency.ts", import.meta.url).pathname,
        "--packets",
        "40000000",
        "--out",
        out,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
    assert.ok(run.success, text);
    const rows = JSON.parse(Deno.readTextFileSync(out)) as Latency[];
    assert.deepEqual(rows.map((r) => r.driver).sort(), [...DRIVERS].sort());
    for (const r of rows) {
      assert.equal(r.deopts, 0, `${r.driver}: ${r.deopts} deoptimisations in the window\n${text}`);
      assert.equal(r.gcs, 0, `${r.driver}: ${r.gcs} GCs in the window\n${text}`);
      // The control loop is the machine's tail only if it allocates nothing itself.
      assert.equal(r.clockGcs, 0, `${r.driver}: ${r.clockGcs} GCs in the control loop\n${text}`);
    }
  } finally {
    Deno.removeSync(out);
  }
});

Deno.test("bench:latency's timing loop allocates nothing even before V8 optimises it", async () => {
  // With V8's optimising tiers off, every double lives in a heap number: a
  // timing loop that computes with doubles allocates one per iteration, and
  // a window that begins before V8 has optimised the loop counts those GCs
  // as the driver's (it happened under load).
  const run = await new Deno.Command("stdbuf", {
    args: [
      "-oL",
      Deno.execPath(),
      "run",
      "-A",
      // A 1 MiB young generation: a few bytes per iteration show as a GC.
      "--v8-flags=--trace-gc,--expose-gc,--no-maglev,--no-turbofan,--max-semi-space-size=1",
      new URL("../../tools/bench/latency.ts", import.meta.url).pathname,
      "--child",
      "ixgbe",
      "--batch",
      "32",
      "--packets",
      "2000000",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(run.stdout);
  assert.ok(run.success, text + new TextDecoder().decode(run.stderr));
  const lines = text.split("\n");
  const window = lines.slice(
    lines.indexOf("=== LATENCY WINDOW BEGIN ==="),
    lines.indexOf("=== LATENCY WINDOW END ==="),
  );
  assert.ok(window.length > 0, text);
  const gcs = window.filter((l) => / (Scavenge|Mark-Compact|Minor Mark)/.test(l));
  assert.deepEqual(gcs, [], "GCs inside the window of unoptimised code");
});
