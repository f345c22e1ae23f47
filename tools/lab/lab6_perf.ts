/**
 * Lab 6 checker: runs the student's send loop on a software 82599 port for a
 * range of batch sizes, checks its count against the device's counter and
 * its buffers against leaks, checks that batching pays, and plots Mpps over
 * batch size.
 *
 * The software 82599 is not a real NIC: the numbers show the cost of the
 * driver and of the doorbell (a register write crossing to another thread),
 * not 10 Gbit/s line rate. docs/performance.md has numbers of the real thing.
 *
 * @module
 */

import { Mempool } from "../../src/mempool.ts";
import { DeviceStats } from "../../src/stats.ts";
import { createSim82599 } from "../sim82599/mod.ts";
import { FrameTemplate } from "../lib/udp_frame.ts";
import { must } from "./checklist.ts";
import type { TxLoopFn } from "./contract.ts";
import { attachReference } from "./harness.ts";
import type { Lab } from "./lab.ts";
import { plotBatchSizes, type Point } from "./plot.ts";

const BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256];
/** Batch 32 must reach at least this multiple of batch 1's packet rate. */
const MIN_SPEEDUP = 1.5;

/** Lab 6: performance. */
export const lab6: Lab = {
  number: 6,
  title: "Performance: batch size versus Mpps, with a plot",
  reference: "tools/lab/solutions/lab6_loop.ts",
  functions: ["txLoop"],
  async run(impl, list, options) {
    const txLoop = impl.txLoop as TxLoopFn;
    const durationMs = options.durationMs ?? 300;
    const out = options.out ?? "lab6_batch_size.svg";
    const sim = await createSim82599({ ports: 1, wiring: "none" });
    const points: Point[] = [];
    try {
      const [p] = sim.ports;
      const dev = attachReference(p, 0);
      const pool = Mempool.create(p.dma, { numEntries: 2048 });
      const template = new FrameTemplate({ size: 60 });
      for (const buf of pool.buffers) {
        buf.data.set(template.bytes);
        buf.size = template.bytes.length;
      }
      const stats = new DeviceStats();
      const counted = () => {
        sim.settle();
        const before = stats.txPackets;
        dev.readStats(stats);
        return stats.txPackets - before;
      };
      txLoop(dev, pool, { batch: 32, durationMs: Math.max(100, durationMs / 2) }); // JIT warm-up
      counted();

      await list.check(
        `txLoop's count agrees with the device's counter (GPTC) for every batch size`,
        () => {
          for (const batch of BATCHES) {
            const t0 = performance.now();
            const sent = txLoop(dev, pool, { batch, durationMs });
            const seconds = (performance.now() - t0) / 1000;
            const device = counted();
            must(sent > 0, `batch ${batch}: txLoop sent nothing in ${durationMs} ms`);
            must(
              sent === device,
              `batch ${batch}: txLoop says ${sent} frames, the device sent ${device}: count what ` +
                `txBatch returns, not what you offered`,
            );
            points.push({ batch, mpps: sent / seconds / 1e6 });
          }
        },
      );

      await list.check("leaks no buffer: all come back once the device is closed", () => {
        dev.close(); // waits for the ring to drain and frees every sent buffer
        const lost = pool.numEntries - pool.freeCount;
        must(lost === 0, `${lost} buffers are lost: free the ones txBatch did not take`);
      });

      await list.check(
        `batching pays: batch 32 sends at least ${MIN_SPEEDUP}x the frames of batch 1`,
        () => {
          const one = points.find((x) => x.batch === 1);
          const many = points.find((x) => x.batch === 32);
          must(one !== undefined && many !== undefined, "no measurements to compare");
          must(
            many.mpps >= MIN_SPEEDUP * one.mpps,
            `batch 1: ${one.mpps.toFixed(3)} Mpps, batch 32: ${many.mpps.toFixed(3)} Mpps. ` +
              `Allocate nothing in the loop and call txBatch once per batch`,
          );
        },
      );
    } finally {
      sim.stop();
    }
    for (const pt of points) {
      list.note(`batch ${String(pt.batch).padStart(3)}: ${pt.mpps.toFixed(3)} Mpps`);
    }
    await list.check(`writes the plot to ${out}`, () => {
      must(points.length === BATCHES.length, "not every batch size was measured");
      Deno.writeTextFileSync(
        out,
        plotBatchSizes(points, "txBatch on the software 82599: Mpps by batch size"),
      );
    });
  },
};
