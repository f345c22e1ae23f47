/**
 * pktgen → software 82599 → fwd, all on the model of tools/sim82599/:
 *
 *     port 0 (our pktgen) --cable--> port 1 --fwd--> port 2 --cable--> port 3 (nobody reads: drops)
 *
 * Both drivers run in this thread, the model in its worker. The model does
 * per frame what the card's DMA engines do (fetch descriptors, copy the
 * frame, write back), through the same shared memory, so its cost dominates:
 * this measures the model, not the driver (compare the instant devices).
 *
 *     deno run -A tools/bench/sim_bench.ts [seconds] [batch]
 *
 * @module
 */

import { IxgbeDevice } from "../../drivers/ixgbe/ixgbe.ts";
import { Mempool, type PktBuf } from "../../src/mempool.ts";
import { DeviceStats } from "../../src/stats.ts";
import { FrameTemplate } from "../lib/udp_frame.ts";
import { createSim82599 } from "../sim82599/mod.ts";
import { IxyError } from "../../src/error.ts";
import { intOption } from "../lib/cli.ts";
import { runApp } from "../lib/app.ts";

const HELP = `Usage: deno task bench:sim [seconds] [batch]

Runs our pktgen on port 0 of the software 82599 (tools/sim82599/), cabled to
port 1, where our fwd sends every frame out of port 2, and prints the rates
once a second. Measures the model's cost, not the driver's (for that, see
deno task bench:report).

Arguments:
  seconds   how long to run, 2 to 3600 (default 10)
  batch     frames per rxBatch/txBatch call, 1 to 512 (default 32)
  -h, --help  show this help

Example: deno task bench:sim 5 64`;

// Bad arguments end here with one line (runApp), before the model starts.
let seconds = 10;
let batch = 32;
if (Deno.args.length === 1 && (Deno.args[0] === "--help" || Deno.args[0] === "-h")) {
  console.log(HELP);
  Deno.exit(0);
}
await runApp(() => {
  if (Deno.args.length > 2 || Deno.args.some((a) => a.startsWith("-"))) {
    throw new IxyError("Usage: deno task bench:sim [seconds] [batch] (see --help)");
  }
  seconds = intOption("seconds", Deno.args[0] ?? "10", { min: 2, max: 3600 });
  batch = intOption("batch", Deno.args[1] ?? "32", { min: 1, max: 512 });
});
const SIZE = 60;

const sim = await createSim82599({ ports: 4, wiring: "cable" });
try {
  const [p0, p1, p2, p3] = sim.ports;
  const gen = IxgbeDevice.attach(p0.regs, p0.dma, { name: p0.name });
  const x = IxgbeDevice.attach(p1.regs, p1.dma, { name: p1.name });
  const y = IxgbeDevice.attach(p2.regs, p2.dma, { name: p2.name });
  const sink = IxgbeDevice.attach(p3.regs, p3.dma, { name: p3.name });
  const pool = Mempool.create(p0.dma, { numEntries: 2048 });
  const template = new FrameTemplate({ size: SIZE, srcMac: gen.getMacAddress() });
  for (const buf of pool.buffers) {
    buf.data.set(template.bytes);
    buf.size = SIZE;
  }
  const txBufs: PktBuf[] = new Array(batch);
  const fwdBufs: PktBuf[] = new Array(batch);
  const stats = [gen, x, y, sink].map(() => new DeviceStats());
  const readAll = () => [gen, x, y, sink].forEach((d, i) => d.readStats(stats[i]));
  let dropped = 0;
  const start = performance.now();
  let last = start;
  let lastCounts = [0, 0, 0];
  const rates: number[][] = [];
  console.log(`load ${Deno.readTextFileSync("/proc/loadavg").trim()}; batch ${batch}`);
  for (let i = 0;; i++) {
    // pktgen on port 0
    const n = pool.allocBatch(txBufs, batch);
    const sent = gen.txBatch(0, txBufs, n);
    for (let k = sent; k < n; k++) pool.free(txBufs[k]);
    // fwd port 1 -> port 2, touching one byte per frame
    const r = x.rxBatch(0, fwdBufs, batch);
    for (let k = 0; k < r; k++) {
      const data = fwdBufs[k].data;
      const byte = data[1];
      data[1] = byte;
    }
    const f = y.txBatch(0, fwdBufs, r);
    for (let k = f; k < r; k++) fwdBufs[k].pool.free(fwdBufs[k]);
    dropped += r - f;
    if ((i & 0xff) !== 0) continue;
    const now = performance.now();
    if (now - last >= 1000) {
      readAll();
      const counts = [stats[0].txPackets, stats[1].rxPackets, stats[2].txPackets];
      const s = (now - last) / 1000;
      const mpps = counts.map((c, k) => (c - lastCounts[k]) / s / 1e6);
      rates.push(mpps);
      console.log(
        `pktgen TX ${mpps[0].toFixed(3)} Mpps, fwd RX ${mpps[1].toFixed(3)} Mpps, ` +
          `fwd TX ${mpps[2].toFixed(3)} Mpps, port 1 missed ${stats[1].rxMissed}`,
      );
      lastCounts = counts;
      last = now;
      if (now - start >= seconds * 1000) break;
    }
  }
  const mid = rates.slice(1); // skip the first second (JIT warm-up)
  const avg = (k: number) => mid.reduce((a, m) => a + m[k], 0) / mid.length;
  console.log(
    `RESULT sim82599 batch ${batch}: pktgen ${avg(0).toFixed(3)} Mpps, fwd rx ${
      avg(1).toFixed(3)
    } Mpps, fwd tx ${avg(2).toFixed(3)} Mpps; port-1 missed ${stats[1].rxMissed}, fwd drops ` +
      `${dropped}, violations ${sim.violations().length}; load ${
        Deno.readTextFileSync("/proc/loadavg").trim()
      }`,
  );
} finally {
  sim.stop();
}
