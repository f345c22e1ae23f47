/**
 * A short run of the seeded fuzzer (tools/fuzz/, `deno task fuzz`): a device
 * that lies to each driver, in the ways its descriptor format allows. The
 * long run (10 M packets per driver) is on demand; its figures are in
 * docs/performance.md.
 */
import assert from "node:assert/strict";
import { FUZZ_DRIVERS, runFuzz } from "../../tools/fuzz/fuzz.ts";

for (const driver of FUZZ_DRIVERS) {
  Deno.test(`fuzz ${driver}: no escape, every detectable fault counted, no leak`, () => {
    for (const seed of [1, 0xdecafbad]) {
      const r = runFuzz({ driver, seed, packets: 60_000 });
      assert.deepEqual(r.problems, [], `seed ${seed}`);
      assert.ok(r.detectable > 1000 && r.benign > 100, `seed ${seed}: faults were injected`);
      assert.equal(r.caught, r.detectable);
      assert.ok(r.badTxSizes > 0 && r.delivered > 40_000);
    }
  });
}
