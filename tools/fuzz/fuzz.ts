/**
 * A seeded fuzzer for the drivers' packet paths: a device that lies.
 *
 * One driver on one instant device (tools/bench/), whose ring side is played
 * by ./lying_devices.ts. Each step the device writes back a batch of
 * receive descriptors, the driver's `rxBatch` takes what it can, the frames
 * go straight back out through `txBatch` on the same port, and the device
 * completes the transmit descriptors. At random (seeded: the same seed gives
 * the same run) the device lies, in the ways its descriptor format allows.
 * The three Intel families share one loop ({@link INTEL}: a table of what
 * each format's bits mean); virtio's split virtqueue has its own.
 *
 * | fault                  | ixgbe (82599 7.1.6.2)   | igb (82576 7.1.5.2)   | e1000 (8254x SDM 3.2.3)          | virtio (1.1 2.6.8)                 |
 * |------------------------|-------------------------|-----------------------|----------------------------------|------------------------------------|
 * | length                 | 0, beyond the buffer    | 0, beyond the buffer  | 0, beyond the buffer             | used len < header + 1, beyond      |
 * | frame over descriptors | no EOP                  | no EOP                | no EOP                           | —                                  |
 * | error bits: drop       | RXE (bit 29)            | RXE (bit 31)          | CE, SE, SEQ, CXE, RXE (errors)   | —                                  |
 * | bits to ignore         | HBO, L4E, IPE           | HBO, L4E, IPE         | IXSM, VP, TCPCS, IPCS; TCPE, IPE | —                                  |
 * | random status word     | with DD                 | with DD               | with DD                          | —                                  |
 * | length word, bits 31:16| VLAN tag: ignored       | VLAN tag: ignored     | packet checksum: ignored         | —                                  |
 * | ids                    | —                       | —                     | —                                | out of range; one already returned |
 * | index jumps            | —                       | —                     | —                                | used.idx more than a ring away     |
 * | completion order       | write-backs out of order| same                  | same                             | used entries out of order          |
 * | transmit write-back    | DD late, garbage bits   | same                  | same (STA EC/LC, CSS, special)   | len garbage, bad ids, jumps, order |
 *
 * An Intel write-back is one status word the device writes last (DD in bit
 * 0, EOP in bit 1) and a length in bits 15:0 of another; nothing in it names
 * a buffer or a ring slot, so ids and index jumps are virtio's only. The
 * error bits to drop for are those that say the frame itself is bad; the
 * bits to ignore are results of offloads we do not use (checksums, header
 * split, VLAN stripping) or say there are none (IXSM): true or not, they
 * say nothing against the frame, and a driver that uses none of those
 * offloads must deliver it. Sources of the bit
 * positions: the 82599's extended error field (datasheet 7.1.6.2: IPE 31,
 * L4E 30, RXE 29, HBO 23), the 82576's (7.1.5.2, the field's bits 11:0 in
 * word bits 31:20: RXE 11, IPE 10, L4E 9, HBO 3), the 8254x's status and
 * errors bytes (SDM 3.2.3.1 status: DD 0, EOP 1, IXSM 2, VP 3, TCPCS 5,
 * IPCS 6; 3.2.3.2 errors, byte 1: CE 0, SE 1, SEQ 2, CXE 4, TCPE 5, IPE 6,
 * RXE 7). They are written here from the datasheets, not imported from the
 * drivers, so a wrong driver constant shows up as a failure.
 *
 * Faults are *detectable* (no correct device makes them: the driver must
 * count each in `rxErrors` or `deviceErrors`, once) or *benign* (allowed,
 * or indistinguishable from a correct device, or garbage the driver ignores:
 * the driver must just keep working — out-of-order completion is legal in
 * virtio; an Intel driver reads its ring in order whatever order the device
 * writes it in). The application side lies too: now and then a buffer with
 * a bad size goes to `txBatch`, which must take exactly the buffers before
 * it.
 *
 * Checked: no exception leaves `rxBatch`/`txBatch`; every frame handed out
 * has the length the device wrote for a good frame, in the order the device
 * completed them; detectable faults = counted faults; after a final drain
 * and `close()`, every receive buffer is back (see `Run.finish`). No
 * out-of-bounds access: every index the driver takes from the device is
 * checked against the ring before use, so the delivered-frames check would
 * catch a frame read from the wrong slot.
 *
 * @module
 */

