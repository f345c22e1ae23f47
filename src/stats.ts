/**
 * Packet and byte counters, and the once-per-second line ixy prints:
 *
 *     [0000:00:10.0] RX: 0.00 Mbit/s 0.00 Mpps
 *     [0000:00:10.0] TX: 241.07 Mbit/s 0.36 Mpps
 *
 * Mbit/s counts what occupies the wire: the frame plus 20 bytes of preamble,
 * start delimiter and inter-frame gap (IEEE 802.3 clause 4.4.2), as ixy does.
 *
 * @module
 */

/** Counters of one device; drivers add to them in `readStats`. */
export class DeviceStats {
  /** Packets received. */
  rxPackets = 0;
  /** Packets sent. */
  txPackets = 0;
  /** Bytes received (frame bytes without the CRC unless the driver says otherwise). */
  rxBytes = 0;
  /** Bytes sent. */
  txBytes = 0;
  /** Frames the device dropped for want of a free receive buffer (when known). */
  rxMissed = 0;
  /** Frames the driver dropped as malformed (e.g. longer than a buffer). */
  rxErrors = 0;
  /**
   * Write-backs the driver ignored because no correct device makes them: a
   * virtio used-ring entry naming a descriptor the device does not hold, a
   * used index more than a ring away. Nonzero means a broken (or hostile)
   * device; see docs/performance.md, "A device that lies".
   */
  deviceErrors = 0;

  /** Copies all counters from `other` (for computing per-second differences). */
  copyFrom(other: DeviceStats): void {
    this.rxPackets = other.rxPackets;
    this.txPackets = other.txPackets;
    this.rxBytes = other.rxBytes;
    this.txBytes = other.txBytes;
    this.rxMissed = other.rxMissed;
    this.rxErrors = other.rxErrors;
    this.deviceErrors = other.deviceErrors;
  }
}

/** Mpps between two readings `nanos` nanoseconds apart. */
export function diffMpps(now: number, before: number, nanos: number): number {
  return (now - before) / 1e6 / (nanos / 1e9);
}

/** Mbit/s on the wire between two readings (adds 20 bytes/frame of framing). */
export function diffMbit(
  bytes: { now: number; before: number },
  packets: { now: number; before: number },
  nanos: number,
): number {
  const seconds = nanos / 1e9;
  const payloadMbit = ((bytes.now - bytes.before) / 1e6 / seconds) * 8;
  return payloadMbit + diffMpps(packets.now, packets.before, nanos) * 20 * 8;
}

/** The two lines (RX, TX) ixy prints for a device between two readings. */
export function formatStatsDiff(
  name: string,
  readings: { now: DeviceStats; before: DeviceStats },
  nanos: number,
): string {
  const { now, before } = readings;
  const line = (dir: "RX" | "TX") => {
    const rx = dir === "RX";
    const mbit = diffMbit(
      { now: rx ? now.rxBytes : now.txBytes, before: rx ? before.rxBytes : before.txBytes },
      {
        now: rx ? now.rxPackets : now.txPackets,
        before: rx ? before.rxPackets : before.txPackets,
      },
      nanos,
    );
    const mpps = rx
      ? diffMpps(now.rxPackets, before.rxPackets, nanos)
      : diffMpps(now.txPackets, before.txPackets, nanos);
    return `[${name}] ${dir}: ${mbit.toFixed(2)} Mbit/s ${mpps.toFixed(2)} Mpps`;
  };
  let text = `${line("RX")}\n${line("TX")}`;
  const missed = now.rxMissed - before.rxMissed;
  const errors = now.rxErrors - before.rxErrors;
  if (missed > 0 || errors > 0) text += `\n[${name}] RX missed: ${missed} errors: ${errors}`;
  const lies = now.deviceErrors - before.deviceErrors;
  if (lies > 0) text += `\n[${name}] device errors (bad write-backs ignored): ${lies}`;
  return text;
}
