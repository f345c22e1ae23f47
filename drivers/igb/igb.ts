/**
 * The igb driver for the Intel 82576 GbE controller (QEMU's `-device igb`),
 * written to be read next to drivers/ixgbe/ixgbe.ts: same structure, same
 * function names, same order. The 82576 is the 82599's predecessor — the
 * advanced descriptors, SRRCTL, RXDCTL/TXDCTL and the statistics are the
 * same idea at other offsets — so where this file says nothing new, the
 * ixgbe driver's comment applies. Read {@link IgbDevice.attach} first: it
 * brings the NIC up in the order of the datasheet's section 4.5 ("Software
 * Initialization and Diagnostics"), each step citing its section of the
 * "Intel 82576 GbE Controller Datasheet".
 *
 * What is different, step by step (details in ./constants.ts):
 *
 * - Reset (4.5.5): stop the DMA first (CTRL.GIO_MASTER_DISABLE, wait for
 *   STATUS.GIO_MASTER_ENABLE to clear), then CTRL.RST; no DMA-init-done bit.
 * - Link (4.5.7): a copper PHY. CTRL.SLU lets the MAC follow it; the PHY's
 *   auto-negotiation is restarted through MDIC (the MAC's window onto the PHY
 *   registers), where the 82599 had AUTOC.AN_RESTART. STATUS, not LINKS, says
 *   when the link is up and how fast.
 * - Receive (4.5.9): RCTL holds what the 82599 spread over RXCTRL (enable),
 *   FCTRL (promiscuous, broadcast) and HLREG0/RDRXCTL (CRC strip). Queue 0
 *   comes out of reset *enabled*: we disable every queue before touching it.
 *   The queue bring-up — `configureRxQueue`, `startRxQueue`: SRRCTL, RXDCTL
 *   enable and poll, the 82576's register map — is in ./rx.ts (lab 7's
 *   reference); the ring and `rxBatch` are drivers/ixgbe/rx.ts's, with the
 *   82576's tail register and RXE bit as the ring's state.
 * - RSS (more than one receive queue): the 82599's key, table, RXCSUM.PCSD
 *   and MRQC at the 82576's offsets, MRQC's mode 010b instead of 0001b;
 *   drivers/ixgbe/rss.ts's `setupRss` with ./rss.ts's register map.
 * - Transmit (4.5.10): TCTL.EN instead of DMATXCTL.TE; no DCB arbiter to
 *   pause, no packet-buffer split to program (one traffic class by default).
 *   The transmit ring is drivers/ixgbe/tx.ts's, descriptor code and all (the
 *   advanced transmit data descriptor is the 82599's; why, before
 *   {@link IgbDevice}); only the tail register TDT is the 82576's.
 *
 * JavaScript notes: as in ixgbe.ts — descriptors are words of a
 * `Uint32Array`, 64-bit addresses two 32-bit halves, the status word the
 * device writes last is read with a plain load (as volatile here as C's, and
 * cheaper than `Atomics.load`: drivers/ixgbe/rx.ts, rxBatch), and the packet
 * path allocates nothing.
 *
 * @module
 */

