/**
 * The demo without hardware: pktgen on port A of a software 82599, cabled to
 * port B where our ixgbe driver receives, with ixy's once-per-second
 * statistics for both ports. Both drivers run in this thread; the device runs
 * in its worker.
 *
 *     import { runSimDemo } from "./sim82599/demo.ts";
 *     await runSimDemo({ seconds: 5, batch: 64 });
 *
 * @module
 */

import { IxgbeDevice } from "../../drivers/ixgbe/ixgbe.ts";
import { Mempool, type PktBuf } from "../../src/mempool.ts";
import { DeviceStats, formatStatsDiff } from "../../src/stats.ts";
import { formatMac } from "../../src/device.ts";
import { IxyError } from "../../src/error.ts";
import { checkFrame, FrameTemplate, MIN_FRAME_SIZE } from "../lib/udp_frame.ts";
import { createSim82599 } from "./mod.ts";

/** Options for {@link runSimDemo}. */
export interface SimDemoOptions {
  /** How long to send (default 5 s). */
  seconds?: number;
  /** Frames per txBatch / rxBatch call (default 64). */
  batch?: number;
  /** Frame size without CRC (default 60). */
  size?: number;
  /** Where the statistics lines go (default console.log). */
  print?: (line: string) => void;
}

/** What {@link runSimDemo} counted. */
export interface SimDemoResult {
  /** Frames port A's driver queued for sending. */
  sent: number;
  /** Frames port B's driver received. */
  received: number;
  /** Received frames checked (one in 64) and found intact. */
  good: number;
  /** Received frames checked and found corrupt (should be 0). */
  bad: number;
  /** Frames port B's device dropped for want of a descriptor (hardware counters). */
  rxMissed: number;
  /** Driver mistakes the device model recorded (should be 0). */
  violations: number;
}

/** Buffers of the generator's own mempool (as ixy-pktgen). */
const NUM_BUFS = 2048;

/**
 * Runs pktgen on model port A → cable → port B for `options.seconds`,
 * printing RX/TX rates of both ports every second; returns the counts.
 */
export async function runSimDemo(options: SimDemoOptions = {}): Promise<SimDemoResult> {
  const seconds = options.seconds ?? 5;
  const batch = options.batch ?? 64;
  const size = options.size ?? MIN_FRAME_SIZE;
  const print = options.print ?? ((line: string) => console.log(line));
  if (!(seconds > 0) || !Number.isInteger(batch) || batch < 1 || batch > 1024) {
    throw new IxyError(`Bad demo options: seconds must be > 0, batch 1..1024.`);
  }
  const sim = await createSim82599({ ports: 2, wiring: "cable" });
  try {
    const [a, b] = sim.ports;
    const devA = IxgbeDevice.attach(a.regs, a.dma, { name: a.name });
    const devB = IxgbeDevice.attach(b.regs, b.dma, { name: b.name });
    print(
      `sim82599: ${devA.pciAddress} (${formatMac(devA.getMacAddress())}) --cable--> ` +
        `${devB.pciAddress} (${formatMac(devB.getMacAddress())}), link ` +
        `${devB.getLinkSpeed()} Mbit/s, ${size}-byte frames, batch ${batch}`,
    );
    const template = new FrameTemplate({ size, srcMac: devA.getMacAddress() });
    const pool = Mempool.create(a.dma, { numEntries: NUM_BUFS });
    // Write the template into every buffer once; per frame we only stamp.
    for (const buf of pool.buffers) {
      buf.data.set(template.bytes);
      buf.size = size;
    }
    let good = 0;
    let bad = 0;
    const txBufs: PktBuf[] = new Array(batch);
    const rxBufs: PktBuf[] = new Array(batch);
    const statsA = new DeviceStats();
    const statsB = new DeviceStats();
    const beforeA = new DeviceStats();
    const beforeB = new DeviceStats();
    let seq = 0;
    let received = 0;
    const start = performance.now();
    let lastPrint = start;
    const end = start + seconds * 1000;
    for (let i = 0;; i++) {
      const n = pool.allocBatch(txBufs, batch);
      for (let k = 0; k < n; k++) template.stamp(txBufs[k].data, seq + k);
      const sent = devA.txBatch(0, txBufs, n);
      for (let k = sent; k < n; k++) pool.free(txBufs[k]);
      seq += sent;
      const r = devB.rxBatch(0, rxBufs, batch);
      for (let k = 0; k < r; k++) {
        const buf = rxBufs[k];
        // Checking every frame costs time; check one in 64.
        if ((received + k) % 64 === 0) {
          if (checkFrame(buf.data.subarray(0, buf.size)).ok) good++;
          else bad++;
        }
        buf.pool.free(buf);
      }
      received += r;
      if ((i & 0xff) !== 0) continue;
      const now = performance.now();
      if (now - lastPrint >= 1000 || now >= end) {
        devA.readStats(statsA);
        devB.readStats(statsB);
        const nanos = (now - lastPrint) * 1e6;
        print(formatStatsDiff(devA.pciAddress, { now: statsA, before: beforeA }, nanos));
        print(formatStatsDiff(devB.pciAddress, { now: statsB, before: beforeB }, nanos));
        beforeA.copyFrom(statsA);
        beforeB.copyFrom(statsB);
        lastPrint = now;
        if (now >= end) break;
      }
    }
    // Let the last frames arrive and count them.
    sim.settle();
    for (let r; (r = devB.rxBatch(0, rxBufs, batch)) > 0;) {
      for (let k = 0; k < r; k++) rxBufs[k].pool.free(rxBufs[k]);
      received += r;
    }
    devA.readStats(statsA);
    devB.readStats(statsB);
    const violations = sim.violations();
    for (const v of violations) print(`violation: ${v.register} (${v.section}): ${v.message}`);
    devA.close();
    devB.close();
    return {
      sent: seq,
      received,
      good,
      bad,
      rxMissed: statsB.rxMissed,
      violations: violations.length,
    };
  } finally {
    sim.stop();
  }
}

if (import.meta.main) {
  const result = await runSimDemo({ seconds: Number(Deno.args[0] ?? 5) });
  console.log(JSON.stringify(result));
}
