/**
 * The benchmark scenarios: our drivers on the instant devices, doing what
 * `fwd` and `pktgen` do per batch.
 *
 * - `fwd`: device A "receives" frames into every posted buffer, the driver's
 *   `rxBatch` takes a batch from A, touches one byte of each frame (ixy-fwd
 *   does the same), `txBatch` queues them on B, and device B "sends"
 *   everything queued. Buffers travel from A's receive pool through B's
 *   transmit ring back to A's pool, as in tools/fwd.ts (one direction).
 * - `tx`: pktgen's loop without the sequence-number stamp: `allocBatch` from
 *   a 2048-buffer pool, `txBatch`, free what the ring did not take; the
 *   device "sends" everything queued.
 *
 * `step()` does one batch and returns the packets moved, so per-packet costs
 * are (time per step) / (packets per step). The instant device's own work is
 * included; the profile in docs/performance.md says how much it is.
 *
 * @module
 */

import { VirtioDevice } from "../../drivers/virtio/virtio.ts";
import { IxgbeDevice } from "../../drivers/ixgbe/ixgbe.ts";
import { Mempool, type PktBuf } from "../../src/mempool.ts";
import { InstantVirtioDevice } from "./instant_virtio.ts";
import { InstantIxgbeDevice } from "./instant_ixgbe.ts";

/** Frame size of every benchmark: 60 bytes + CRC = 64, the ixy papers' minimum-size frames. */
export const FRAME_SIZE = 60;
/** The batch sizes of the papers' batch-size plots. */
export const BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256] as const;
/** The drivers. */
export const DRIVERS = ["virtio", "ixgbe"] as const;
/** The modes. */
export const MODES = ["fwd", "tx"] as const;

/** One configured benchmark. */
export interface Scenario {
  /** Does one batch; returns the packets moved (= batch in steady state). */
  step(): number;
  /** Device-side counters for sanity checks (e.g. notifications that should be 0). */
  check(): string | undefined;
}

/** Builds the scenario `driver` × `mode` at `batch` packets per call. */
export function makeScenario(
  driver: (typeof DRIVERS)[number],
  mode: (typeof MODES)[number],
  batch: number,
): Scenario {
  if (driver === "virtio") return mode === "fwd" ? virtioFwd(batch) : virtioTx(batch);
  return mode === "fwd" ? ixgbeFwd(batch) : ixgbeTx(batch);
}

function virtioPort(name: string): { dev: InstantVirtioDevice; drv: VirtioDevice } {
  const dev = new InstantVirtioDevice();
  const drv = VirtioDevice.attach(dev, dev.dma, { name });
  return { dev, drv };
}

function ixgbePort(name: string): { dev: InstantIxgbeDevice; drv: IxgbeDevice } {
  const dev = new InstantIxgbeDevice();
  const drv = IxgbeDevice.attach(dev, dev.dma, { name, linkTimeoutMs: 0 });
  return { dev, drv };
}

/** Touches one byte of each frame, as ixy-fwd (and tools/fwd.ts) do. */
function touch(bufs: PktBuf[], n: number): void {
  for (let i = 0; i < n; i++) {
    const data = bufs[i].data;
    const byte = data[1];
    data[1] = byte;
  }
}

function virtioFwd(batch: number): Scenario {
  const a = virtioPort("instant-virtio-a");
  const b = virtioPort("instant-virtio-b");
  const bufs: PktBuf[] = new Array(batch);
  return {
    step() {
      a.dev.receive(FRAME_SIZE);
      const n = a.drv.rxBatch(0, bufs, batch);
      touch(bufs, n);
      const sent = b.drv.txBatch(0, bufs, n);
      for (let i = sent; i < n; i++) bufs[i].pool.free(bufs[i]);
      b.dev.transmit();
      return sent;
    },
    check: notifyCheck(a.dev, b.dev),
  };
}

function virtioTx(batch: number): Scenario {
  const p = virtioPort("instant-virtio-tx");
  const pool = Mempool.create(p.dev.dma, { numEntries: 2048 });
  for (const buf of pool.buffers) buf.size = FRAME_SIZE;
  const bufs: PktBuf[] = new Array(batch);
  return {
    step() {
      const got = pool.allocBatch(bufs, batch);
      const sent = p.drv.txBatch(0, bufs, got);
      for (let i = sent; i < got; i++) pool.free(bufs[i]);
      p.dev.transmit();
      return sent;
    },
    check: notifyCheck(p.dev),
  };
}

/** Checks that no queue notification happened after bring-up (which notifies RX once). */
function notifyCheck(...devs: InstantVirtioDevice[]): () => string | undefined {
  const count = () => devs.reduce((sum, d) => sum + d.notifications, 0);
  const atStart = count();
  return () => {
    const n = count() - atStart;
    return n === 0 ? undefined : `${n} queue notifications (expected 0 with NO_NOTIFY)`;
  };
}

function ixgbeFwd(batch: number): Scenario {
  const a = ixgbePort("instant-ixgbe-a");
  const b = ixgbePort("instant-ixgbe-b");
  const bufs: PktBuf[] = new Array(batch);
  return {
    step() {
      a.dev.receive(FRAME_SIZE);
      const n = a.drv.rxBatch(0, bufs, batch);
      touch(bufs, n);
      const sent = b.drv.txBatch(0, bufs, n);
      for (let i = sent; i < n; i++) bufs[i].pool.free(bufs[i]);
      b.dev.transmit();
      return sent;
    },
    check: () => undefined,
  };
}

function ixgbeTx(batch: number): Scenario {
  const p = ixgbePort("instant-ixgbe-tx");
  const pool = Mempool.create(p.dev.dma, { numEntries: 2048 });
  for (const buf of pool.buffers) buf.size = FRAME_SIZE;
  const bufs: PktBuf[] = new Array(batch);
  return {
    step() {
      const got = pool.allocBatch(bufs, batch);
      const sent = p.drv.txBatch(0, bufs, got);
      for (let i = sent; i < got; i++) pool.free(bufs[i]);
      p.dev.transmit();
      return sent;
    },
    check: () => undefined,
  };
}
