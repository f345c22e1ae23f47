/**
 * The e1000 driver for the Intel 82540EM / 82545EM gigabit controllers —
 * QEMU's default NIC (`-device e1000`) and VirtualBox's "PRO/1000 MT
 * Desktop". Read {@link E1000Device.attach} first: it brings the NIC up in
 * the order of chapter 14 "General Initialization and Reset Operation" of the
 * "PCI/PCI-X Family of Gigabit Ethernet Controllers Software Developer's
 * Manual" (8254x SDM, rev. 4.0), each step citing its section.
 *
 * Compared with the 82599 (drivers/ixgbe/ixgbe.ts) the 8254x is the simpler
 * ancestor: one receive and one transmit queue, no per-queue enable bits
 * (RCTL.EN / TCTL.EN switch the whole direction), and "legacy" descriptors:
 * 16 bytes like the 82599's advanced ones, but one layout for both what we
 * write and what the device writes back (3.2.3, 3.3.3). The ring protocol is
 * the same: the device owns the descriptors from head to tail, we move the
 * tail (the "doorbell" register write), the device moves the head and sets
 * DD ("descriptor done") in each descriptor it finished.
 *
 * Interrupts: not offered ({@link E1000Device.interrupts} stays undefined).
 * The 82540EM has only the legacy INTx pin (no MSI-X; QEMU's model has no MSI
 * capability either), and our interrupt path (src/interrupts.ts) is MSI-X
 * through VFIO, one eventfd per queue. INTx through VFIO is possible but
 * level-triggered: VFIO masks the line on each interrupt and the driver must
 * read ICR and unmask it again through another ioctl — a second mechanism
 * for one NIC family. Apps fall back to polling, as with any NIC opened
 * without VFIO.
 *
 * The packet path — the rings — is in ./rx.ts and ./tx.ts, as the 82599's
 * (drivers/ixgbe/); this file brings the device up, reads counters and stops
 * it.
 *
 * JavaScript notes: descriptors are words of a `Uint32Array` over the ring
 * memory, 64-bit addresses are written as two 32-bit halves (no BigInt), and
 * the word the device writes last (status, with DD) is read with a plain
 * load, which is as volatile as C's here and cheaper than `Atomics.load`
 * (drivers/ixgbe/rx.ts, rxBatch). The packet path allocates nothing.
 *
 * @module
 */

import {
  type DeviceOptions,
  type IxyDevice,
  macFromReceiveAddress,
  type PciFunction,
} from "../../src/device.ts";
import { type DmaAllocator, hi32, lo32 } from "../../src/memory.ts";
import type { DeviceStats } from "../../src/stats.ts";
import type { PciDevice } from "../../src/pci.ts";
import { Mempool, type PktBuf } from "../../src/mempool.ts";
import { IxyError } from "../../src/error.ts";
import { post, rxBatch, RxQueue } from "./rx.ts";
import { cleanTx, freeAll, txBatch, TxQueue } from "./tx.ts";
import {
  clearFlags32,
  type RegisterSpace,
  setFlags32,
  sleepMicros,
  waitForFlags32,
} from "../../src/mmio.ts";
import {
  E1000_CTRL,
  E1000_CTRL_BITS,
  E1000_DESC_SIZE,
  E1000_EERD,
  E1000_EERD_BITS,
  E1000_GORCH,
  E1000_GORCL,
  E1000_GOTCH,
  E1000_GOTCL,
  E1000_GPRC,
  E1000_GPTC,
  E1000_ICR,
  E1000_IMC,
  E1000_IMC_ALL,
  E1000_MPC,
  E1000_MTA,
  E1000_MTA_SIZE,
  E1000_RAH,
  E1000_RAH_AV,
  E1000_RAL,
  E1000_RCTL,
  E1000_RCTL_BITS,
  E1000_RDBAH,
  E1000_RDBAL,
  E1000_RDH,
  E1000_RDLEN,
  E1000_RDT,
  E1000_RDTR,
  E1000_STATUS,
  E1000_STATUS_BITS,
  E1000_TCTL,
  E1000_TCTL_BITS,
  E1000_TDBAH,
  E1000_TDBAL,
  E1000_TDH,
  E1000_TDLEN,
  E1000_TDT,
  E1000_TIPG,
  E1000_TIPG_BITS,
} from "./constants.ts";

