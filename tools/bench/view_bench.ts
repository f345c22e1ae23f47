/**
 * Does the ring viewer slow the driver? The viewer's application
 * (tools/view/app_worker.ts) runs at full speed with 512-descriptor rings,
 * batch 32: with `instant` (default) the benchmarks' forwarding loop on two
 * instant 82599s (tools/bench/instant_ixgbe.ts: the driver's cost only);
 * with `sim` pktgen on port 0 of the software 82599 and a forwarder on port
 * 1 that sends every frame back. We count the frames port 1 sends per second,
 * alternating phases without a page and with one listening (an event-stream
 * client in this thread, so the server snapshots the rings 10 times a second,
 * as for a page), interleaved, so that other load on the machine hits both.
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
import { CTRL, RATE, RATE_WORDS } from "../view/protocol.ts";
import { makeScenario } from "./scenarios.ts";

let nic = "instant";
let rounds = 5;
let phase = 6;
let view!: Awaited<ReturnType<typeof startView>>;
// Bad arguments, or a viewer that cannot start, end in one line (runApp).
await runApp(async () => {
  const { positionals } = parseArgs({ args: Deno.args, allowPositionals: true, options: {} });
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
const bare: number[] = [];

/** Packets per second of the bare scenario over one phase (the viewer's app paused). */
async function measureBare(): Promise<number> {
  Atomics.store(ctrl, CTRL.PAUSE, 1);
  while (Atomics.load(ctrl, CTRL.PAUSED) !== 1) await sleep(10);
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < phase * 1000) {
    for (let k = 0; k < 256; k++) n += bareScenario!.step();
  }
  const rate = n / ((performance.now() - start) / 1000);
  Atomics.store(ctrl, CTRL.PAUSE, 0);
  Atomics.notify(ctrl, CTRL.PAUSE);
  return rate;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Port 1's forwarded frames per second, averaged over the phase's samples after the first. */
async function measure(): Promise<number> {
  const w = 1 * RATE_WORDS;
  const seen: number[] = [];
  let last = rates[w + RATE.SAMPLE];
  const end = Date.now() + phase * 1000;
  while (Date.now() < end) {
    await sleep(100);
    if (rates[w + RATE.SAMPLE] !== last) {
      last = rates[w + RATE.SAMPLE];
      seen.push(rates[w + RATE.TX_PPS]);
    }
  }
  // The first second straddles the phase change; keep it only if it is all we have.
  const use = seen.length > 1 ? seen.slice(1) : seen;
  return use.length > 0 ? use.reduce((a, b) => a + b, 0) / use.length : NaN;
}

const off: number[] = [];
const on: number[] = [];
await sleep(2000); // warm up
/** Measures one phase with a page listening (an event-stream client). */
async function withPage(): Promise<{ rate: number; snaps: number; ms: number; bytes: number }> {
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
    `round ${k + 1}: without a page ${(off[k] / 1e3).toFixed(1)} kpps, with a page ` +
      `${(on[k] / 1e3).toFixed(1)} kpps (${page.snaps} snapshots, ${
        (page.ms / page.snaps).toFixed(2)
      } ms each, ${page.bytes} bytes streamed)` +
      (bareScenario ? `; no viewer at all ${(bare[k] / 1e3).toFixed(1)} kpps` : ""),
  );
}
// Rounds where a phase had no sample (NaN) are left out of the summary.
const valid = off.map((_, k) => [off[k], on[k], bare[k] ?? 0].every((v) => !Number.isNaN(v)));
const keep = (a: number[]) => a.filter((_, k) => valid[k]);
const mean = (a: number[]) => keep(a).reduce((x, y) => x + y, 0) / keep(a).length;
const median = (a: number[]) => {
  const s = keep(a).sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)} %`;
console.log(
  `mean forwarded: without a page ${(mean(off) / 1e3).toFixed(1)} kpps, with a page ` +
    `${(mean(on) / 1e3).toFixed(1)} kpps (${pct(100 * (mean(on) - mean(off)) / mean(off))}); ` +
    `median of the per-round differences ${
      pct(median(on.map((v, k) => 100 * (v - off[k]) / off[k])))
    }` +
    (bareScenario
      ? `; no viewer at all ${(mean(bare) / 1e3).toFixed(1)} kpps (with a page ${
        pct(100 * (mean(on) - mean(bare)) / mean(bare))
      }, median per round ${pct(median(on.map((v, k) => 100 * (v - bare[k]) / bare[k])))})`
      : ""),
);
await view.close();
