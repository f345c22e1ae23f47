/**
 * The virtio-net receive queue: the code `VirtioDevice.rxBatch` runs. The
 * same shape as the 82599's (drivers/ixgbe/rx.ts): a ring object,
 * `postRxBuffer` (ixgbe's `post`) and `rxBatch`.
 *
 * The device takes a descriptor we made available, writes the net header
 * and the frame into its buffer, and publishes a used-ring entry `{id, len}`
 * whose `len` counts both (virtio 1.1 sections 2.6.8, 5.1.6.4). We take each
 * used entry, put a fresh buffer into the same descriptor at once, make it
 * available again, and publish them all with one avail.idx store and at
 * most one notification per batch (sections 2.6.13, 2.6.14).
 *
 * Everything in a used entry comes from the device, so it is checked before
 * use: the id must name a descriptor the device holds ({@link deviceHolds}),
 * the length must fit our buffer. A bad entry is counted and skipped, never
 * thrown.
 *
 * @module
 */

import type { Mempool, PktBuf } from "../../src/mempool.ts";
import { VRING_DESC_F } from "./constants.ts";
import type { VirtioTransport } from "./transport.ts";
import { Virtqueue } from "./virtqueue.ts";
import type { DmaAllocator } from "../../src/memory.ts";

/** VRING_DESC_F.WRITE as a constant of this module: an immediate (drivers/ixgbe/rx.ts). */
const DESC_F_WRITE = VRING_DESC_F.WRITE;

/** Slot of {@link RxQueue.counters}: frames handed to the caller. */
export const RX_PACKETS = 0;
/** Slot of {@link RxQueue.counters}: their bytes (without the net header). */
export const RX_BYTES = 1;
/** Slot of {@link RxQueue.counters}: frames dropped for an impossible length. */
export const RX_ERRORS = 2;
/** Slot of {@link RxQueue.counters}: used entries or indices that cannot be true. */
export const RX_DEVICE_ERRORS = 3;

/**
 * The receive virtqueue (queue 0, section 5.1.2) with what its hot path
 * needs besides the ring. A subclass, not an object holding a Virtqueue: one
 * object less on the path from the device to the ring (docs/performance.md,
 * "The ring shape of issue 21").
 */
export class RxQueue extends Virtqueue {
  /** Where fresh receive buffers come from. */
  readonly pool: Mempool;
  /** Bytes of `virtio_net_hdr` in front of each frame: 10 (legacy) or 12 (VERSION_1). */
  readonly hdrSize: number;
  /** How notifications reach the device. */
  readonly transport: VirtioTransport;
  /**
   * Counts since the last readStats, indexed by RX_PACKETS and the slots
   * after it. JavaScript note: a `Float64Array`, not number fields: a field
   * starts as a small integer, and the first sum past 2^31 would turn it
   * into a double and deoptimise every function using this object; an
   * element of a Float64Array is a double from the start
   * (docs/performance.md, change 7; tests/unit/long_run_test.ts). Bytes are
   * summed in a local per batch and added once.
   */
  readonly counters = new Float64Array(4);

  /**
   * A queue as {@link Virtqueue}'s constructor makes it, buffers from
   * `pool`, `hdrSize`-byte headers, notify through `transport`.
   */
  constructor(
    dma: DmaAllocator,
    options: { index: number; size: number },
    pool: Mempool,
    hdrSize: number,
    transport: VirtioTransport,
  ) {
    super(dma, options);
    this.pool = pool;
    this.hdrSize = hdrSize;
    this.transport = transport;
  }
}

/**
 * Points receive descriptor `id` at `buf`: the header slot (`hdrSize`
 * bytes) at the end of the headroom, then the data area, one
 * device-writable descriptor (sections 2.6.5, 5.1.6.3).
 */
export function postRxBuffer(vq: Virtqueue, id: number, buf: PktBuf, hdrSize: number): void {
  // The header just before the data: its address is the data's minus
  // hdrSize, in the low half alone (a buffer never crosses a 2 MiB page, so
  // the low half neither wraps nor borrows: src/mempool.ts).
  vq.setBufferDescriptor(
    id,
    buf.dataPhysLo - hdrSize,
    buf.dataPhysHi,
    buf.data.length + hdrSize,
    DESC_F_WRITE,
  );
  vq.bufs[id] = buf;
}