/** Default descriptors per ring (as the ixgbe driver; Linux's e1000 uses 256). */
const DEFAULT_RING_SIZE = 512;
/** Receive buffers per receive descriptor (the app may hold some while we refill). */
const RX_POOL_FACTOR = 4;
/** The CRC that GORC/GOTC count (13.7) but the device strips (RCTL.SECRC) / appends for us. */
const CRC_BYTES = 4;

/** Options of the e1000 driver on top of the common {@link DeviceOptions}. */
export interface E1000Options extends DeviceOptions {
  /** Descriptors per transmit ring: a power of two, 8..4096 (default 512). */
  txRingSize?: number;
  /** How long bring-up waits for the link (default 10000 ms); not an error if it stays down. */
  linkTimeoutMs?: number;
}

/** The hardware counters of one read. */
interface Counters {
  rxPackets: number;
  txPackets: number;
  rxBytes: number;
  txBytes: number;
  rxMissed: number;
}

const NO_COUNTS: Counters = { rxPackets: 0, txPackets: 0, rxBytes: 0, txBytes: 0, rxMissed: 0 };

/** Returns every buffer on receive ring `q` to its pool (the device is reset: they are ours). */
function freeRing(q: RxQueue): void {
  for (let i = 0; i < q.size; i++) {
    const buf = q.bufs[i];
    if (buf !== undefined) q.pool.free(buf);
    q.bufs[i] = undefined;
  }
}

/** An Intel 82540EM or 82545EM NIC. */
export class E1000Device implements IxyDevice {
  /** Always `"e1000"`. */
  readonly driverName = "e1000";
  /** PCI address of the NIC. */
  readonly pciAddress: string;
  /** Always 1: the 8254x has one receive queue. */
  readonly numRxQueues = 1;
  /** Always 1: the 8254x has one transmit queue. */
  readonly numTxQueues = 1;
  /** Never set: see the module documentation (INTx only, no MSI-X). */
  readonly interrupts: undefined = undefined;

  #regs: RegisterSpace;
  #dma: DmaAllocator;
  #rx!: RxQueue;
  #tx!: TxQueue;
  #rxRingSize: number;
  #txRingSize: number;
  // Counters read just before the reset of close(), for the next readStats.
  #atClose: Counters | undefined;
  #closed = false;
  // The PCI function from ixyInit (undefined for a device from attach).
  #function?: PciFunction;

  private constructor(
    regs: RegisterSpace,
    dma: DmaAllocator,
    options: E1000Options & { name: string },
  ) {
    this.#regs = regs;
    this.#dma = dma;
    this.pciAddress = options.name;
    for (const [what, n] of [["RX", options.rxQueues], ["TX", options.txQueues]] as const) {
      if (n !== undefined && n !== 1) {
        throw new IxyError(
          `Cannot set up ${n} ${what} queues on an e1000 (${options.name}): the 8254x has one ` +
            `queue per direction. Use 1 (or an igb / ixgbe NIC for more).`,
        );
      }
    }
    this.#rxRingSize = checkRingSize("rxRingSize", options.rxRingSize ?? DEFAULT_RING_SIZE);
    this.#txRingSize = checkRingSize("txRingSize", options.txRingSize ?? DEFAULT_RING_SIZE);
  }

  /**
   * Brings up the 8254x at `pci` (identified, taken from the kernel, bus
   * master on; as root through sysfs or as a normal user through VFIO):
   * maps BAR0, the memory-mapped registers, and calls {@link attach} with
   * the function's DMA memory (IOMMU-mapped over VFIO: the 8254x is a plain
   * bus master, its DMA goes through the IOMMU).
   */
  static open(pci: PciFunction, options: E1000Options = {}): E1000Device {
    const dev = E1000Device.attach(pci.mapMemoryBar(0), pci.dmaAllocator(), {
      ...options,
      name: pci.address,
    });
    dev.#function = pci;
    return dev;
  }