import {
  type DeviceOptions,
  type IxyDevice,
  macFromReceiveAddress,
  type PciFunction,
} from "../../src/device.ts";
import type { InterruptVector } from "../../src/interrupts.ts";
import { IGB_DEFAULT_INTERRUPT_RATE, IGB_MSIX_MAP } from "./interrupts.ts";
import { IxgbeInterrupts } from "../ixgbe/interrupts.ts";
import { type DmaAllocator, hi32, lo32 } from "../../src/memory.ts";
import type { DeviceStats } from "../../src/stats.ts";
import type { PciDevice } from "../../src/pci.ts";
import { Mempool, type PktBuf } from "../../src/mempool.ts";
import { IxyError } from "../../src/error.ts";
import {
  clearFlags32,
  type RegisterSpace,
  setFlags32,
  sleepMicros,
  waitForFlags32,
} from "../../src/mmio.ts";
import {
  IGB_CTRL,
  IGB_CTRL_BITS,
  IGB_DESC_SIZE,
  IGB_EEC,
  IGB_EEC_AUTO_RD,
  IGB_EICR,
  IGB_EIMC,
  IGB_GORCH,
  IGB_GORCL,
  IGB_GOTCH,
  IGB_GOTCL,
  IGB_GPRC,
  IGB_GPTC,
  IGB_ICR,
  IGB_IMC,
  IGB_IRQ_CLEAR_MASK,
  IGB_MDIC,
  IGB_MDIC_BITS,
  IGB_MPC,
  IGB_PHY_ADDRESS,
  IGB_PHY_CTRL,
  IGB_PHY_CTRL_BITS,
  IGB_RAH,
  IGB_RAL,
  IGB_RCTL,
  IGB_RCTL_BITS,
  IGB_RQDPC,
  IGB_STATUS,
  IGB_STATUS_BITS,
  IGB_TCTL,
  IGB_TCTL_BITS,
  IGB_TDBAH,
  IGB_TDBAL,
  IGB_TDH,
  IGB_TDLEN,
  IGB_TDT,
  IGB_TXDCTL,
  IGB_TXDCTL_ENABLE,
  IGB_TXDCTL_THRESH,
} from "./constants.ts";
import { configureRxQueue, newRxQueue, startRxQueue } from "./rx.ts";
import { IGB_RSS_MAP } from "./rss.ts";
import { setupRss } from "../ixgbe/rss.ts";
import { rxBatch, type RxQueue } from "../ixgbe/rx.ts";
import { cleanTx, freeAll, txBatch, TxQueue } from "../ixgbe/tx.ts";

/** Default descriptors per queue (as ixgbe.ts: ixy's NUM_RX_QUEUE_ENTRIES). */
const DEFAULT_RING_SIZE = 512;
/** The 82576 has 16 queues per direction (the 82599: 128). */
const MAX_QUEUES = 16;
/** Receive buffers per receive descriptor (the app may hold some while we refill). */
const RX_POOL_FACTOR = 4;
/** The CRC the 82576 counts in GORC/GOTC (8.19) but strips / appends for us. */
const CRC_BYTES = 4;

/** Options of the igb driver on top of the common {@link DeviceOptions}. */
export interface IgbOptions extends DeviceOptions {
  /** Descriptors per transmit ring: a power of two, 8..4096 (default 512). */
  txRingSize?: number;
  /** How long bring-up waits for the link (default 10000 ms); not an error if it stays down. */
  linkTimeoutMs?: number;
  /**
   * With `interrupts: true`: where MSI-X vector i's messages arrive (VFIO
   * eventfds from `VfioPciDevice.enableMsix`); one per RX queue. See
   * drivers/igb/interrupts.ts.
   */
  interruptVectors?: readonly InterruptVector[];
}

/*
 * The transmit ring is the 82599's (drivers/ixgbe/tx.ts: TxQueue, txBatch,
 * cleanTx, freeAll), as the receive ring is (drivers/ixgbe/rx.ts).
 * That is right because the 82576 reads the same 16-byte advanced transmit
 * data descriptor (82576 datasheet 7.2.2.3; 82599 datasheet 7.2.3.2.4), bit
 * for bit in everything we write:
 *
 *   words 0-1  buffer address
 *   word 2     DTALEN (bits 15:0, the frame length), DTYP = 0011b (23:20),
 *              DCMD (31:24): EOP 24, IFCS 25, RS 27, DEXT 29
 *   word 3     PAYLEN (bits 31:14; the whole frame, no TSO); IDX, POPTS
 *              and STA 0. Write-back: DD is bit 0 of word 3 (STA)
 *
 * Only fields we leave 0 differ: the 82576's context index IDX is bit 4 of
 * word 3 (the 82599's bits 6:4, with CC in bit 7), and its MAC field (word 2
 * bits 19:18) has no LinkSec bit. Linux igb's E1000_ADVTXD_* and ixgbe's
 * IXGBE_ADVTXD_* values of the bits we set are equal, QEMU's igb model reads
 * them so (hw/net/igb_core.c, igb_process_tx_desc), and
 * tests/unit/igb_constants_test.ts compares our two constant sets.
 *
 * What differs is where the queue's registers are: TDT(n) is at 0xE018 +
 * 0x40 n (the 82599's at 0x6018 + 0x40 n), which the ring holds as its
 * `tail`, so tx.ts's txBatch serves both. And close() waits for TDH to
 * reach the tail rather than for DD: with WTHRESH 16 (#initTx) the 82576 may
 * hold back the last write-backs.
 */

