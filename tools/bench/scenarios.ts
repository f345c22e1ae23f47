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
import type { DmaAllocator } from "../../src/memory.ts";
import { FRAME_SIZE, fwdScenario, type Port } from "../devices/forward.ts";
import { InstantVirtioDevice } from "../devices/instant_virtio.ts";
import { InstantIxgbeDevice } from "../devices/instant_ixgbe.ts";
import { E1000Device } from "../../drivers/e1000/e1000.ts";
import { IgbDevice } from "../../drivers/igb/igb.ts";
import { InstantE1000Device } from "../devices/instant_e1000.ts";
import { InstantIgbDevice } from "../devices/instant_igb.ts";

/** The forwarding step, shared with the ring viewer: tools/devices/forward.ts. */
export { FRAME_SIZE, fwdScenario, type Port };
/** The batch sizes of the papers' batch-size plots. */
export const BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256] as const;
/** The drivers. */
export const DRIVERS = ["virtio", "ixgbe", "e1000", "igb"] as const;
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
  if (driver === "e1000") return mode === "fwd" ? e1000Fwd(batch) : e1000Tx(batch);
  if (driver === "igb") return mode === "fwd" ? igbFwd(batch) : igbTx(batch);
  return mode === "fwd" ? ixgbeFwd(batch) : ixgbeTx(batch);
}

function virtioPort(name: string): { dev: InstantVirtioDevice; drv: VirtioDevice } {
  const dev = new InstantVirtioDevice();
  const drv = VirtioDevice.open(dev.pciFunction(name));
  return { dev, drv };
}

function ixgbePort(name: string): { dev: InstantIxgbeDevice; drv: IxgbeDevice } {
  const dev = new InstantIxgbeDevice();
  const drv = IxgbeDevice.attach(dev, dev.dma, { name, linkTimeoutMs: 0 });
  return { dev, drv };
}

/** `tx`: pktgen's loop without the stamp: allocBatch, txBatch, free the rest, send. */
function txScenario(p: Port & { dma: DmaAllocator }, batch: number): Omit<Scenario, "check"> {
  const pool = Mempool.create(p.dma, { numEntries: 2048 });
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
  };
}

function virtioFwd(batch: number): Scenario {
  const a = virtioPort("instant-virtio-a");
  const b = virtioPort("instant-virtio-b");
  return { ...fwdScenario(a, b, batch), check: notifyCheck(a.dev, b.dev) };
}

function virtioTx(batch: number): Scenario {
  const p = virtioPort("instant-virtio-tx");
  return { ...txScenario({ ...p, dma: p.dev.dma }, batch), check: notifyCheck(p.dev) };
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
  return { ...fwdScenario(a, b, batch), check: () => undefined };
}

function ixgbeTx(batch: number): Scenario {
  const p = ixgbePort("instant-ixgbe-tx");
  return { ...txScenario({ ...p, dma: p.dev.dma }, batch), check: () => undefined };
}

function e1000Port(name: string): { dev: InstantE1000Device; drv: E1000Device } {
  const dev = new InstantE1000Device();
  const drv = E1000Device.attach(dev, dev.dma, { name, linkTimeoutMs: 0 });
  return { dev, drv };
}

function e1000Fwd(batch: number): Scenario {
  const a = e1000Port("instant-e1000-a");
  const b = e1000Port("instant-e1000-b");
  return { ...fwdScenario(a, b, batch), check: () => undefined };
}

function e1000Tx(batch: number): Scenario {
  const p = e1000Port("instant-e1000-tx");
  return { ...txScenario({ ...p, dma: p.dev.dma }, batch), check: () => undefined };
}

function igbPort(name: string): { dev: InstantIgbDevice; drv: IgbDevice } {
  const dev = new InstantIgbDevice();
  const drv = IgbDevice.attach(dev, dev.dma, { name, linkTimeoutMs: 0 });
  return { dev, drv };
}

function igbFwd(batch: number): Scenario {
  const a = igbPort("instant-igb-a");
  const b = igbPort("instant-igb-b");
  return { ...fwdScenario(a, b, batch), check: () => undefined };
}

function igbTx(batch: number): Scenario {
  const p = igbPort("instant-igb-tx");
  return { ...txScenario({ ...p, dma: p.dev.dma }, batch), check: () => undefined };
}