  /**
   * BAR0, for the register-level checks of tools/selftest.ts (PHY loopback
   * and the EEPROM checksum, ./selftest.ts) on a device this driver brought
   * up; apps never need it.
   */
  get registers(): RegisterSpace {
    return this.#regs;
  }

  /** The PCI function behind the device (for `--rebind`); undefined without ixyInit. */
  get pci(): PciDevice | undefined {
    return this.#function?.pci;
  }

  /**
   * Brings up an 8254x reached through `regs` (its BAR0), with rings and
   * buffers from `dma`, in the order of SDM chapter 14: reset (14.2 / 13.4.1),
   * general configuration (14.3), statistics (14.6), receive (14.4) and
   * transmit (14.5) initialisation, then the link.
   */
  static attach(
    regs: RegisterSpace,
    dma: DmaAllocator,
    options: E1000Options & { name: string },
  ): E1000Device {
    const dev = new E1000Device(regs, dma, options);
    dev.#resetAndInit(options.linkTimeoutMs ?? 10_000);
    return dev;
  }

  #resetAndInit(linkTimeoutMs: number): void {
    const regs = this.#regs;
    // Quiesce first, as Linux's e1000_reset_hw does: mask every interrupt
    // (IMC, 13.4.21), stop receive and transmit DMA (RCTL.EN / TCTL.EN), and
    // give transfers in flight a moment — a kernel driver may have left the
    // NIC running.
    this.#stopDma();
    // 14.2 / 13.4.1: global reset (CTRL.RST). It clears itself; the SDM asks
    // for at least 1 µs before the next register access, Linux waits 5 ms
    // for the EEPROM reload that follows (it sets RAL/RAH(0) to the MAC).
    // QEMU's model (10.0) only clears the bit: RDBAL, RCTL.EN and the rest
    // keep their values (checked in the lab VM). So we never rely on reset
    // values: #stopDma above stops the DMA, and every register we need is
    // written below.
    setFlags32(regs, E1000_CTRL, E1000_CTRL_BITS.RST);
    sleepMicros(5_000);
    waitForFlags32(regs, E1000_CTRL, E1000_CTRL_BITS.RST, false, {
      what: `${this.pciAddress}: end of reset (CTRL.RST)`,
    });
    // The reset unmasks nothing on the 8254x, but mask and clear (ICR reads
    // clear, 13.4.17) once more in case a cause latched in between.
    regs.write32(E1000_IMC, E1000_IMC_ALL);
    regs.read32(E1000_ICR);

    // 14.3 "General Configuration": CTRL.SLU (the MAC follows the internal
    // PHY's link) and CTRL.ASDE (and its speed); ILOS, PHY_RST and VME off.
    // Auto-negotiation is on in the PHY after reset; nothing to do over MDIO.
    const ctrl = regs.read32(E1000_CTRL);
    regs.write32(
      E1000_CTRL,
      ((ctrl | E1000_CTRL_BITS.SLU | E1000_CTRL_BITS.ASDE) &
        ~(E1000_CTRL_BITS.ILOS | E1000_CTRL_BITS.PHY_RST | E1000_CTRL_BITS.VME)) >>> 0,
    );

    // 14.6 "Statistics": the counters clear on read, so reading them once
    // starts them from zero (a reset may not clear them all).
    this.#readCounters();

    this.#initRx();
    this.#initTx();

