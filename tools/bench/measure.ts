/**
 * Measures one scenario in this process: warm-up, then timed repetitions.
 * Prints one JSON line. Run by run.ts, one process per scenario, so the JIT
 * state of one benchmark never leaks into another.
 *
 *     deno run -A tools/bench/measure.ts virtio fwd 32
 *     deno run -A --v8-flags=--expose-gc,--trace-gc,--trace-deopt \
 *       tools/bench/measure.ts virtio fwd 32 --probe
 *
 * `--probe` runs the steady-state window once between two markers on stdout
 * (for --trace-gc / --trace-deopt, run with `stdbuf -oL` so V8's lines and
 * ours stay in order) and reports the heap growth over it.
 *
 * @module
 */

import { BATCH_SIZES, DRIVERS, makeScenario, MODES } from "./scenarios.ts";

/** Packets per timed repetition (and per warm-up). */
const PACKETS = 2_000_000;
const REPS = 5;

/** Result of one scenario. */
export interface Measurement {
  driver: string;
  mode: string;
  batch: number;
  /** ns per packet of each repetition. */
  nsPerPacket: number[];
}

/** Probe result: heap growth and GC over a steady-state window. */
export interface Probe {
  driver: string;
  mode: string;
  batch: number;
  packets: number;
  heapBefore: number;
  heapAfter: number;
}

function run(step: () => number, packets: number): number {
  let moved = 0;
  while (moved < packets) moved += step();
  return moved;
}

function main(): void {
  const [driver, mode, batchText] = Deno.args;
  const batch = Number(batchText);
  if (
    !(DRIVERS as readonly string[]).includes(driver) ||
    !(MODES as readonly string[]).includes(mode) ||
    !(BATCH_SIZES as readonly number[]).includes(batch)
  ) {
    throw new Error(`usage: measure.ts virtio|ixgbe fwd|tx ${BATCH_SIZES.join("|")} [--probe]`);
  }
  const s = makeScenario(driver as "virtio", mode as "fwd", batch);
  const step = () => s.step();
  // Warm-up: long enough for V8 to optimise everything (Turbofan) and for
  // the rings and pools to reach their steady state.
  // Several calls, so `run` itself is optimised too (not only entered by
  // on-stack replacement) before anything is measured.
  for (let i = 0; i < 200; i++) run(step, PACKETS / 200);
  if (Deno.args.includes("--probe")) {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc === undefined) throw new Error("--probe needs --v8-flags=--expose-gc");
    const packets = 10_000_000;
    gc();
    console.log("=== PROBE WINDOW BEGIN ===");
    const heapBefore = Deno.memoryUsage().heapUsed;
    const moved = run(step, packets);
    const heapAfter = Deno.memoryUsage().heapUsed;
    console.log("=== PROBE WINDOW END ===");
    const probe: Probe = { driver, mode, batch, packets: moved, heapBefore, heapAfter };
    console.log(JSON.stringify(probe));
    return;
  }
  const nsPerPacket: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const t0 = performance.now();
    const moved = run(step, PACKETS);
    const t1 = performance.now();
    nsPerPacket.push(((t1 - t0) * 1e6) / moved);
  }
  const problem = s.check();
  if (problem) throw new Error(`${driver} ${mode} ${batch}: ${problem}`);
  const m: Measurement = { driver, mode, batch, nsPerPacket };
  console.log(JSON.stringify(m));
}

if (import.meta.main) main();
