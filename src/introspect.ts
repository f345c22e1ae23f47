/**
 * Read-only introspection of a driver's descriptor rings, for observers that
 * look at the rings from the side (tools/view/, the live ring viewer). It
 * costs nothing on the receive and transmit paths: a driver builds the
 * description only when asked, and an observer reads the ring memory and the
 * device's registers itself, from another thread, at its own (bounded) rate.
 *
 * @module
 */

import type { Mempool } from "./mempool.ts";

/** The descriptor format of a ring. */
export type RingKind = "ixgbe-rx" | "ixgbe-tx" | "virtio-rx" | "virtio-tx";

/** One descriptor ring as a driver describes it (see {@link RingIntrospection}). */
export interface RingDescription {
  /** Descriptor format and direction. */
  readonly kind: RingKind;
  /** Queue number (virtio: 0 = receive, 1 = transmit). */
  readonly queue: number;
  /** Number of descriptors. */
  readonly size: number;
  /** The DMA memory holding the ring (ixgbe: the descriptors; virtio: the whole virtqueue). */
  readonly memory: ArrayBufferLike;
  /** Bytes of {@link memory} the ring occupies, from offset 0. */
  readonly byteLength: number;
  /** The address the device uses for byte 0 of the ring. */
  readonly physAddr: number;
  /** ixgbe: BAR0 offsets of the head (device) and tail (driver) registers. */
  readonly registers?: { readonly head: number; readonly tail: number };
  /** virtio: byte offsets of the available and used rings in {@link memory}. */
  readonly virtqueue?: { readonly availOffset: number; readonly usedOffset: number };
  /** Receive rings: the mempool the driver refills them from. */
  readonly pool?: Mempool;
  /**
   * The driver's own position, which lives in a JavaScript field, not in
   * device-visible memory: RX the next descriptor (ixgbe) or used index
   * (virtio) it will look at; TX the oldest descriptor (ixgbe) or used index
   * (virtio) not yet cleaned. Call it from the driver's thread only.
   */
  readonly driverIndex: () => number;
}

/** A device whose driver can describe its rings. */
export interface RingIntrospection {
  /** Describes every RX and TX ring; allocates, so call it once, not per packet. */
  describeRings(): RingDescription[];
}

/** True if `dev` offers {@link RingIntrospection}. */
export function canDescribeRings(dev: object): dev is RingIntrospection {
  return typeof (dev as Partial<RingIntrospection>).describeRings === "function";
}
