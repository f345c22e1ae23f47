/**
 * Does the ring viewer slow the driver? The viewer's application
 * (tools/view/app_worker.ts) runs at full speed with 512-descriptor rings,
 * batch 32: with `instant` (default) the benchmarks' forwarding step
 * (tools/bench/scenarios.ts `fwdScenario` on two instant 82599s: the
 * driver's cost only); with `sim` pktgen on port 0 of the software 82599 and
 * a forwarder on port 1 that sends every frame back. We count the frames port
 * 1 sends per second, alternating phases without a page and with one
 * listening (an event-stream client in this thread, so the server snapshots
 * the rings 10 times a second, as for a page), interleaved, so that other
 * load on the machine hits both. With `instant`, a third phase per round:
 * **no viewer at all**, the same step in this thread with the viewer's
 * application paused.
 *
 * Each rate is printed twice: per second, and per second the forwarding
 * thread was on a CPU (Linux's schedstat). On a machine that other processes
 * load, the first mostly measures how much of a core the thread got; the
 * second what the loop costs.
 *
 *     deno task bench:view [instant|sim] [rounds] [seconds per phase]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { IxyError } from "../../src/error.ts";
import { runApp } from "../lib/app.ts";
import { intOption } from "../lib/cli.ts";
import { startView } from "../view/server.ts";
import { CTRL, RATE, RATE_WORDS, threadCpuNs } from "../view/protocol.ts";
import { makeScenario } from "./scenarios.ts";

const HELP = `Usage: deno task bench:view [instant|sim|<pci>] [rounds] [seconds per phase]

Does the ring viewer (deno task view) slow the driver? Forwards at full speed
(512-descriptor rings, batch 32) and counts frames per second, alternating
phases without a page and with one listening (and, with instant, with no
viewer at all), per second of wall-clock time and per second on a CPU.

Arguments:
  instant|sim|<pci>   the benchmarks' instant 82599s (default), the software
                      82599, or a NIC at a PCI address
  rounds              rounds of phases, 1 to 1000 (default 5)
  seconds per phase   1 to 600 (default 6)
  -h, --help          show this help

Example: deno task bench:view instant 3 2`;

let nic = "instant";
let rounds = 5;
let phase = 6;
let view!: Awaited<ReturnType<typeof startView>>;
// Bad arguments, or a viewer that cannot start, end in one line (runApp).
await runApp(async () => {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { help: { type: "boolean", short: "h", default: false } },
  });
  if (values.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  if (positionals.length > 3) {
    throw new IxyError(
      "Usage: deno task bench:view [instant|sim|<pci>] [rounds] [seconds per phase]",
    );
  }
  nic = positionals[0] ?? nic;
  rounds = intOption("rounds", positionals[1] ?? String(rounds), { min: 1, max: 1000 });
  phase = intOption("seconds per phase", positionals[2] ?? String(phase), { min: 1, max: 600 });
  view = await startView({ nic, port: 0, ringSize: 512, batch: 32 });
});
const rates = new Float64Array(view.init.rates);
const ctrl = new Int32Array(view.init.ctrl);
// With instant devices, a third phase: the viewer's application paused, the
// benchmarks' own forwarding scenario (tools/bench/scenarios.ts, the same
// loop without any viewer) in this thread.
const bareScenario = nic === "instant" ? makeScenario("ixgbe", "fwd", 32) : undefined;

/** One phase's rate: packets per second of wall-clock time, and per second on a CPU. */
interface Rate {
  wall: number;
  cpu: number;
}

/**
 * Runs the bare scenario for `ms` milliseconds; returns the packets and the
 * seconds this thread spent on a CPU meanwhile. Its own function, so that
 * from the second phase on it starts in optimized code (a loop inside the
 * async measureBare() would be compiled on-stack again at each phase).
 */
function bareFor(ms: number): { n: number; wall: number; cpu: number } {
  const start = performance.now();
  const cpu0 = threadCpuNs();
  let n = 0;
  while (performance.now() - start < ms) {
    for (let k = 0; k < 256; k++) n += bareScenario!.step();
  }
  return { n, wall: (performance.now() - start) / 1000, cpu: (threadCpuNs() - cpu0) / 1e9 };
}

/**
 * Packets per second of the bare scenario over one phase (the viewer's app
 * paused). Like measure(), it leaves out the phase's first second.
 */
