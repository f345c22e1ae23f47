/**
 * Lab 6 checker: runs the student's send loop on a software 82599 port for a
 * range of batch sizes, checks its count against the device's counter, its
 * buffers against leaks and its loop against per-batch allocation, checks
 * that batching pays, and plots Mpps over batch size.
 *
 * What can be counted is counted, not timed: allocation by the heap's growth
 * per txBatch call ({@link ProbedDevice}), batching by the frames the loop
 * hands to each txBatch call. Counts do not change with the machine's load.
 *
 * The speed comparison ("batching pays") is timed, and timing on a shared
 * 2-core machine is the hard part. What we measured (lab machine, 2 vCPUs,
 * load 8-15 from other programs; the reference loop and a loop that calls
 * txBatch once per frame, 30 alternating slices of batch 1 and batch 32):
 *
 * - The sender spins: on the software 82599 the device thread is the slower
 *   side, and 99 % of the reference's txBatch calls find the ring full. So
 *   the sender's own CPU time (CLOCK_THREAD_CPUTIME_ID) tracks the device's
 *   progress, not the sender's cost, and scattered as much as wall time did.
 *   The device runs on another thread, whose CPU time the checker cannot see.
 * - Under load the device catches up on queued doorbells in bulk, so batch
 *   1 gets cheaper per frame and every typical value (medians, medians of
 *   per-pair ratios) drifts toward 1: the reference's median ratio fell from
 *   ~9 (machine nearly idle) to 1.6-4.4, the per-frame loop's rose to
 *   0.9-1.6. Medians could not tell them apart under load.
 * - Load only ever slows a slice down. The fastest slice of each batch size
 *   is the one the machine left alone, and the ratio of the fastest slices
 *   kept the reference far above the bar: 4.1-16 (the per-frame loop:
 *   0.7-1.7 — near the bar, which is why the count, not the clock, rejects
 *   a loop that does not batch).
 *
 * So the checker times {@link PAIRS} short slices of batch 1 and batch 32,
 * alternating (a burst of load hits both sizes alike), each from an empty
 * ring to a drained one (the slice's time includes the device finishing
 * what the loop queued, so the first 512 frames that only fill the ring are
 * not free), and compares the fastest slice of each size. Before timing,
 * the count decides: a loop that does not hand txBatch whole batches fails
 * whatever the clock says. A comparison that fails although the loop
 * batches is believed only when the fastest slices repeat (the machine was
 * steady); otherwise the student is told to rerun, never blamed.
 *
 * The plot comes from a separate sweep: every batch size measured
 * {@link REPEATS} times, round after round over all sizes; the fastest
 * repeat is plotted (the median is printed beside it).
 *
 * The software 82599 is not a real NIC: the numbers show the cost of the
 * driver and of the doorbell (a register write crossing to another thread),
 * not 10 Gbit/s line rate. docs/performance.md has numbers of the real thing.
 *
 * @module
 */

import type { IxyDevice, IxyInterrupts } from "../../src/device.ts";
import type { PciDevice } from "../../src/pci.ts";
import type { PktBuf } from "../../src/mempool.ts";
import { Mempool } from "../../src/mempool.ts";
import { DeviceStats } from "../../src/stats.ts";
import { createSim82599 } from "../sim82599/mod.ts";
import { FrameTemplate } from "../lib/udp_frame.ts";
import { must, Unsure } from "./checklist.ts";
import type { TxLoopFn } from "./contract.ts";
import { attachReference } from "./harness.ts";
import type { Lab } from "./lab.ts";
import { plotBatchSizes, type Point } from "./plot.ts";

const BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256];
/** Measurements per batch size for the plot; the fastest is plotted. */
const REPEATS = 5;
/** Alternating slices of batch 1 and batch 32 for the speed comparison. */
const PAIRS = 30;
/** Batch 32 must reach at least this multiple of batch 1's packet rate. */
const MIN_SPEEDUP = 1.5;
/**
 * A batching loop hands txBatch at least this share of the batch per call
 * on average (less only when the pool runs short); a loop that sends frame
 * by frame hands it 1 of 32.
 */
