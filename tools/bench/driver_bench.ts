/**
 * `deno task bench`: `deno bench` over the driver hot paths on the instant
 * devices (see scenarios.ts). Each iteration moves 4096 packets, so
 * "time/iter" ÷ 4096 is the time per packet (the `bench:report` task does
 * that division, repeats in separate processes and adds cycles, allocation
 * and deoptimisation checks).
 *
 * @module
 */

import { BATCH_SIZES, DRIVERS, makeScenario, MODES } from "./scenarios.ts";

/** Packets per benchmark iteration. */
const PACKETS_PER_ITER = 4096;

for (const driver of DRIVERS) {
  for (const mode of MODES) {
    for (const batch of BATCH_SIZES) {
      const s = makeScenario(driver, mode, batch);
      Deno.bench({
        name: `${driver} ${mode} batch ${batch} (${PACKETS_PER_ITER} packets)`,
        group: `${driver} ${mode}`,
        baseline: batch === 32,
        fn() {
          let moved = 0;
          while (moved < PACKETS_PER_ITER) moved += s.step();
        },
      });
    }
  }
}