async function measureBare(): Promise<Rate> {
  Atomics.store(ctrl, CTRL.PAUSE, 1);
  while (Atomics.load(ctrl, CTRL.PAUSED) !== 1) await sleep(10);
  bareFor(Math.min(1000, (phase - 1) * 1000));
  const r = bareFor(phase === 1 ? 1000 : (phase - 1) * 1000);
  Atomics.store(ctrl, CTRL.PAUSE, 0);
  Atomics.notify(ctrl, CTRL.PAUSE);
  return { wall: r.n / r.wall, cpu: r.n / r.cpu };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Port 1's forwarded frames per second, averaged over the phase's samples
 * after the first, and per second the application's thread was on a CPU.
 */
async function measure(): Promise<Rate> {
  const w = 1 * RATE_WORDS;
  const seen: number[] = [];
  const cpu: number[] = [];
  let last = rates[w + RATE.SAMPLE];
  const end = Date.now() + phase * 1000;
  while (Date.now() < end) {
    await sleep(100);
    if (rates[w + RATE.SAMPLE] !== last) {
      last = rates[w + RATE.SAMPLE];
      seen.push(rates[w + RATE.TX_PPS]);
      cpu.push(rates[w + RATE.CPU]);
    }
  }
  // The first second straddles the phase change; keep it only if it is all we have.
  const from = seen.length > 1 ? 1 : 0;
  const sum = (a: number[]) => a.slice(from).reduce((x, y) => x + y, 0);
  const n = seen.length - from;
  return n > 0 ? { wall: sum(seen) / n, cpu: sum(seen) / sum(cpu) } : { wall: NaN, cpu: NaN };
}

const off: Rate[] = [];
const on: Rate[] = [];
const bare: Rate[] = [];
await sleep(2000); // warm up
/** Measures one phase with a page listening (an event-stream client). */
async function withPage(): Promise<{ rate: Rate; snaps: number; ms: number; bytes: number }> {
  const res = await fetch(view.url + "api/events");
  const reader = res.body!.getReader();
  let bytes = 0;
  const reading = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      bytes += value.length;
    }
  })();
  const before = view.snapshots;
  const beforeMs = view.snapshotMs;
  const rate = await measure();
  const snaps = view.snapshots - before;
  const ms = view.snapshotMs - beforeMs;
  await reader.cancel();
  await reading;
  return { rate, snaps, ms, bytes };
}

const kpps = (r: Rate) => `${(r.wall / 1e3).toFixed(0)} (${(r.cpu / 1e3).toFixed(0)})`;
const load = () => Deno.loadavg().map((x) => x.toFixed(1)).join(" ");
console.log(
  `nic ${nic}, ${rounds} rounds × ${phase} s per phase, load average ${load()}; ` +
    `kpps (per CPU-second of the forwarding thread):`,
);
for (let k = 0; k < rounds; k++) {
  // Alternate the order (ABBA), so a drift in the machine's load hits both.
  let page;
  if (k % 2 === 0) {
    off.push(await measure());
    page = await withPage();
  } else {
    page = await withPage();
    off.push(await measure());
  }
  on.push(page.rate);
  if (bareScenario) bare.push(await measureBare());
  console.log(
    `round ${k + 1}: without a page ${kpps(off[k])}, with a page ${kpps(on[k])} ` +
      `(${page.snaps} snapshots, ${(page.ms / page.snaps).toFixed(2)} ms each, ` +
      `${page.bytes} bytes)` + (bareScenario ? `; no viewer at all ${kpps(bare[k])}` : ""),
  );
}
// Rounds where a phase had no sample (NaN) are left out of the summary.
const valid = off.map((_, k) =>
  [off[k], on[k], bare[k] ?? { wall: 0, cpu: 0 }].every((r) => !Number.isNaN(r.wall))
);
const keep = (a: number[]) => a.filter((_, k) => valid[k]);
const mean = (a: number[]) => keep(a).reduce((x, y) => x + y, 0) / keep(a).length;
const median = (a: number[]) => {
  const s = keep(a).sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)} %`;
/** "a vs b": the difference of the means, and the median of the per-round differences. */
const versus = (a: Rate[], b: Rate[], key: keyof Rate) => {
  const x = a.map((r) => r[key]), y = b.map((r) => r[key]);
  return `${pct(100 * (mean(x) - mean(y)) / mean(y))} / median per round ${
    pct(median(x.map((v, k) => 100 * (v - y[k]) / y[k])))
  }`;
};
const means = (a: Rate[]) =>
  kpps({ wall: mean(a.map((r) => r.wall)), cpu: mean(a.map((r) => r.cpu)) });
console.log(`${valid.filter((v) => v).length} valid rounds; load average at the end ${load()}`);
console.log(
  `mean kpps: without a page ${means(off)}, with a page ${means(on)}` +
    (bareScenario ? `, no viewer at all ${means(bare)}` : ""),
);
for (const key of ["wall", "cpu"] as const) {
  const unit = key === "wall" ? "per second" : "per CPU-second";
  console.log(`${unit}: with a page vs without: ${versus(on, off, key)}`);
  if (bareScenario) {
    console.log(`${unit}: without a page vs no viewer at all: ${versus(off, bare, key)}`);
    console.log(`${unit}: with a page vs no viewer at all: ${versus(on, bare, key)}`);
  }
}
await view.close();