const MIN_BATCH_SHARE = 0.5;
/**
 * A failed comparison is believed only if the machine was steady: the
 * {@link STEADY_SLICES}-th fastest slice of each size within this fraction
 * of the fastest (the best was reached repeatedly, not by one lucky slice).
 */
const MAX_SPREAD = 0.25;
/** See {@link MAX_SPREAD}. */
const STEADY_SLICES = 5;
/**
 * A loop that allocates nothing shows well under 1 byte per txBatch call
 * (the probe's own sampling); the smallest allocation, an empty array, is 16.
 */
const MAX_BYTES_PER_CALL = 8;
/** Where the plot goes without --out: beside the student's lab files, outside the repository. */
export const DEFAULT_PLOT = new URL("./mine/lab6_batch_size.svg", import.meta.url).pathname;

/**
 * The device as the student's loop sees it: forwards everything to the
 * driver and, every 256 txBatch calls, samples the heap. Heap use only grows
 * between garbage collections, so the sum of the rises between samples is
 * (nearly) every byte allocated meanwhile — by the loop, since the driver's
 * txBatch allocates nothing.
 */
class ProbedDevice implements IxyDevice {
  readonly #dev: IxyDevice;
  calls = 0;
  allocated = 0;
  /** txBatch calls that offered at least one frame, and the frames they offered. */
  offers = 0;
  offered = 0;
  #lastHeap = 0;

  constructor(dev: IxyDevice) {
    this.#dev = dev;
  }
  get driverName(): string {
    return this.#dev.driverName;
  }
  get pciAddress(): string {
    return this.#dev.pciAddress;
  }
  get pci(): PciDevice | undefined {
    return this.#dev.pci;
  }
  get numRxQueues(): number {
    return this.#dev.numRxQueues;
  }
  get numTxQueues(): number {
    return this.#dev.numTxQueues;
  }
  get interrupts(): IxyInterrupts | undefined {
    return this.#dev.interrupts;
  }
  /** Starts counting calls and allocated bytes from zero. */
  reset(): void {
    this.calls = 0;
    this.allocated = 0;
    this.#lastHeap = Deno.memoryUsage().heapUsed;
  }
  /** Stops counting: adds the rise since the last sample. */
  finish(): void {
    this.#sample();
  }
  #sample(): void {
    const heap = Deno.memoryUsage().heapUsed;
    if (heap > this.#lastHeap) this.allocated += heap - this.#lastHeap;
    this.#lastHeap = heap;
  }
  rxBatch(queueId: number, bufs: PktBuf[], count: number): number {
    return this.#dev.rxBatch(queueId, bufs, count);
  }
  txBatch(queueId: number, bufs: PktBuf[], count: number): number {
    if ((++this.calls & 255) === 0) this.#sample();
    if (count > 0) {
      this.offers++;
      this.offered += count;
    }
    return this.#dev.txBatch(queueId, bufs, count);
  }
  readStats(stats: DeviceStats): void {
    this.#dev.readStats(stats);
  }
  setPromisc(enabled: boolean): void {
    this.#dev.setPromisc(enabled);
  }
  getLinkSpeed(): number {
    return this.#dev.getLinkSpeed();
  }
  getMacAddress(): Uint8Array {
    return this.#dev.getMacAddress();
  }
  close(): void {
    this.#dev.close();
  }
}

/** The k-th largest (1 = the largest). */
const kthBest = (xs: readonly number[], k: number) => [...xs].sort((x, y) => y - x)[k - 1];
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** Largest minus smallest, over the median. */
const spread = (xs: readonly number[]) => (Math.max(...xs) - Math.min(...xs)) / median(xs);

