/**
 * `deno task bench:latency`: tail latency of forwarding on the instant
 * devices — how long one `forward()` iteration (rxBatch → touch → txBatch,
 * plus the instant device's own work) takes, not on average but at the 99th,
 * 99.9th and 99.99th percentile and at worst, and how many garbage
 * collections ran meanwhile.
 *
 * Why: the ixy language study found the JavaScript port's weakness not in
 * its mean but in its tail — pauses from the garbage collector. A driver
 * that allocates nothing per packet gives the collector nothing to do; this
 * tool checks that claim over 100 M packets per driver.
 *
 *     deno run -A tools/bench/latency.ts [--drivers ixgbe,virtio] [--batch 32]
 *       [--packets 100000000] [--out FILE]
 *
 * Each driver runs in its own process under V8's `--trace-gc`; the parent
 * counts the collections printed between the window's markers.
 *
 * The clock: each iteration is stamped with one read of CLOCK_MONOTONIC,
 * `clock_gettime` from libc through FFI into a buffer made once
 * (tools/lib/clock.ts `monotonicNs30`: a small integer, so the loop allocates
 * nothing even before V8 has optimised it; the module says why not
 * `performance.now()`); the time between two stamps is one iteration plus
 * one clock read. Two stamps around nothing are ~0.06 µs apart (median).
 *
 * The control: after the driver's window the tool runs as many iterations
 * of a loop that only computes in registers for as long as the driver's
 * median iteration, with the same clock and its GCs counted. Its tail is
 * the machine's — interrupts, other processes, the hypervisor — and the
 * driver's tail is only the driver's where it exceeds the control's.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DRIVERS, makeScenario } from "./scenarios.ts";
import { cpuInfo, load } from "./run.ts";
import { runApp } from "../lib/app.ts";
import { monotonicNs, monotonicNs30, NS30_MASK } from "../lib/clock.ts";
import { v8FlagsArgument } from "../lib/v8_flags.ts";

/**
 * Histogram buckets: each octave [2^e, 2^(e+1)) of ns split into 16 equal
 * parts (3.1-6.25 % wide), from 1 ns to 2^30 ns. The bucket of a duration
 * comes from its bits (the leading one's position and the 4 bits after it):
 * integer operations only, so recording allocates nothing even in code V8
 * has not optimised (where every double is a heap number). A Uint32Array of
 * counts made once.
 */
const PER_OCTAVE = 16;
const BUCKETS = 30 * PER_OCTAVE;

/** The bucket of `ns` (a non-negative integer below 2^30). */
function bucketOf(ns: number): number {
  if (ns < 1) return 0;
  const e = 31 - Math.clz32(ns); // the leading one: 2^e <= ns < 2^(e+1)
  const part = e >= 4 ? (ns >>> (e - 4)) & 15 : (ns << (4 - e)) & 15;
  return e * PER_OCTAVE + part;
}

/** The lowest ns of bucket `b`. */
function bucketLow(b: number): number {
  return 2 ** Math.floor(b / PER_OCTAVE) * (1 + (b % PER_OCTAVE) / PER_OCTAVE);
}

/** The percentiles and maximum of one run, in ns. */
export interface Latency {
  driver: string;
  batch: number;
  packets: number;
  iterations: number;
  p50: number;
  p99: number;
  p999: number;
  p9999: number;
  max: number;
  /** Garbage collections during the timed window (scavenges + mark-compacts). */
  gcs?: number;
  /** Deoptimisations during the timed window (`--trace-deopt` bailouts). */
  deopts?: number;
  /** Iterations that took more than 10× the median. */
  slow: number;
  /**
   * Times the kernel took the CPU away from this thread during the window
   * (involuntary context switches, /proc/thread-self/status): on a busy
   * machine each one is an iteration of a whole time slice, which no driver
   * can avoid; compare with {@link slow}.
   */
  preempted: number;
  /** The control loop's median (ns): iterations as long as the driver's median that only compute. */
  clockNs?: number;
  /** The control loop's p99.9, p99.99 and maximum (ns): the machine's own tail, without a driver. */
  clockTail?: [number, number, number];
  /** Garbage collections while the control loop ran as many iterations (the tool's own). */
  clockGcs?: number;
}

/** A log-scale histogram of durations in ns. */
export class Histogram {
  readonly counts = new Uint32Array(BUCKETS);
  count = 0;
  max = 0;

  /** Records one duration (ns). */
  record(ns: number): void {
    this.counts[bucketOf(ns)]++;
    this.count++;
    // Every call stores (no branch): a store V8 has only seen a few times
    // during warm-up deoptimised the loop when a new maximum came in the
    // window ("insufficient type feedback").
    this.max = Math.max(this.max, ns);
  }

  /** How many durations fell into buckets wholly above `ns`. */
  countAbove(ns: number): number {
    let n = 0;
    for (let b = 0; b < BUCKETS; b++) if (bucketLow(b) > ns) n += this.counts[b];
    return n;
  }