import { InstantIxgbeDevice } from "../devices/instant_ixgbe.ts";
import { InstantIgbDevice } from "../devices/instant_igb.ts";
import { InstantE1000Device } from "../devices/instant_e1000.ts";
import { InstantVirtioDevice } from "../devices/instant_virtio.ts";
import { E1000_RING, IGB_RING, IXGBE_RING, LyingIntel, LyingVirtio } from "./lying_devices.ts";
import { IxgbeDevice } from "../../drivers/ixgbe/ixgbe.ts";
import { IgbDevice } from "../../drivers/igb/igb.ts";
import { E1000Device } from "../../drivers/e1000/e1000.ts";
import { VirtioDevice } from "../../drivers/virtio/virtio.ts";
import { VIRTIO_NET_HDR_SIZE, VIRTIO_NET_QUEUE } from "../../drivers/virtio/constants.ts";
import type { Mempool, PktBuf } from "../../src/mempool.ts";
import { DeviceStats } from "../../src/stats.ts";
import type { IxyDevice } from "../../src/device.ts";

/** The drivers the fuzzer knows, in the order `deno task fuzz` runs them. */
export const FUZZ_DRIVERS = ["ixgbe", "igb", "e1000", "virtio"] as const;

/** One of {@link FUZZ_DRIVERS}. */
export type FuzzDriver = typeof FUZZ_DRIVERS[number];

/** Options of {@link runFuzz}. */
export interface FuzzOptions {
  /** Which driver. */
  driver: FuzzDriver;
  /** Seed of the pseudo-random sequence (same seed, same run). */
  seed: number;
  /** Receive write-backs (good and bad frames) to make, at least. */
  packets: number;
  /** One fault per this many write-backs on average (default 8). */
  faultEvery?: number;
}

/** What a run did; {@link problems} is empty when the driver passed. */
export interface FuzzReport {
  /** The driver fuzzed. */
  driver: FuzzDriver;
  /** The seed (replay with the same one). */
  seed: number;
  /** Receive write-backs made (good and bad frames). */
  packets: number;
  /** Good frames the driver handed out (each checked). */
  delivered: number;
  /** Frames the driver took for sending. */
  sent: number;
  /** Faults injected in all. */
  injected: number;
  /** Of those, the ones no correct device makes: the driver must count each. */
  detectable: number;
  /** The driver's count: `rxErrors` + `deviceErrors`. */
  caught: number;
  /** Injected faults that are legal or indistinguishable from a correct device. */
  benign: number;
  /** Batches given to txBatch with a bad buffer size in them. */
  badTxSizes: number;
  /** Wall-clock milliseconds. */
  ms: number;
  /** What went wrong (empty: passed). */
  problems: string[];
}

/** xorshift32 (Marsaglia 2003): small, fast, seeded. */
class Rng {
  #x: number;
  constructor(seed: number) {
    this.#x = (seed >>> 0) || 0x9e3779b9;
  }
  /** The next 32 random bits as an unsigned number. */
  u32(): number {
    let x = this.#x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#x = x;
    return x >>> 0;
  }
  /** 0..n-1. */
  int(n: number): number {
    return this.u32() % n;
  }
}

/** A FIFO of numbers without allocation per element. */
class Fifo {
  #a = new Float64Array(1 << 16);
  #head = 0;
  #tail = 0;
  push(v: number): void {
    this.#a[this.#tail++ & 0xffff] = v;
  }
  shift(): number | undefined {
    return this.#head === this.#tail ? undefined : this.#a[this.#head++ & 0xffff];
  }
  get length(): number {
    return this.#tail - this.#head;
  }
}

/** Steps without progress after which a run counts as stalled (a correct driver needs 1 or 2). */
const STALL_STEPS = 1000;