/** Lab 6: performance. */
export const lab6: Lab = {
  number: 6,
  title: "Performance: batch size versus Mpps, with a plot",
  reference: "tools/lab/solutions/lab6_loop.ts",
  functions: ["txLoop"],
  hangHint: "txLoop must return once durationMs have passed: is the clock read in the loop?",
  callExtraMs: (options) => options.durationMs ?? 100,
  async run(impl, list, options) {
    const txLoop = impl.txLoop as TxLoopFn;
    const durationMs = options.durationMs ?? 100;
    /** One slice of the speed comparison: short, so that many fit (20 ms by default). */
    const sliceMs = Math.max(10, Math.round(durationMs / 5));
    const out = options.out ?? DEFAULT_PLOT;
    const sim = await createSim82599({ ports: 1, wiring: "none" });
    /** Mpps of each repeat, by batch size (the plot). */
    const rates = new Map<number, number[]>(BATCHES.map((b) => [b, []]));
    /** Mpps of each slice of the speed comparison, batch 1 and batch 32. */
    const slices = { one: [] as number[], many: [] as number[] };
    /** Frames offered per txBatch call (that offered any), by batch size. */
    const perCall = new Map<number, { offers: number; offered: number }>(
      BATCHES.map((b) => [b, { offers: 0, offered: 0 }]),
    );
    let bytesPerCall = 0;
    // Generous: the loop should return after durationMs; the rest is the device draining.
    const limitMs = 30_000 + (BATCHES.length * REPEATS * durationMs + 2 * PAIRS * sliceMs) * 4;
    try {
      const [p] = sim.ports;
      const dev = attachReference(p, 0);
      const probe = new ProbedDevice(dev);
      const pool = Mempool.create(p.dma, { numEntries: 2048 });
      const template = new FrameTemplate({ size: 60 });
      for (const buf of pool.buffers) {
        buf.data.set(template.bytes);
        buf.size = template.bytes.length;
      }
      const stats = new DeviceStats();
      /** Frames the device sent since the last call (GPTC). */
      const counted = () => {
        const before = stats.txPackets;
        dev.readStats(stats);
        return stats.txPackets - before;
      };
      /** The first count that disagreed with GPTC (reported after all were measured). */
      let miscount = "";
      /**
       * One measurement: Mpps of `batch` for `ms` by the device's count;
       * compares txLoop's count. The time runs from the first frame to the
       * device having sent the last one the loop queued (sim.settle), so a
       * measurement starts and ends with an empty ring.
       */
      const measure = (batch: number, ms: number) => {
        const { offers, offered } = probe;
        const t0 = performance.now();
        const sent = txLoop(probe, pool, { batch, durationMs: ms });
        sim.settle();
        const seconds = (performance.now() - t0) / 1000;
        const tally = perCall.get(batch)!;
        tally.offers += probe.offers - offers;
        tally.offered += probe.offered - offered;
        const device = counted();
        if (device === 0 && pool.freeCount === 0 && miscount === "") {
          miscount = `batch ${batch}: nothing was sent because the pool is empty: txLoop loses ` +
            `buffers (free the ones txBatch did not take)`;
        } else if (device === 0 && miscount === "") {
          miscount = `batch ${batch}: txLoop sent nothing in ${ms} ms`;
        } else if (sent !== device && miscount === "") {
          miscount = `batch ${batch}: txLoop says ${sent} frames, the device sent ${device}: ` +
            `count what txBatch returns, not what you offered`;
        }
        return device / seconds / 1e6;
      };

      await list.check(
        `txLoop's count agrees with the device's counter (GPTC) for every batch size`,
        () => {
          txLoop(probe, pool, { batch: 32, durationMs: Math.max(200, durationMs) }); // JIT warm-up
          sim.settle();
          counted();
          probe.reset();
          for (let r = 0; r < REPEATS; r++) {
            for (const batch of BATCHES) rates.get(batch)!.push(measure(batch, durationMs));
          }
          for (let i = 0; i < PAIRS; i++) {
            slices.one.push(measure(1, sliceMs));
            slices.many.push(measure(32, sliceMs));
          }
          probe.finish();
          bytesPerCall = probe.allocated / Math.max(1, probe.calls);
          must(miscount === "", miscount);
        },
        { limitMs },
      );

      await list.check("allocates nothing per batch (no new arrays or objects in the loop)", () => {
        list.note(`heap growth: ${bytesPerCall.toFixed(2)} bytes per txBatch call`);
        must(rates.get(256)!.length === REPEATS, "not measured: the first requirement failed");
        must(
          bytesPerCall <= MAX_BYTES_PER_CALL,
          `your loop allocated about ${Math.round(bytesPerCall)} bytes per txBatch call: ` +
            `create the bufs array once, before the loop, and reuse it (no new Array, slice, ` +
            `spread or closure per batch); garbage costs collections, and they stall the loop`,
        );
      });

      await list.check("leaks no buffer: all come back once the device is closed", () => {
        dev.close(); // waits for the ring to drain and frees every sent buffer
        const lost = pool.numEntries - pool.freeCount;
        must(lost === 0, `${lost} buffers are lost: free the ones txBatch did not take`);
      });

      await list.check(
        `batching pays: batch 32 hands txBatch whole batches and sends at least ` +
          `${MIN_SPEEDUP}x the frames of batch 1`,
        () => {
          const { one, many } = slices;
          must(many.length === PAIRS, "not measured: the first requirement failed");
          // Counted first: no clock can excuse a loop that does not batch.
          const tally = perCall.get(32)!;
          const framesPerCall = tally.offered / Math.max(1, tally.offers);
          must(
            framesPerCall >= 32 * MIN_BATCH_SHARE,
            `at batch 32 your loop handed txBatch ${framesPerCall.toFixed(1)} frames per call: ` +
              `Call txBatch once per batch with the whole batch (txBatch(0, bufs, n)); each ` +
              `call ends with one tail write, the doorbell, and a batch exists to pay it once`,
          );
          // Timed: the fastest slice of each size (see the module notes).
          const speedup = Math.max(...many) / Math.max(...one);
          const verdict = `batch 32 sent ${speedup.toFixed(2)}x the frames of batch 1 ` +
            `(fastest of ${PAIRS} slices each: ${Math.max(...many).toFixed(3)} and ` +
            `${Math.max(...one).toFixed(3)} Mpps)`;
          if (speedup >= MIN_SPEEDUP) return list.note(verdict);
          const scatter = Math.max(
            1 - kthBest(one, STEADY_SLICES) / Math.max(...one),
            1 - kthBest(many, STEADY_SLICES) / Math.max(...many),
          );
          if (scatter > MAX_SPREAD) {
            throw new Unsure(
              `the machine is too noisy to judge, rerun: ${verdict}, but even the fastest ` +
                `slices differed by up to ${Math.round(scatter * 100)}% (another program is ` +
                `using the CPU). Your loop does hand txBatch whole batches. Close the other ` +
                `program and run the checker again`,
            );
          }
          must(
            false,
            `${verdict}, steady within ${Math.round(scatter * 100)}%: your loop hands txBatch ` +
              `whole batches, but something in it costs more than the doorbells batching ` +
              `saves. Look for work done for every frame or batch: a register read (getLinkSpeed, ` +
              `readStats), an allocation, a clock read`,
          );
        },
      );
    } finally {
      sim.stop();
    }
    // The plot shows each size's fastest repeat, for the reason the speed
    // comparison uses the fastest slices: load only slows a repeat down.
    const points: Point[] = BATCHES.filter((b) => rates.get(b)!.length > 0).map((batch) => ({
      batch,
      mpps: Math.max(...rates.get(batch)!),
    }));
    for (const pt of points) {
      const rs = rates.get(pt.batch)!;
      list.note(
        `batch ${String(pt.batch).padStart(3)}: ${pt.mpps.toFixed(3)} Mpps ` +
          `(fastest of ${rs.length}; median ${median(rs).toFixed(3)}, spread ` +
          `${Math.round(spread(rs) * 100)}%)`,
      );
    }
    await list.check(`writes the plot to ${out}`, () => {
      must(points.length === BATCHES.length, "not every batch size was measured");
      const svg = plotBatchSizes(points, "txBatch on the software 82599: Mpps by batch size");
      if (options.writeFile !== undefined) return options.writeFile(out, svg);
      Deno.mkdirSync(new URL(".", `file://${out.startsWith("/") ? out : `${Deno.cwd()}/${out}`}`), {
        recursive: true,
      });
      Deno.writeTextFileSync(out, svg);
    });
  },
};