  /** The upper edge (ns) of the bucket holding quantile `q` (0..1). */
  quantile(q: number): number {
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.counts[b];
      if (seen >= rank && seen > 0) return Math.min(this.max, bucketLow(b + 1));
    }
    return this.max;
  }
}

/** Times `step` until `packets` have moved; every iteration goes into `h`. */
function timeIterations(step: () => number, packets: number, h: Histogram): number {
  let moved = 0;
  let iterations = 0;
  // Small integers only (monotonicNs30: a double here would allocate while
  // V8 still runs this loop unoptimised). An iteration over ~1.07 s would
  // wrap; none comes near (the maximum is milliseconds).
  let prev = monotonicNs30();
  while (moved < packets) {
    moved += step();
    const now = monotonicNs30();
    h.record((now - prev) & NS30_MASK);
    prev = now;
    iterations++;
  }
  return iterations;
}

/** Involuntary context switches of this thread so far (Linux). */
function involuntarySwitches(): number {
  const status = Deno.readTextFileSync("/proc/thread-self/status");
  return Number(/nonvoluntary_ctxt_switches:\s*(\d+)/.exec(status)?.[1] ?? NaN);
}

/** `units` rounds of integer arithmetic in registers: a pause that touches no memory. */
function spin(units: number): number {
  let x = 1;
  for (let i = 0; i < units; i++) x = (x * 31 + i) | 0;
  return x;
}

/** How many {@link spin} units last `ns`, measured with the same clock. */
function calibrateSpin(ns: number): number {
  let x = 0;
  for (let i = 0; i < 1000; i++) x ^= spin(1000); // optimise spin
  let best = Infinity;
  for (let r = 0; r < 20; r++) {
    const t0 = monotonicNs();
    x ^= spin(100_000);
    best = Math.min(best, (monotonicNs() - t0) / 100_000);
  }
  if (x === 0.5) console.log(x);
  return Math.max(1, Math.round(ns / best));
}

/** The child: one driver, warm-up, the timed window, the control. */
function child(driver: (typeof DRIVERS)[number], batch: number, packets: number): void {
  const s = makeScenario(driver, "fwd", batch);
  const step = () => s.step();
  // Warm-up as measure.ts: V8 optimises, rings and pools reach steady state.
  const warm = new Histogram();
  for (let i = 0; i < 200; i++) timeIterations(step, 10_000, warm);
  const h = new Histogram();
  // As measure.ts's probe: collect what warm-up and compilation left in the
  // young generation, so a GC in the window is one the packet path caused
  // (without this, virtio's window began with one scavenge of that garbage).
  (globalThis as { gc?: () => void }).gc?.();
  console.log("=== LATENCY WINDOW BEGIN ===");
  const preemptedBefore = involuntarySwitches();
  const iterations = timeIterations(step, packets, h);
  const preempted = involuntarySwitches() - preemptedBefore;
  console.log("=== LATENCY WINDOW END ===");
  // Then the control (after the window, so that timing a second function
  // cannot disturb the driver's code): as many iterations of the same median length that only
  // compute (no memory, no driver), timed by the same clock. Its tail is the
  // machine's (interrupts, other processes, the hypervisor), not ours.
  const units = calibrateSpin(warm.quantile(0.5));
  let sink = 0;
  const control = () => {
    sink ^= spin(units);
    return batch;
  };
  // Warm up and collect as for the driver: with a short warm-up (1000
  // iterations) V8 was still compiling `control` and recompiling
  // `timeIterations` for its second call target inside the window, and the
  // control counted 4-12 GCs that were the compiler's, not the machine's.
  const warmControl = new Histogram();
  for (let i = 0; i < 200; i++) timeIterations(control, 10_000, warmControl);
  (globalThis as { gc?: () => void }).gc?.();
  const clockAlone = new Histogram();
  console.log("=== CLOCK WINDOW BEGIN ===");
  timeIterations(control, packets, clockAlone);
  console.log("=== CLOCK WINDOW END ===");
  if (sink === 0.5) console.log(sink); // keeps the spin from being optimised away
  const problem = s.check();
  if (problem) throw new Error(`${driver} fwd ${batch}: ${problem}`);
  const result: Latency = {
    driver,
    batch,
    packets,
    iterations,
    p50: h.quantile(0.5),
    p99: h.quantile(0.99),
    p999: h.quantile(0.999),
    p9999: h.quantile(0.9999),
    max: h.max,
    clockNs: clockAlone.quantile(0.5),
    clockTail: [clockAlone.quantile(0.999), clockAlone.quantile(0.9999), clockAlone.max],
    slow: h.countAbove(10 * h.quantile(0.5)),
    preempted,
  };
  console.log(JSON.stringify(result));
}