/** Shared bookkeeping of one run. */
class Run {
  readonly rng: Rng;
  readonly report: FuzzReport;
  readonly faultEvery: number;
  /** Lengths of the good frames written back, in the order the driver must hand them out. */
  readonly expected = new Fifo();
  readonly bufs: PktBuf[] = new Array(256);
  /** Set at the first frame whose size was not the one expected. */
  #outOfStep = false;
  /** Steps in a row in which the device wrote nothing and the driver handed out nothing. */
  #idle = 0;

  constructor(options: FuzzOptions) {
    this.rng = new Rng(options.seed);
    this.faultEvery = options.faultEvery ?? 8;
    this.report = {
      driver: options.driver,
      seed: options.seed,
      packets: 0,
      delivered: 0,
      sent: 0,
      injected: 0,
      detectable: 0,
      caught: 0,
      benign: 0,
      badTxSizes: 0,
      ms: 0,
      problems: [],
    };
  }

  fault(): boolean {
    return this.rng.int(this.faultEvery) === 0;
  }

  detectable(): void {
    this.report.injected++;
    this.report.detectable++;
  }

  benign(): void {
    this.report.injected++;
    this.report.benign++;
  }

  problem(text: string): void {
    if (this.report.problems.length < 20) this.report.problems.push(text);
  }

  /** rxBatch, then check each frame against {@link expected}; returns n. */
  receive(drv: IxyDevice, count: number): number {
    const n = drv.rxBatch(0, this.bufs, count);
    for (let i = 0; i < n; i++) {
      const want = this.expected.shift();
      const size = this.bufs[i].size;
      if (want !== size && !this.#outOfStep) {
        // One frame too many or too few shifts every later one: report the first only.
        this.#outOfStep = true;
        this.problem(
          `frame ${this.report.delivered + i}: size ${size}, the device wrote ${want} ` +
            `(a bad frame delivered or a good one dropped; later frames not compared)`,
        );
      }
    }
    this.report.delivered += n;
    return n;
  }