/**
 * Receives up to `count` frames from `vq` into `bufs[0..n)` and returns n;
 * each returned buffer has `size` set (the frame, without the net header)
 * and belongs to the caller. Three steps: read the device's used.idx and
 * check it ({@link Virtqueue.usedIdxPlausible}), take the used entries up to
 * it ({@link takeUsedBuffers}, which refills each descriptor at once), and
 * publish the refilled descriptors and notify the device once.
 */
export function rxBatch(vq: RxQueue, bufs: PktBuf[], count: number): number {
  const usedIdx = vq.deviceUsedIdx();
  if (!vq.usedIdxPlausible(usedIdx)) {
    // Take nothing: a device that keeps doing this needs a reset, not a
    // driver that trusts it.
    vq.counters[RX_DEVICE_ERRORS]++;
    return 0;
  }
  const n = takeUsedBuffers(vq, usedIdx, bufs, count);
  // The doorbell, as in tx.ts, if anything was refilled: avail.idx is ours
  // (we are its only writer), so a plain load of what we published last
  // tells.
  if (vq.availIdx !== vq.avail[1]) {
    vq.publishAvailable();
    if (!vq.deviceSuppressesNotify()) vq.transport.notify(vq.index);
  }
  return n;
}

/**
 * Takes the used entries of `vq` from `lastUsedIdx` up to `usedIdx` (at most
 * `count` good ones) into `bufs[0..n)`, returns n and counts them. Each
 * entry's descriptor gets a fresh buffer at once and is made available again
 * (section 5.1.6.4), not yet published: rxBatch publishes once per batch.
 * An entry that names a descriptor the device does not hold
 * ({@link deviceHolds}) is skipped, one with an impossible length dropped;
 * both are counted. Stops early when the pool is empty.
 */
function takeUsedBuffers(vq: RxQueue, usedIdx: number, bufs: PktBuf[], count: number): number {
  const mask = vq.size - 1;
  const hdrSize = vq.hdrSize;
  const epoch = vq.epoch; // publications happen only after this loop
  let n = 0;
  let bytes = 0; // summed here, added to the counters once per batch
  while (n < count && vq.lastUsedIdx !== usedIdx) {
    // After the used.idx load (Virtqueue.deviceUsedIdx: why these reads see
    // what the device wrote before it published used.idx).
    const slot = vq.lastUsedIdx & mask;
    const id = vq.usedRing[2 * slot];
    const len = vq.usedRing[2 * slot + 1];
    if (!deviceHolds(vq, id, epoch)) {
      // The entry is a lie: count it, skip it, leave every buffer where it is.
      vq.counters[RX_DEVICE_ERRORS]++;
      vq.lastUsedIdx = (vq.lastUsedIdx + 1) & 0xffff;
      continue;
    }
    const fresh = vq.pool.alloc();
    if (fresh === undefined) break; // the app holds every buffer: retry next call
    const buf = vq.bufs[id]!;
    vq.lastUsedIdx = (vq.lastUsedIdx + 1) & 0xffff;
    postRxBuffer(vq, id, fresh, hdrSize);
    vq.pushAvailable(id); // stamps deviceOwns[id] with this epoch: see deviceHolds
    const size = len - hdrSize;
    if (size <= 0 || size > buf.data.length) {
      // Impossible length from the device: drop, never hand out garbage.
      vq.counters[RX_ERRORS]++;
      vq.pool.free(buf);
      continue;
    }
    buf.size = size;
    bytes += size;
    bufs[n++] = buf;
  }
  vq.counters[RX_PACKETS] += n;
  vq.counters[RX_BYTES] += bytes;
  return n;
}

/**
 * True if used entry `id` names a descriptor the device holds: in range (one
 * unsigned compare: the used ring is a Uint32Array) and handed over in an
 * earlier publication ({@link Virtqueue.deviceOwns}: not 0, never given; not
 * `epoch`, the publication to come: then the device returned it already in
 * this batch and we re-posted it, so a second entry for it is a duplicate).
 * The id indexes our arrays, so this comes before any other use.
 */
function deviceHolds(vq: Virtqueue, id: number, epoch: number): boolean {
  const owns = id < vq.size ? vq.deviceOwns[id] : 0;
  return owns !== 0 && owns !== epoch;
}
