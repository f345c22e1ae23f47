/**
 * Run by tests/sim/bar_alloc_sim_test.ts in a process of its own (with the
 * V8 flags the test picks): reads and writes registers of a running
 * software 82599 through its BAR (tools/sim82599/bar.ts) and prints, as one
 * JSON line, how many bytes the heap grew per access once the code is warm
 * (the least of three rounds).
 *
 * The count is lab 6's (tools/lab/lab6_perf.ts `ProbedDevice`): heap use
 * only grows between garbage collections, so the sum of its rises between
 * samples is (nearly) every byte allocated meanwhile. A sample every 1024
 * accesses costs the probe itself ~0.2 bytes per access.
 *
 * @module
 */

import { createSim82599 } from "../../tools/sim82599/mod.ts";
import { IXGBE_EIMC, IXGBE_LINKS } from "../../drivers/ixgbe/constants.ts";

/** Accesses per measurement. */
const ACCESSES = 100_000;
/** Warm-up rounds (each a read and a write measurement) before the one that counts. */
const WARM_UP = 3;

/** Bytes the heap grew per call of `access` over {@link ACCESSES} calls. */
function bytesPerAccess(access: () => void): number {
  let last = Deno.memoryUsage().heapUsed;
  let grown = 0;
  for (let i = 1; i <= ACCESSES; i++) {
    access();
    if ((i & 1023) === 0) {
      const heap = Deno.memoryUsage().heapUsed;
      if (heap > last) grown += heap - last;
      last = heap;
    }
  }
  return grown / ACCESSES;
}

const sim = await createSim82599({ ports: 1, wiring: "loopback" });
try {
  const regs = sim.ports[0].regs;
  let sink = 0;
  const read = () => {
    sink ^= regs.read32(IXGBE_LINKS);
  };
  // EIMC (8.2.3.5.4): writing 0 masks nothing, a write without side effects.
  const write = () => regs.write32(IXGBE_EIMC, 0);
  for (let r = 0; r < WARM_UP; r++) {
    bytesPerAccess(read);
    bytesPerAccess(write);
  }
  // The fewest bytes of three measured rounds: a real allocation per access
  // (16 bytes or more: a heap number) shows in every round, while a one-off
  // in the window (a late compile under load: 1.86 bytes per access once in
  // CI, Maglev only) does not repeat.
  const least = (access: () => void) =>
    Math.min(bytesPerAccess(access), bytesPerAccess(access), bytesPerAccess(access));
  const result = {
    read: least(read),
    write: least(write),
    violations: sim.violations().length,
    sink,
  };
  console.log(JSON.stringify(result));
} finally {
  sim.stop();
}