/** An Intel 82576 NIC (QEMU's igb). */
export class IgbDevice implements IxyDevice {
  /** Always `"igb"`. */
  readonly driverName = "igb";
  /** PCI address of the NIC. */
  readonly pciAddress: string;
  /** Number of receive queues set up. */
  readonly numRxQueues: number;
  /** Number of transmit queues set up. */
  readonly numTxQueues: number;
  /**
   * Receive interrupts (MSI-X), with `interrupts: true` and
   * `interruptVectors`: drivers/ixgbe/interrupts.ts's, on the 82576's
   * registers (./interrupts.ts).
   */
  interrupts?: IxgbeInterrupts;

  #regs: RegisterSpace;
  #dma: DmaAllocator;
  #rx: RxQueue[] = [];
  #tx: TxQueue[] = [];
  #rxRingSize: number;
  #txRingSize: number;
  // The counters as close() read them just before the reset cleared them.
  #countersAtClose?: HwCounters;
  // The PCI function from ixyInit (undefined for a device from attach).
  #function?: PciFunction;
  #closed = false;

  private constructor(
    regs: RegisterSpace,
    dma: DmaAllocator,
    options: IgbOptions & {
      name: string;
    },
  ) {
    this.#regs = regs;
    this.#dma = dma;
    this.pciAddress = options.name;
    this.numRxQueues = checkCount("RX queues", options.rxQueues ?? 1);
    this.numTxQueues = checkCount("TX queues", options.txQueues ?? 1);
    this.#rxRingSize = checkRingSize("rxRingSize", options.rxRingSize ?? DEFAULT_RING_SIZE);
    this.#txRingSize = checkRingSize("txRingSize", options.txRingSize ?? DEFAULT_RING_SIZE);
  }

  /**
   * Brings up the 82576 at `pci` (identified, taken from the kernel, bus
   * master on; as root through sysfs or as a normal user through VFIO, with
   * its MSI-X vectors when `interrupts` is set): maps BAR0 and calls
   * {@link attach} with the function's DMA memory.
   */
  static open(pci: PciFunction, options: IgbOptions = {}): IgbDevice {
    const dev = IgbDevice.attach(pci.mapMemoryBar(0), pci.dmaAllocator(), {
      ...options,
      name: pci.address,
      interruptVectors: options.interruptVectors ?? pci.interruptVectors,
    });
    dev.#function = pci;
    return dev;
  }

  /** The PCI function behind the device (for `--rebind`); undefined without ixyInit. */
  get pci(): PciDevice | undefined {
    return this.#function?.pci;
  }

  /**
   * Brings up an 82576 reached through `regs` (its BAR0), with rings and
   * buffers from `dma`, in the order of datasheet section 4.5.3
   * "Initialization Sequence".
   */
  static attach(
    regs: RegisterSpace,
    dma: DmaAllocator,
    options: IgbOptions & { name: string },
  ): IgbDevice {
    const dev = new IgbDevice(regs, dma, options);
    dev.#resetAndInit(options.linkTimeoutMs ?? 10_000);
    if (options.interrupts && options.interruptVectors) {
      // 7.3: MSI-X, one vector per RX queue, all masked until a queue idles.
      dev.interrupts = IxgbeInterrupts.setup(regs, {
        map: IGB_MSIX_MAP,
        queues: dev.numRxQueues,
        vectors: options.interruptVectors,
        rate: options.interruptRate ?? IGB_DEFAULT_INTERRUPT_RATE,
        name: dev.pciAddress,
      });
    }
    return dev;
  }