/** Runs the child for `driver` and counts the GC lines inside its window. */
async function measure(driver: string, batch: number, packets: number): Promise<Latency> {
  const out = await new Deno.Command("stdbuf", {
    args: [
      "-oL",
      Deno.execPath(),
      "run",
      "-A",
      v8FlagsArgument("--trace-gc", "--trace-deopt", "--expose-gc"),
      new URL(import.meta.url).pathname,
      "--child",
      driver,
      "--batch",
      String(batch),
      "--packets",
      String(packets),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const lines = new TextDecoder().decode(out.stdout).split("\n");
  if (!out.success) throw new Error(`latency child for ${driver} failed:\n${lines.join("\n")}`);
  const countIn = (name: string, what: RegExp) => {
    const begin = lines.indexOf(`=== ${name} WINDOW BEGIN ===`);
    const end = lines.indexOf(`=== ${name} WINDOW END ===`);
    return lines.slice(begin + 1, end).filter((l) => what.test(l)).length;
  };
  const gcsIn = (name: string) => countIn(name, / (Scavenge|Mark-Compact|Minor Mark)/);
  const result = JSON.parse(lines.findLast((l) => l.startsWith("{"))!) as Latency;
  return {
    ...result,
    gcs: gcsIn("LATENCY"),
    deopts: countIn("LATENCY", /^\[bailout/),
    clockGcs: gcsIn("CLOCK"),
  };
}

const us = (ns: number) => (ns / 1000).toFixed(2);

/** The Markdown table for docs/performance.md. */
export function latencyTable(rows: Latency[]): string {
  const out = [
    "| driver | batch | packets | p50 µs | p99 µs | p99.9 µs | p99.99 µs | max µs | p99.99 / p50 | GCs / deopts | > 10× p50 | preempted | control p50 / p99.9 / p99.99 µs (GCs) |",
    "| ------ | ----: | ------: | -----: | -----: | -------: | --------: | -----: | -----------: | -----------: | --------: | --------: | ------------------------------------: |",
  ];
  for (const r of rows) {
    out.push(
      `| ${r.driver} | ${r.batch} | ${(r.packets / 1e6).toFixed(0)} M | ${us(r.p50)} | ` +
        `${us(r.p99)} | ${us(r.p999)} | ${us(r.p9999)} | ${us(r.max)} | ` +
        `${(r.p9999 / r.p50).toFixed(1)} | ${r.gcs} / ${r.deopts} | ${r.slow} | ${r.preempted} | ` +
        `${us(r.clockNs ?? NaN)} / ${us(r.clockTail![0])} / ${
          us(r.clockTail![1])
        } (${r.clockGcs}) |`,
    );
  }
  return out.join("\n");
}

const HELP = `Usage: deno task bench:latency [options]

Times every forward() iteration on the instant devices, each driver in its own
process under V8's --trace-gc, and prints p50, p99, p99.9, p99.99 and the
maximum, with the garbage collections counted, and a control loop's tail (the
machine's own).

Options:
  --drivers LIST  drivers to measure (default ${DRIVERS.join(",")})
  --batch N       frames per batch, 1 to 256 (default 32)
  --packets N     packets per driver (default 100000000)
  --out FILE      also write the results as JSON
  -h, --help      show this help

Example: deno task bench:latency --drivers ixgbe --packets 2000000`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      drivers: { type: "string", default: DRIVERS.join(",") },
      batch: { type: "string", default: "32" },
      packets: { type: "string", default: "100000000" },
      out: { type: "string" },
      child: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const batch = Number(values.batch);
  const packets = Number(values.packets);
  if (!Number.isInteger(batch) || batch < 1 || batch > 256) {
    console.error(`--batch ${values.batch}: give a whole number from 1 to 256.`);
    Deno.exit(2);
  }
  if (!Number.isInteger(packets) || packets < batch) {
    console.error(`--packets ${values.packets}: give a whole number of at least one batch.`);
    Deno.exit(2);
  }
  const drivers = values.drivers.split(",");
  for (const d of [...drivers, ...(values.child ? [values.child] : [])]) {
    if (!(DRIVERS as readonly string[]).includes(d)) {
      console.error(`Unknown driver ${d}: choose from ${DRIVERS.join(", ")}.`);
      Deno.exit(2);
    }
  }
  if (values.child) {
    child(values.child as (typeof DRIVERS)[number], batch, packets);
    return;
  }
  const { mhz, model } = cpuInfo();
  console.log(`# ${model}, ${mhz} MHz, Deno ${Deno.version.deno}, load ${load()}`);
  const rows: Latency[] = [];
  for (const d of drivers) {
    const r = await measure(d, batch, packets);
    rows.push(r);
    console.log(
      `${d} batch ${batch}: p50 ${us(r.p50)} µs, p99 ${us(r.p99)}, p99.9 ${us(r.p999)}, ` +
        `p99.99 ${us(r.p9999)}, max ${
          us(r.max)
        } µs; ${r.gcs} GCs and ${r.deopts} deopts in ${r.iterations} iterations; ` +
        `${r.slow} over 10× p50, preempted ${r.preempted} times; the control: ` +
        `p99.9 ${us(r.clockTail![0])}, p99.99 ${us(r.clockTail![1])}, max ${
          us(r.clockTail![2])
        } µs`,
    );
  }
  console.log(`\n${latencyTable(rows)}\n# load now ${load()}`);
  if (values.out) Deno.writeTextFileSync(values.out, JSON.stringify(rows, null, 2) + "\n");
}

if (import.meta.main) await runApp(main);
