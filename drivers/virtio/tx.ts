/**
 * The virtio-net transmit queue: the code `VirtioDevice.txBatch` runs. The
 * same shape as the 82599's (drivers/ixgbe/tx.ts): a ring object,
 * `reclaimTx` (ixgbe's `cleanTx`) and `txBatch`.
 *
 * Each frame travels in one descriptor that covers the `virtio_net_hdr` we
 * zero in the buffer's headroom and the frame right after it (legacy:
 * VIRTIO_F_ANY_LAYOUT, section 2.6.4.3; modern: always, section 2.6.4). We
 * make the descriptors available, publish them with one avail.idx store and
 * notify the device at most once per batch (sections 2.6.13, 5.1.6.2); the
 * device returns each descriptor through the used ring when it has read the
 * buffer, and then the buffer is ours to free (section 2.6.14).
 *
 * @module
 */

import { PKT_BUF_HEADROOM, type PktBuf } from "../../src/mempool.ts";
import type { VirtioTransport } from "./transport.ts";
import { Virtqueue } from "./virtqueue.ts";
import type { DmaAllocator } from "../../src/memory.ts";

/** Slot of {@link TxQueue.counters}: frames taken. */
export const TX_PACKETS = 0;
/** Slot of {@link TxQueue.counters}: their bytes (without the net header). */
export const TX_BYTES = 1;
/** Slot of {@link TxQueue.counters}: used entries or indices that cannot be true. */
export const TX_DEVICE_ERRORS = 2;

/**
 * The transmit virtqueue (queue 1, section 5.1.2) with what its hot path
 * needs besides the ring; a subclass for the reason of rx.ts's RxQueue.
 */
export class TxQueue extends Virtqueue {
  /** Bytes of `virtio_net_hdr` in front of each frame: 10 (legacy) or 12 (VERSION_1). */
  readonly hdrSize: number;
  /** How notifications reach the device. */
  readonly transport: VirtioTransport;
  /**
   * Counts since the last readStats, indexed by TX_PACKETS and the slots
   * after it: a Float64Array for the reason of rx.ts's RxQueue.counters.
   */
  readonly counters = new Float64Array(3);

  /** A queue as {@link Virtqueue}'s constructor makes it, `hdrSize`-byte headers, notify through `transport`. */
  constructor(
    dma: DmaAllocator,
    options: { index: number; size: number },
    hdrSize: number,
    transport: VirtioTransport,
  ) {
    super(dma, options);
    this.hdrSize = hdrSize;
    this.transport = transport;
  }
}

/**
 * Sends `bufs[0..count)` on `vq`; returns n, how many it took: `bufs[0..n)`
 * (fewer when no descriptor is free, or up to the first buffer whose `size`
 * is not 1..`data.length`: nothing of it is written, the caller keeps it).
 * Three steps, as ixgbe's txBatch: free the buffers the device has finished
 * with ({@link reclaimTx}); per frame, zero its net header
 * ({@link zeroNetHeader}), write one descriptor for header and frame and
 * put it into the available ring (sections 2.6.5, 2.6.6, 5.1.6.2); then
 * publish them and notify the device once. Taken buffers are freed once
 * sent.
 */
export function txBatch(vq: TxQueue, bufs: PktBuf[], count: number): number {
  reclaimTx(vq);
  const hdrSize = vq.hdrSize;
  const hdrInHeadroom = PKT_BUF_HEADROOM - hdrSize;
  let n = 0;
  let bytes = 0; // summed here, added to the counters once per batch
  while (n < count && vq.freeDescriptors > 0) {
    const buf = bufs[n];
    const size = buf.size;
    // A size the device cannot send (0, or beyond the buffer: it would
    // read past it): stop here, nothing of this buffer written. The caller
    // keeps bufs[n..count) (src/device.ts, IxyDevice.txBatch).
    if (size < 1 || size > buf.data.length) break;
    n++;
    zeroNetHeader(buf.headroom, hdrInHeadroom);
    const id = vq.takeDescriptor();
    // The header goes just before the data (rx.ts, postRxBuffer: why the
    // low half alone carries the difference). No flags: the device reads.
    vq.setBufferDescriptor(id, buf.dataPhysLo - hdrSize, buf.dataPhysHi, size + hdrSize, 0);
    vq.bufs[id] = buf;
    vq.pushAvailable(id);
    bytes += size;
  }
  // The doorbell, once per batch: avail.idx after the descriptors (section
  // 2.6.13.3), then a notification unless the device asked for none
  // (sections 2.6.10, 2.6.13.4; Virtqueue.publishAvailable: the ordering).
  if (n > 0) {
    vq.publishAvailable();
    if (!vq.deviceSuppressesNotify()) vq.transport.notify(vq.index);
  }
  vq.counters[TX_PACKETS] += n;
  vq.counters[TX_BYTES] += bytes;
  return n;
}

/**
 * Writes an all-zero `virtio_net_hdr` (section 5.1.6: no checksum offload,
 * no segmentation) into `headroom[from..)`, the bytes right before the
 * frame. A loop of 10 or 12 byte stores, not `headroom.fill(0, from)`: fill
 * is a builtin call, far dearer for so few bytes (docs/performance.md,
 * change 2).
 */
function zeroNetHeader(headroom: Uint8Array, from: number): void {
  for (let i = from; i < PKT_BUF_HEADROOM; i++) headroom[i] = 0;
}

/**
 * Frees the buffers of all descriptors the device has marked used and
 * returns the descriptors to the free stack (section 2.6.14).
 */
export function reclaimTx(vq: TxQueue): void {
  const mask = vq.size - 1;
  const usedIdx = vq.deviceUsedIdx();
  if (!vq.usedIdxPlausible(usedIdx)) {
    vq.counters[TX_DEVICE_ERRORS]++;
    return;
  }
  while (vq.lastUsedIdx !== usedIdx) {
    const id = vq.usedRing[2 * (vq.lastUsedIdx & mask)];
    vq.lastUsedIdx = (vq.lastUsedIdx + 1) & 0xffff;
    // As in rx.ts: an id out of range, or of a descriptor not in flight
    // (bufs[id] is set while the device holds it), is counted and skipped.
    // The used len of a transmit entry is not read (section 2.6.8: it
    // counts bytes the device wrote, 0 for a buffer it only read).
    const buf = id < vq.size ? vq.bufs[id] : undefined;
    if (buf === undefined) {
      vq.counters[TX_DEVICE_ERRORS]++;
      continue;
    }
    buf.pool.free(buf);
    vq.bufs[id] = undefined; // (deviceOwns is not used for this queue: bufs tells)
    vq.releaseDescriptor(id);
  }
}