  #resetAndInit(linkTimeoutMs: number): void {
    const regs = this.#regs;
    // 4.5.4 "Interrupts During Initialization": mask all interrupts first...
    this.#disableInterrupts();
    // 4.5.5 "Global Reset and General Configuration": quiesce the DMA, then a
    // device reset (CTRL.RST, self-clearing) resets everything but the PCI
    // configuration. Then wait 10 ms, as our ixgbe driver does.
    this.#globalReset("global reset");
    sleepMicros(10_000);
    // ...and again after the reset (4.5.4).
    this.#disableInterrupts();

    // 4.5.3: the EEPROM auto-read (EEC.Auto_RD) loads the MAC address into
    // RAL/RAH(0). QEMU's model has the address in place at once and never
    // sets Auto_RD; like Linux's igb we wait up to 10 ms and go on.
    waitOrGoOn(regs, IGB_EEC, IGB_EEC_AUTO_RD, 10);

    // 4.5.7 "Link Setup": the MAC follows the PHY's link (CTRL.SLU), and the
    // PHY's auto-negotiation is restarted through MDIC (IEEE 802.3 register 0,
    // bits AN enable + restart) — the 82599's AUTOC.AN_RESTART. QEMU's model
    // completes it 500 ms later; we wait for the link at the very end, so
    // the rest of the setup overlaps it.
    setFlags32(regs, IGB_CTRL, IGB_CTRL_BITS.SLU);
    const phyCtrl = this.#readPhy(IGB_PHY_CTRL);
    this.#writePhy(
      IGB_PHY_CTRL,
      phyCtrl | IGB_PHY_CTRL_BITS.AUTO_NEG_EN | IGB_PHY_CTRL_BITS.RESTART_AUTO_NEG,
    );

    // 4.5.8 "Initialization of Statistics": the counters clear on read, so
    // reading them once starts them from zero.
    this.#readCounters();

    this.#initRx();
    this.#initTx();
    // 4.5.9 / 4.5.10 last steps: enable the queues once everything else is set.
    for (let i = 0; i < this.numRxQueues; i++) this.#startRxQueue(i);
    for (let i = 0; i < this.numTxQueues; i++) this.#startTxQueue(i);

    // Promiscuous by default (as ixy): makes testing less surprising.
    this.setPromisc(true);
    this.#waitForLink(linkTimeoutMs);
  }

  /**
   * Masks every interrupt cause — the extended ones (EIMC, 8.8) and the
   * "other" ones (IMC, 8.8), which the 82599 kept in one register — and
   * clears pending ones (EICR and ICR clear on read).
   */
  #disableInterrupts(): void {
    this.#regs.write32(IGB_EIMC, IGB_IRQ_CLEAR_MASK);
    this.#regs.write32(IGB_IMC, IGB_IRQ_CLEAR_MASK);
    this.#regs.read32(IGB_EICR);
    this.#regs.read32(IGB_ICR);
  }

  /**
   * 4.5.5: stop new DMA requests (CTRL.GIO_MASTER_DISABLE) and wait until
   * the pending ones are done (STATUS.GIO_MASTER_ENABLE reads 0), then reset
   * the device (CTRL.RST) and wait until the bit clears itself.
   */
  #globalReset(what: string): void {
    const regs = this.#regs;
    setFlags32(regs, IGB_CTRL, IGB_CTRL_BITS.GIO_MASTER_DISABLE);
    waitForFlags32(regs, IGB_STATUS, IGB_STATUS_BITS.GIO_MASTER_ENABLE, false, {
      what: `${this.pciAddress}: end of DMA before ${what} (STATUS.GIO_MASTER_ENABLE)`,
    });
    setFlags32(regs, IGB_CTRL, IGB_CTRL_BITS.RST);
    waitForFlags32(regs, IGB_CTRL, IGB_CTRL_BITS.RST, false, {
      what: `${this.pciAddress}: end of ${what} (CTRL.RST)`,
    });
  }

  /** Reads PHY register `reg` through MDIC (8.2): one read command, wait for Ready. */
  #readPhy(reg: number): number {
    const M = IGB_MDIC_BITS;
    this.#regs.write32(
      IGB_MDIC,
      (reg << M.REG_SHIFT) | (IGB_PHY_ADDRESS << M.PHY_SHIFT) | M.OP_READ,
    );
    return this.#waitMdic(`read of PHY register ${reg}`) & M.DATA_MASK;
  }

  /** Writes `value` to PHY register `reg` through MDIC (8.2). */
  #writePhy(reg: number, value: number): void {
    const M = IGB_MDIC_BITS;
    this.#regs.write32(
      IGB_MDIC,
      (value & M.DATA_MASK) | (reg << M.REG_SHIFT) | (IGB_PHY_ADDRESS << M.PHY_SHIFT) |
        M.OP_WRITE,
    );
    this.#waitMdic(`write of PHY register ${reg}`);
  }

  /** Waits for MDIC.R (ready); fails on MDIC.E (no such PHY or register). */
  #waitMdic(what: string): number {
    waitForFlags32(this.#regs, IGB_MDIC, IGB_MDIC_BITS.READY, true, {
      what: `${this.pciAddress}: MDIC ${what}`,
    });
    const mdic = this.#regs.read32(IGB_MDIC);
    if ((mdic & IGB_MDIC_BITS.ERROR) !== 0) {
      throw new IxyError(`${this.pciAddress}: the PHY refused the MDIC ${what} (MDIC.E).`);
    }
    return mdic;
  }

  /** 4.5.9 "Receive Initialization", for our case: no virtualisation; RSS with several queues. */
  #initRx(): void {
    const regs = this.#regs;
    // Receive stays off while we configure it (RCTL.EN).
    clearFlags32(regs, IGB_RCTL, IGB_RCTL_BITS.EN);
    // The packet buffer (RXPBS) keeps its reset size: one traffic class.
    // Strip the CRC (RCTL.SECRC: one bit, where the 82599 needed two) and
    // accept broadcast frames (RCTL.BAM). RCTL.DTYP stays 00b (it must).
    setFlags32(regs, IGB_RCTL, IGB_RCTL_BITS.SECRC | IGB_RCTL_BITS.BAM);

    for (let i = 0; i < this.numRxQueues; i++) {
      // The descriptor ring (7.1.5) and its buffers.
      const bytes = this.#rxRingSize * IGB_DESC_SIZE;
      const mem = this.#dma.allocate(bytes, { contiguous: true });
      const desc = new Uint32Array(mem.buffer, 0, bytes / 4);
      // Snabb's trick (as ixgbe.ts): all ones until we fill the ring.
      desc.fill(0xffffffff);
      const pool = Mempool.create(this.#dma, { numEntries: this.#rxRingSize * RX_POOL_FACTOR });
      // drivers/ixgbe/rx.ts's ring, with the 82576's RDT and RXE bit.
      const q = newRxQueue(regs, i, desc, this.#rxRingSize, pool);
      // ./rx.ts (lab 7's reference): queue off and polled (queue 0 runs after
      // reset), SRRCTL (advanced one-buffer descriptors, 2 KB, DROP_EN: a
      // frame that finds no descriptor is dropped and counted in RQDPC instead
      // of stalling the shared packet buffer), RDBAL/RDBAH/RDLEN, RDH = RDT = 0.
      configureRxQueue(q, mem.physAddr(0));
      this.#rx.push(q);
    }
    // Several queues: RSS spreads the flows over them, programmed while
    // receive is off (./rss.ts: the 82599's setupRss on the 82576's
    // registers — RSSRK, RETA, RXCSUM.PCSD, MRQC last). One queue: MRQC
    // stays 0 and every frame goes to queue 0.
    if (this.numRxQueues > 1) setupRss(regs, this.numRxQueues, IGB_RSS_MAP);
    // Receive on (RCTL.EN). The queues start later (#startRxQueue).
    setFlags32(regs, IGB_RCTL, IGB_RCTL_BITS.EN);
  }

  /** 4.5.10 "Transmit Initialization" (no virtualisation). */
  #initTx(): void {
    const regs = this.#regs;
    // Transmit off while we configure it; pad short frames (TCTL.PSP). The
    // CRC is appended per descriptor (IFCS), as on the 82599.
    clearFlags32(regs, IGB_TCTL, IGB_TCTL_BITS.EN);
    setFlags32(regs, IGB_TCTL, IGB_TCTL_BITS.PSP);

    const T = IGB_TXDCTL_THRESH;
    for (let i = 0; i < this.numTxQueues; i++) {
      // Queue 0 is enabled after reset, as on the receive side.
      clearFlags32(regs, IGB_TXDCTL(i), IGB_TXDCTL_ENABLE);
      waitForFlags32(regs, IGB_TXDCTL(i), IGB_TXDCTL_ENABLE, false, {
        what: `${this.pciAddress}: TX queue ${i} disable (TXDCTL.ENABLE)`,
      });
      // The ring (7.2.2): TDBAL/TDBAH/TDLEN.
      const bytes = this.#txRingSize * IGB_DESC_SIZE;
      const mem = this.#dma.allocate(bytes, { contiguous: true });
      const desc = new Uint32Array(mem.buffer, 0, bytes / 4);
      desc.fill(0xffffffff);
      const phys = mem.physAddr(0);
      regs.write32(IGB_TDBAL(i), lo32(phys));
      regs.write32(IGB_TDBAH(i), hi32(phys));
      regs.write32(IGB_TDLEN(i), bytes);
      // Prefetch / host / write-back thresholds (TXDCTL): Linux igb's 8 / 1 / 16.
      let txdctl = regs.read32(IGB_TXDCTL(i));
      txdctl &= ~((T.FIELD_MASK << T.PTHRESH_SHIFT) | (T.FIELD_MASK << T.HTHRESH_SHIFT) |
        (T.FIELD_MASK << T.WTHRESH_SHIFT));
      txdctl |= (8 << T.PTHRESH_SHIFT) | (1 << T.HTHRESH_SHIFT) | (16 << T.WTHRESH_SHIFT);
      regs.write32(IGB_TXDCTL(i), txdctl >>> 0);
      // drivers/ixgbe/tx.ts's ring, with the 82576's TDT.
      this.#tx.push(new TxQueue(regs, i, desc, this.#txRingSize, IGB_TDT(i)));
    }
    // Last step: transmit on (TCTL.EN).
    setFlags32(regs, IGB_TCTL, IGB_TCTL_BITS.EN);
  }

  /**
   * Fills receive queue `i` with buffers and enables it (4.5.9, last steps):
   * {@link startRxQueue} of ./rx.ts — RXDCTL.ENABLE polled to 1, then RDT =
   * size - 1.
   */
  #startRxQueue(i: number): void {
    startRxQueue(this.#rx[i]);
  }

  /** Enables transmit queue `i` (4.5.10): empty ring, TXDCTL.ENABLE, wait. */
  #startTxQueue(i: number): void {
    this.#regs.write32(IGB_TDH(i), 0);
    this.#regs.write32(IGB_TDT(i), 0);
    setFlags32(this.#regs, IGB_TXDCTL(i), IGB_TXDCTL_ENABLE);
    waitForFlags32(this.#regs, IGB_TXDCTL(i), IGB_TXDCTL_ENABLE, true, {
      what: `${this.pciAddress}: TX queue ${i} enable (TXDCTL.ENABLE)`,
    });
  }

  /** Polls STATUS every 10 ms until the link is up or `timeoutMs` passed (not fatal). */
  #waitForLink(timeoutMs: number): void {
    const deadline = performance.now() + timeoutMs;
    while (this.getLinkSpeed() === 0 && performance.now() < deadline) sleepMicros(10_000);
  }

  /**
   * Receives up to `count` packets from queue `queueId`: drivers/ixgbe/rx.ts's
   * {@link rxBatch} — the advanced receive descriptor (7.1.5) is the
   * 82599's; the ring holds the 82576's RDT and RXE bit (31 here, 29 there).
   * Malformed write-backs are dropped there and counted in `rxErrors`.
   */
  rxBatch(queueId: number, bufs: PktBuf[], count: number): number {
    const q = this.#rx[queueId];
    if (q === undefined) throw this.#badQueue("RX", queueId, this.numRxQueues);
    return rxBatch(q, bufs, count);
  }

  /**
   * Sends `bufs[0..count)` on queue `queueId`: drivers/ixgbe/tx.ts's
   * {@link txBatch}, on a ring that holds the 82576's tail register — free
   * the buffers of finished descriptors in batches of 32 (DD), write one
   * advanced data descriptor per packet (7.2.2.3), then one TDT write for
   * the batch. Stops at a full ring or at a buffer whose size is not
   * 1..`data.length` (src/device.ts).
   */
  txBatch(queueId: number, bufs: PktBuf[], count: number): number {
    const q = this.#tx[queueId];
    if (q === undefined) throw this.#badQueue("TX", queueId, this.numTxQueues);
    return txBatch(q, bufs, count);
  }

  /**
   * Adds the device's counters (8.19, all clear on read) to `stats`.
   * GORC/GOTC count the 4-byte CRC of each frame; we subtract it, as for the
   * 82599. `rxMissed` sums MPC (packet buffer full) and RQDPC (no free
   * descriptor with SRRCTL.DROP_EN) of our queues — the 82599's MPC[n] and
   * QPRDC[n]. RNBC is not added: it counts frames that found no descriptor
   * *at first*, and with DROP_EN those are already in RQDPC.
   */
  readStats(stats: DeviceStats): void {
    // After close() the reset has cleared the registers: report what close() read.
    const c = this.#countersAtClose ?? this.#readCounters();
    this.#countersAtClose = undefined;
    stats.rxPackets += c.rxPackets;
    stats.txPackets += c.txPackets;
    stats.rxBytes += c.rxBytes - CRC_BYTES * c.rxPackets;
    stats.txBytes += c.txBytes - CRC_BYTES * c.txPackets;
    stats.rxMissed += c.rxMissed;
    for (const q of this.#rx) {
      stats.rxErrors += q.errors;
      q.errors = 0;
    }
  }

  /** Reads (and so clears) the hardware counters. */
  #readCounters(): HwCounters {
    const r = this.#regs;
    const rxPackets = r.read32(IGB_GPRC);
    const txPackets = r.read32(IGB_GPTC);
    // Low half first: reading the high half clears the pair (8.19).
    const rxBytes = r.read32(IGB_GORCL) + r.read32(IGB_GORCH) * 2 ** 32;
    const txBytes = r.read32(IGB_GOTCL) + r.read32(IGB_GOTCH) * 2 ** 32;
    let rxMissed = r.read32(IGB_MPC);
    for (let i = 0; i < this.numRxQueues; i++) rxMissed += r.read32(IGB_RQDPC(i));
    return { rxPackets, txPackets, rxBytes, txBytes, rxMissed };
  }

  /** Unicast and multicast promiscuous mode (RCTL.UPE / MPE; the 82599's FCTRL bits). */
  setPromisc(enabled: boolean): void {
    const bits = IGB_RCTL_BITS.UPE | IGB_RCTL_BITS.MPE;
    if (enabled) setFlags32(this.#regs, IGB_RCTL, bits);
    else clearFlags32(this.#regs, IGB_RCTL, bits);
  }

  /** Link speed from STATUS (8.2): 10, 100 or 1000 Mbit/s, 0 while down. */
  getLinkSpeed(): number {
    const status = this.#regs.read32(IGB_STATUS);
    if ((status & IGB_STATUS_BITS.LU) === 0) return 0;
    switch (status & IGB_STATUS_BITS.SPEED_MASK) {
      case IGB_STATUS_BITS.SPEED_10:
        return 10;
      case IGB_STATUS_BITS.SPEED_100:
        return 100;
      default: // 10b and 11b both mean 1000 Mb/s
        return 1000;
    }
  }

  /** The MAC address in receive address filter 0 (RAL/RAH(0)), loaded from the EEPROM. */
  getMacAddress(): Uint8Array {
    return macFromReceiveAddress(this.#regs.read32(IGB_RAL(0)), this.#regs.read32(IGB_RAH(0)));
  }

  /**
   * Waits up to 100 ms until the device has fetched every queued TX
   * descriptor (TDH = TDT), frees the sent buffers, and resets the device
   * (4.5.5: DMA quiesced first), which stops all its DMA into our memory.
   * Then every buffer is ours again: those still in the rings go back to
   * their pools (an RX pool is full again after close). The reset clears the
   * statistics registers, so they are read first: a readStats after close
   * still reports everything counted until then. Last, Bus Master Enable
   * goes off. A second call does nothing.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const deadline = performance.now() + 100;
    for (let i = 0; i < this.numTxQueues; i++) {
      const q = this.#tx[i];
      while (
        this.#regs.read32(IGB_TDH(i)) !== q.txIndex && performance.now() < deadline
      ) sleepMicros(100);
      cleanTx(q, 1);
    }
    const c = this.#readCounters();
    if (this.#countersAtClose) addCounters(c, this.#countersAtClose);
    this.#countersAtClose = c;
    this.#globalReset("reset on close");
    for (const q of this.#tx) freeAll(q);
    for (const q of this.#rx) {
      for (let i = 0; i < q.size; i++) {
        const buf = q.bufs[i];
        if (buf !== undefined) q.pool.free(buf);
        q.bufs[i] = undefined;
      }
    }
    this.#function?.disableBusMastering();
  }

  /** The receive mempool of queue `queueId` (for tests and statistics). */
  rxMempool(queueId: number): Mempool {
    const q = this.#rx[queueId];
    if (q === undefined) throw this.#badQueue("RX", queueId, this.numRxQueues);
    return q.pool;
  }

  #badQueue(dir: string, queueId: number, have: number): IxyError {
    return new IxyError(
      `${this.pciAddress}: no ${dir} queue ${queueId}: the device was set up with ${have} ` +
        `(queues 0..${have - 1}). Pass ${dir.toLowerCase()}Queues to init.`,
    );
  }
}

/** The hardware counters readStats uses, as read (and so cleared) at one moment. */
interface HwCounters {
  rxPackets: number;
  txPackets: number;
  rxBytes: number;
  txBytes: number;
  rxMissed: number;
}

/** Adds `b` to `a`. */
function addCounters(a: HwCounters, b: HwCounters): void {
  a.rxPackets += b.rxPackets;
  a.txPackets += b.txPackets;
  a.rxBytes += b.rxBytes;
  a.txBytes += b.txBytes;
  a.rxMissed += b.rxMissed;
}

/** Waits up to `timeoutMs` for `mask` in register `offset`; returns whether it came (never throws). */
function waitOrGoOn(regs: RegisterSpace, offset: number, mask: number, timeoutMs: number): boolean {
  const deadline = performance.now() + timeoutMs;
  while ((regs.read32(offset) & mask) !== mask) {
    if (performance.now() > deadline) return false;
    sleepMicros(100);
  }
  return true;
}

function checkCount(what: string, n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > MAX_QUEUES) {
    throw new IxyError(`Cannot set up ${n} ${what} on an 82576: use 1..${MAX_QUEUES}.`);
  }
  return n;
}

function checkRingSize(what: string, n: number): number {
  if (!Number.isInteger(n) || n < 8 || n > 4096 || (n & (n - 1)) !== 0) {
    throw new IxyError(
      `Invalid ${what} ${n}: the ring size must be a power of two from 8 to 4096 ` +
        `(RDLEN/TDLEN must be a multiple of 128 bytes).`,
    );
  }
  return n;
}