    // Promiscuous by default (as ixy): makes testing less surprising.
    this.setPromisc(true);
    this.#waitForLink(linkTimeoutMs);
  }

  /** Masks all interrupts (IMC) and turns receive and transmit off (RCTL.EN, TCTL.EN), then waits 10 ms. */
  #stopDma(): void {
    const regs = this.#regs;
    regs.write32(E1000_IMC, E1000_IMC_ALL);
    regs.write32(E1000_RCTL, 0);
    regs.write32(E1000_TCTL, 0);
    sleepMicros(10_000);
  }

  /** 14.4 "Receive Initialization", one legacy-descriptor ring. */
  #initRx(): void {
    const regs = this.#regs;
    // Receive address 0 (RAL/RAH(0), 13.4.30) holds our MAC after the
    // EEPROM reload; if it does not (RAH.AV clear), load it from the EEPROM
    // ourselves — 14.4: "program the Receive Address Register(s)".
    if ((regs.read32(E1000_RAH(0)) & E1000_RAH_AV) === 0) this.#macFromEeprom();
    // 14.4: "Initialize the MTA (Multicast Table Array) to 0b" — no
    // multicast filter; MPE (promiscuous) or nothing.
    for (let i = 0; i < E1000_MTA_SIZE; i++) regs.write32(E1000_MTA(i), 0);

    // The descriptor ring (3.2.6): base (RDBAL/RDBAH, 13.4.23-24; 16-byte
    // aligned, a fresh DMA block is), length in bytes (RDLEN, 13.4.25; a
    // multiple of 128, i.e. of 8 descriptors).
    const bytes = this.#rxRingSize * E1000_DESC_SIZE;
    const mem = this.#dma.allocate(bytes, { contiguous: true });
    const desc = new Uint32Array(mem.buffer, 0, bytes / 4);
    const phys = mem.physAddr(0);
    regs.write32(E1000_RDBAL, lo32(phys));
    regs.write32(E1000_RDBAH, hi32(phys));
    regs.write32(E1000_RDLEN, bytes);
    // No receive interrupt delay (RDTR, 13.4.28): we poll.
    regs.write32(E1000_RDTR, 0);
    // ixy's pool size: enough for the ring and a batch held by the app.
    const pool = Mempool.create(this.#dma, { numEntries: this.#rxRingSize * RX_POOL_FACTOR });
    const rx = new RxQueue(regs, desc, this.#rxRingSize, pool);
    for (let d = 0; d < rx.size; d++) {
      const buf = pool.alloc();
      if (buf === undefined) throw new IxyError(`${this.pciAddress}: RX mempool too small.`);
      post(rx, d, buf);
    }
    this.#rx = rx;
    // 14.4: head 0, tail "one beyond the last valid descriptor": the device
    // may fill RDH..RDT-1, so RDT = size - 1 hands it all descriptors but
    // one (RDH = RDT would mean "none for the device").
    regs.write32(E1000_RDH, 0);
    regs.write32(E1000_RDT, rx.size - 1);

    // 14.4, RCTL (13.4.22), written last since EN starts receiving:
    // broadcasts accepted (BAM), CRC stripped (SECRC: lengths and data end
    // before the CRC, as on our other NICs), 2048-byte buffers (BSIZE 00,
    // BSEX 0) with LPE = 0 so every frame (at most 1522 bytes) fits in one;
    // SBP = 0 drops bad frames; no loopback (LBM 00).
    // Our mempool's data area is 2048 - 64 = 1984 bytes: room for 1522.
    regs.write32(
      E1000_RCTL,
      E1000_RCTL_BITS.EN | E1000_RCTL_BITS.BAM | E1000_RCTL_BITS.SECRC |
        E1000_RCTL_BITS.BSIZE_2048,
    );
  }

  /** 14.5 "Transmit Initialization", one legacy-descriptor ring. */
  #initTx(): void {
    const regs = this.#regs;
    // The ring (3.3.6): TDBAL/TDBAH/TDLEN (13.4.38-40), head = tail = 0
    // (TDH/TDT, 13.4.41-42): empty.
    const bytes = this.#txRingSize * E1000_DESC_SIZE;
    const mem = this.#dma.allocate(bytes, { contiguous: true });
    const desc = new Uint32Array(mem.buffer, 0, bytes / 4);
    desc.fill(0);
    const phys = mem.physAddr(0);
    regs.write32(E1000_TDBAL, lo32(phys));
    regs.write32(E1000_TDBAH, hi32(phys));
    regs.write32(E1000_TDLEN, bytes);
    regs.write32(E1000_TDH, 0);
    regs.write32(E1000_TDT, 0);
    this.#tx = new TxQueue(regs, desc, this.#txRingSize);
    // Inter-packet gap (TIPG, 13.4.34).
    const T = E1000_TIPG_BITS;
    regs.write32(
      E1000_TIPG,
      T.IPGT | (T.IPGR1 << T.IPGR1_SHIFT) | (T.IPGR2 << T.IPGR2_SHIFT),
    );
    // 14.5, TCTL (13.4.33): enable, pad short frames (PSP), collision
    // threshold 0x0F and distance 0x40 (full duplex; both only matter in half
    // duplex).
    regs.write32(
      E1000_TCTL,
      E1000_TCTL_BITS.EN | E1000_TCTL_BITS.PSP | (0x0f << E1000_TCTL_BITS.CT_SHIFT) |
        (0x40 << E1000_TCTL_BITS.COLD_SHIFT),
    );
  }

  /**
   * Reads the MAC address from EEPROM words 0..2 (5.6.1 "Ethernet Address")
   * through EERD (13.4.4) and writes it to RAL/RAH(0) with AV set.
   */
  #macFromEeprom(): void {
    const words: number[] = [];
    for (let addr = 0; addr < 3; addr++) {
      this.#regs.write32(
        E1000_EERD,
        E1000_EERD_BITS.START | (addr << E1000_EERD_BITS.ADDR_SHIFT),
      );
      waitForFlags32(this.#regs, E1000_EERD, E1000_EERD_BITS.DONE, true, {
        what: `${this.pciAddress}: EEPROM read of word ${addr} (EERD.DONE)`,
      });
      words.push(this.#regs.read32(E1000_EERD) >>> E1000_EERD_BITS.DATA_SHIFT);
    }
    // Each word holds two MAC bytes, the first in the low byte.
    this.#regs.write32(E1000_RAL(0), (words[0] | (words[1] << 16)) >>> 0);
    this.#regs.write32(E1000_RAH(0), (words[2] | E1000_RAH_AV) >>> 0);
  }

  /** Polls STATUS.LU every 10 ms until the link is up or `timeoutMs` passed (as ixy: not fatal). */
  #waitForLink(timeoutMs: number): void {
    const deadline = performance.now() + timeoutMs;
    while (this.getLinkSpeed() === 0 && performance.now() < deadline) sleepMicros(10_000);
  }

  /**
   * Receives up to `count` packets: {@link rxBatch} of ./rx.ts on the
   * receive ring (3.2). Malformed write-backs are dropped there and counted
   * in `rxErrors`.
   */
  rxBatch(queueId: number, bufs: PktBuf[], count: number): number {
    if (queueId !== 0) throw this.#badQueue("RX", queueId);
    return rxBatch(this.#rx, bufs, count);
  }

  /**
   * Sends `bufs[0..count)`: {@link txBatch} of ./tx.ts on the transmit ring
   * (3.3); returns how many it took.
   */
  txBatch(queueId: number, bufs: PktBuf[], count: number): number {
    if (queueId !== 0) throw this.#badQueue("TX", queueId);
    return txBatch(this.#tx, bufs, count);
  }

  /**
   * Adds the device's counters (13.7, all clear on read) to `stats`.
   * GORC/GOTC count each frame's 4-byte CRC; we subtract it, so the byte
   * counts match the frames the application sent and received. `rxMissed`
   * is MPC (no free descriptor or receive FIFO full); `rxErrors` are the
   * frames we dropped.
   */
  readStats(stats: DeviceStats): void {
    // After close() the counters come from just before its reset, once.
    const c = this.#closed ? this.#atClose ?? NO_COUNTS : this.#readCounters();
    this.#atClose = undefined;
    stats.rxPackets += c.rxPackets;
    stats.txPackets += c.txPackets;
    stats.rxBytes += c.rxBytes - CRC_BYTES * c.rxPackets;
    stats.txBytes += c.txBytes - CRC_BYTES * c.txPackets;
    stats.rxMissed += c.rxMissed;
    stats.rxErrors += this.#rx.errors;
    this.#rx.errors = 0;
  }

  /** Reads (and so clears) the hardware counters. */
  #readCounters(): Counters {
    const r = this.#regs;
    const rxPackets = r.read32(E1000_GPRC);
    const txPackets = r.read32(E1000_GPTC);
    // Low half first: reading the high half clears the whole 64-bit counter (13.7).
    const rxBytes = r.read32(E1000_GORCL) + r.read32(E1000_GORCH) * 2 ** 32;
    const txBytes = r.read32(E1000_GOTCL) + r.read32(E1000_GOTCH) * 2 ** 32;
    const rxMissed = r.read32(E1000_MPC);
    return { rxPackets, txPackets, rxBytes, txBytes, rxMissed };
  }

  /** Unicast and multicast promiscuous mode (RCTL.UPE / MPE, 13.4.22). */
  setPromisc(enabled: boolean): void {
    const bits = E1000_RCTL_BITS.UPE | E1000_RCTL_BITS.MPE;
    if (enabled) setFlags32(this.#regs, E1000_RCTL, bits);
    else clearFlags32(this.#regs, E1000_RCTL, bits);
  }

  /** Link speed from STATUS (13.4.2): 10, 100 or 1000 Mbit/s, 0 while the link is down. */
  getLinkSpeed(): number {
    const status = this.#regs.read32(E1000_STATUS);
    if ((status & E1000_STATUS_BITS.LU) === 0) return 0;
    switch ((status >>> E1000_STATUS_BITS.SPEED_SHIFT) & E1000_STATUS_BITS.SPEED_MASK) {
      case 0:
        return 10;
      case 1:
        return 100;
      default:
        return 1000; // 10b and 11b both mean 1000 Mbit/s
    }
  }

  /** The MAC address in receive address 0 (RAL/RAH(0), 13.4.30), loaded from the EEPROM. */
  getMacAddress(): Uint8Array {
    return macFromReceiveAddress(this.#regs.read32(E1000_RAL(0)), this.#regs.read32(E1000_RAH(0)));
  }

  /**
   * Waits up to 100 ms until the device has fetched every queued TX
   * descriptor (TDH = TDT) and frees the sent buffers; then turns receive
   * and transmit off, resets the device (13.4.1), which stops all its DMA
   * into our memory, and returns every buffer still on a ring to its pool.
   * The counters read just before the reset reach the next readStats.
   * Last, Bus Master Enable goes off. Calling it twice does nothing the
   * second time.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const q = this.#tx;
    const deadline = performance.now() + 100;
    while (this.#regs.read32(E1000_TDH) !== q.txIndex && performance.now() < deadline) {
      sleepMicros(100);
    }
    cleanTx(q, 1);
    // RCTL.EN / TCTL.EN off is what stops DMA on QEMU's model, whose CTRL.RST
    // resets nothing (see #resetAndInit); on the chip the reset does too.
    this.#stopDma();
    // The reset clears the statistics (13.7): keep what they counted for the
    // app's final readStats.
    this.#atClose = this.#readCounters();
    setFlags32(this.#regs, E1000_CTRL, E1000_CTRL_BITS.RST);
    sleepMicros(5_000);
    waitForFlags32(this.#regs, E1000_CTRL, E1000_CTRL_BITS.RST, false, {
      what: `${this.pciAddress}: end of reset on close (CTRL.RST)`,
    });
    // No DMA any more: the buffers still on the rings are ours again.
    freeAll(q);
    freeRing(this.#rx);
    this.#function?.disableBusMastering();
  }

  /** The receive mempool (for tests and statistics). */
  rxMempool(queueId = 0): Mempool {
    if (queueId !== 0) throw this.#badQueue("RX", queueId);
    return this.#rx.pool;
  }

  #badQueue(dir: string, queueId: number): IxyError {
    return new IxyError(
      `${this.pciAddress}: no ${dir} queue ${queueId}: an e1000 has one queue per direction ` +
        `(queue 0).`,
    );
  }
}

function checkRingSize(what: string, n: number): number {
  if (!Number.isInteger(n) || n < 8 || n > 4096 || (n & (n - 1)) !== 0) {
    throw new IxyError(
      `Invalid ${what} ${n}: the ring size must be a power of two from 8 to 4096 ` +
        `(RDLEN/TDLEN must be a multiple of 128 bytes, 13.4.25).`,
    );
  }
  return n;
}