  /**
   * False once the run is stuck: {@link STALL_STEPS} steps in a row without a
   * new write-back (`packetsBefore` = `report.packets` at the step's start)
   * or a frame handed out (`received`). A driver that stops taking
   * descriptors — its pool empty after a leak, say — would otherwise keep
   * the loop spinning for ever.
   */
  progressed(packetsBefore: number, received: number): boolean {
    if (this.report.packets > packetsBefore || received > 0) {
      this.#idle = 0;
      return true;
    }
    if (++this.#idle < STALL_STEPS) return true;
    this.problem(
      `stalled after ${this.report.packets} write-backs: for ${STALL_STEPS} steps the driver ` +
        `took no descriptor and handed out no frame (an empty mempool? a leak)`,
    );
    return false;
  }

  /**
   * txBatch of the n frames just received, sometimes with one bad size
   * among them; frees what was not taken.
   */
  send(drv: IxyDevice, n: number): void {
    const bufs = this.bufs;
    let bad = n;
    if (n > 0 && this.rng.int(64) === 0) {
      bad = this.rng.int(n);
      bufs[bad].size = this.rng.int(2) === 0 ? 0 : bufs[bad].data.length + 1 + this.rng.int(1000);
      this.report.badTxSizes++;
    }
    const sent = drv.txBatch(0, bufs, n);
    if (sent > bad) this.problem(`txBatch took ${sent} buffers, the one at ${bad} has a bad size`);
    for (let i = sent; i < n; i++) bufs[i].pool.free(bufs[i]);
    this.report.sent += sent;
  }

  /**
   * Final checks: counts, and every receive buffer back. After the drain the
   * application holds none; `close()` frees the transmit ring's. The receive
   * ring's buffers either stay with the closed device (then the pool has
   * `free0` free, as right after bring-up) or come back too (then it is
   * full): both are right, drivers differ (igb and e1000 give them back).
   * Anything else is a leak or a double free.
   */
  finish(drv: IxyDevice, pool: Mempool, free0: number, started: number): FuzzReport {
    const stats = new DeviceStats();
    drv.readStats(stats);
    drv.close();
    const r = this.report;
    r.caught = stats.rxErrors + stats.deviceErrors;
    if (r.caught !== r.detectable) {
      this.problem(`${r.detectable} detectable faults injected, the driver counted ${r.caught}`);
    }
    if (this.expected.length !== 0) {
      this.problem(`${this.expected.length} good frames were never handed out`);
    }
    const free = pool.freeCount;
    if (free !== free0 && free !== pool.numEntries) {
      this.problem(
        `mempool: ${free} free after close(), expected ${free0} (ring kept) or ` +
          `${pool.numEntries} (all back): a leak or a double free`,
      );
    }
    r.ms = performance.now() - started;
    return r;
  }
}

/** Runs the fuzzer; never throws for a driver failure (it lands in `problems`) except an escape. */
export function runFuzz(options: FuzzOptions): FuzzReport {
  const run = new Run(options);
  try {
    return options.driver === "virtio"
      ? fuzzVirtio(run, options.packets)
      : fuzzIntel(run, INTEL[options.driver], options.packets);
  } catch (e) {
    run.problem(`exception escaped the driver: ${(e as Error).stack ?? e}`);
    run.report.ms = NaN;
    return run.report;
  }
}

/**
 * What the fuzzer needs to know of one Intel family: how to bring it up, and
 * what the bits of its receive status word mean (module documentation:
 * sources). DD is bit 0 and EOP bit 1 in all three formats; transmit DD is
 * bit 0 of the transmit write-back word (82599 7.2.3.2.4, 82576 7.2.2,
 * 8254x 3.3.3).
 */
interface IntelFamily {
  /** The driver, attached to a fresh instant device, and the device's side of its rings. */
  open(): { drv: IxyDevice; pool: Mempool; lie: LyingIntel };
  /** Bits that mark the frame bad: the driver must drop it and count it. */
  frameErrors: readonly number[];
  /** Bits of offloads we leave off: the driver must ignore them (deliver the frame). */
  ignored: readonly number[];
}

const DD = 1 << 0;
const EOP = 1 << 1;
const TX_DD = 1 << 0;

/** The Intel families, with the bits of their receive write-back. */
const INTEL: Record<Exclude<FuzzDriver, "virtio">, IntelFamily> = {
  ixgbe: {
    open() {
      const dev = new InstantIxgbeDevice();
      const drv = IxgbeDevice.attach(dev, dev.dma, { name: "fuzz-ixgbe", linkTimeoutMs: 0 });
      return { drv, pool: drv.rxMempool(0), lie: new LyingIntel(dev, IXGBE_RING) };
    },
    // 82599 7.1.6.2, extended error field: RXE (bit 29) is "a MAC error".
    frameErrors: [1 << 29],
    // IPE (31), L4E (30): checksum offload results; HBO (23): header split.
    ignored: [1 << 31, 1 << 30, 1 << 23],
  },
  igb: {
    open() {
      const dev = new InstantIgbDevice();
      const drv = IgbDevice.attach(dev, dev.dma, { name: "fuzz-igb", linkTimeoutMs: 0 });
      return { drv, pool: drv.rxMempool(0), lie: new LyingIntel(dev, IGB_RING) };
    },
    // 82576 7.1.5.2, extended error field (word bits 31:20): RXE, its bit 11.
    frameErrors: [1 << 31],
    // IPE (its bit 10), L4E (9): checksum offload results; HBO (3): header split.
    ignored: [1 << 30, 1 << 29, 1 << 23],
  },
  e1000: {
    open() {
      const dev = new InstantE1000Device();
      const drv = E1000Device.attach(dev, dev.dma, { name: "fuzz-e1000", linkTimeoutMs: 0 });
      return { drv, pool: drv.rxMempool(0), lie: new LyingIntel(dev, E1000_RING) };
    },
    // 8254x SDM 3.2.3.2, errors byte (bits 15:8): CE, SE, SEQ, CXE, RXE.
    frameErrors: [1 << 8, 1 << 9, 1 << 10, 1 << 12, 1 << 15],
    // 3.2.3.1 status: IXSM (2), VP (3), TCPCS (5), IPCS (6); 3.2.3.2: TCPE
    // (13), IPE (14) — checksum offload and VLAN results.
    ignored: [1 << 2, 1 << 3, 1 << 5, 1 << 6, 1 << 13, 1 << 14],
  },
};

function fuzzIntel(run: Run, family: IntelFamily, packets: number): FuzzReport {
  const started = performance.now();
  const { drv, pool, lie } = family.open();
  const free0 = pool.freeCount;
  const dataLen = pool.buffers[0].data.length;
  const rng = run.rng;
  const r = run.report;
  let frameErrorMask = 0;
  for (const bit of family.frameErrors) frameErrorMask |= bit;
  const pick = (bits: readonly number[]) => bits[rng.int(bits.length)];
  // Write-backs held back to be written after later ones (descriptor order).
  const heldRx: number[] = [];
  const heldTx: number[] = [];
  let inFrame = false; // the previous descriptor (ring order) had no EOP
  const flushRx = () => {
    while (heldRx.length > 0) {
      const length = heldRx.pop()!;
      const status = heldRx.pop()!;
      lie.writeBackRx(heldRx.pop()!, status, length);
    }
  };
  while (r.packets < packets) {
    const before = r.packets;
    const batch = 1 + rng.int(64);
    for (let k = 0; k < batch; k++) {
      const d = lie.takeRx();
      if (d < 0) break;
      r.packets++;
      let status = DD | EOP;
      let length = 1 + rng.int(dataLen);
      const faulted = run.fault();
      if (faulted) {
        switch (rng.int(7)) {
          case 0:
            length = 0;
            break;
          case 1:
            length = dataLen + 1 + rng.int(0x10000 - dataLen - 1);
            break;
          case 2:
            status = DD; // no EOP: a frame over several descriptors
            break;
          case 3:
            status |= pick(family.frameErrors);
            break;
          case 4:
            status |= pick(family.ignored);
            break;
          case 5:
            status = (rng.u32() | DD) >>> 0;
            break;
          default:
            length = (length | (rng.u32() << 16)) >>> 0; // VLAN tag / checksum: ignored
        }
      }
      const eop = (status & EOP) !== 0;
      const len16 = length & 0xffff;
      const bad = !eop || (status & frameErrorMask) !== 0 || len16 === 0 || len16 > dataLen;
      // The driver counts a bad frame once, at its first descriptor; the rest
      // of a frame whose first descriptor had no EOP is dropped silently.
      if (bad && !inFrame) run.detectable();
      else if (faulted) run.benign();
      if (!bad && !inFrame) run.expected.push(len16);
      inFrame = !eop;
      if (rng.int(run.faultEvery * 4) === 0) {
        run.benign();
        heldRx.push(d, status, length); // written after the rest of this batch
      } else {
        lie.writeBackRx(d, status, length);
      }
    }
    flushRx();
    const n = run.receive(drv, 1 + rng.int(64));
    run.send(drv, n);
    if (!run.progressed(before, n)) break;
    // Transmit write-backs: DD, sometimes with garbage bits, sometimes late.
    for (let d; (d = lie.takeTx()) >= 0;) {
      if (run.fault()) {
        run.benign();
        if (rng.int(2) === 0) heldTx.push(d);
        else lie.writeBackTx(d, (rng.u32() | TX_DD) >>> 0);
      } else {
        lie.writeBackTx(d, TX_DD);
      }
    }
    if (heldTx.length > 0 && rng.int(4) === 0) {
      for (const d of heldTx) lie.writeBackTx(d, TX_DD);
      heldTx.length = 0;
    }
  }
  // Drain: whatever is written back goes out; every transmit descriptor done.
  for (let n; (n = run.receive(drv, 64)) > 0;) run.send(drv, n);
  for (const d of heldTx) lie.writeBackTx(d, TX_DD);
  for (let d; (d = lie.takeTx()) >= 0;) lie.writeBackTx(d, TX_DD);
  return run.finish(drv, pool, free0, started);
}

const RX = VIRTIO_NET_QUEUE.RX;
const TX = VIRTIO_NET_QUEUE.TX;

function fuzzVirtio(run: Run, packets: number): FuzzReport {
  const started = performance.now();
  const dev = new InstantVirtioDevice();
  const drv = VirtioDevice.open(dev.pciFunction("fuzz-virtio"));
  const lie = new LyingVirtio(dev);
  const pool = drv.rxMempool();
  const free0 = pool.freeCount;
  const dataLen = pool.buffers[0].data.length;
  const hdr = VIRTIO_NET_HDR_SIZE;
  const size = lie.size(RX);
  const rng = run.rng;
  const r = run.report;
  // One step's used entries before they are written: [id, len, good?].
  const ids: number[] = [];
  const lens: number[] = [];
  const good: boolean[] = [];
  const shuffle = () => {
    for (let i = ids.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [ids[i], ids[j]] = [ids[j], ids[i]];
      [lens[i], lens[j]] = [lens[j], lens[i]];
      [good[i], good[j]] = [good[j], good[i]];
    }
  };
  const put = (q: number, pushExpected: boolean) => {
    for (let i = 0; i < ids.length; i++) {
      lie.put(q, ids[i], lens[i]);
      if (pushExpected && good[i]) run.expected.push(lens[i] - hdr);
    }
    ids.length = lens.length = good.length = 0;
  };
  /** Used entries that name no descriptor the device holds (after the real ones). */
  const bogus = (q: number, taken: number) => {
    if (!run.fault()) return;
    run.detectable();
    const dup = taken > 0 && rng.int(2) === 0;
    ids.push(dup ? ids[rng.int(taken)] : size + rng.int(0x1_0000_0000 - size));
    lens.push(q === RX ? hdr + 1 + rng.int(dataLen) : rng.u32());
    good.push(false);
  };
  /** Publishes a used.idx more than a ring away, lets `poke` see it, then the truth. */
  const jump = (q: number, pending: number, poke: () => void) => {
    if (rng.int(run.faultEvery * 8) !== 0) return;
    run.detectable();
    const p = size + 1 + rng.int(0x10000 - size - 1); // what the driver will think is pending
    lie.publishJump(q, p - pending);
    poke();
    lie.publish(q);
  };
  while (r.packets < packets) {
    const before = r.packets;
    const batch = 1 + rng.int(64);
    for (let k = 0; k < batch; k++) {
      const id = lie.take(RX);
      if (id < 0) break;
      r.packets++;
      let len = hdr + 1 + rng.int(dataLen);
      let ok = true;
      if (run.fault()) {
        run.detectable();
        ok = false;
        len = rng.int(2) === 0
          ? rng.int(hdr + 1)
          : hdr + dataLen + 1 + rng.int(0xffff_ffff - hdr - dataLen);
      }
      ids.push(id);
      lens.push(len);
      good.push(ok);
    }
    const taken = ids.length;
    if (taken > 1 && run.fault()) {
      run.benign();
      shuffle();
    }
    bogus(RX, taken);
    const entries = ids.length;
    put(RX, true);
    jump(RX, entries, () => {
      if (drv.rxBatch(0, run.bufs, 64) !== 0) {
        run.problem("rxBatch took frames behind a bad used.idx");
      }
    });
    lie.publish(RX);
    // 128 > the most good frames of a step (64): every entry written is
    // consumed now, so a duplicate id is seen while its original is still
    // unpublished (Virtqueue.deviceOwns) — exactly one count per fault.
    const n = run.receive(drv, 128);
    run.send(drv, n);
    if (!run.progressed(before, n)) break;
    // Transmit: every available descriptor comes back, len garbage, sometimes reordered.
    for (let id; (id = lie.take(TX)) >= 0;) {
      ids.push(id);
      lens.push(rng.u32());
      good.push(true);
    }
    const sent = ids.length;
    if (sent > 0) run.benign(); // tx len: ignored
    if (sent > 1 && run.fault()) {
      run.benign();
      shuffle();
    }
    bogus(TX, sent);
    const txEntries = ids.length;
    put(TX, false);
    jump(TX, txEntries, () => drv.txBatch(0, run.bufs, 0));
    lie.publish(TX);
  }
  // Drain: the last frames go out, every transmit descriptor comes back.
  for (let n; (n = run.receive(drv, 128)) > 0;) run.send(drv, n);
  for (let id; (id = lie.take(TX)) >= 0;) lie.put(TX, id, 0);
  lie.publish(TX);
  return run.finish(drv, pool, free0, started);
}
