/**
 * The ixgbe driver for the Intel 82599 10 GbE controller (X520 cards), after
 * ixy's `ixgbe.c`. Read {@link IxgbeDevice.attach} first: it brings the NIC up
 * in the order of the datasheet's section 4.6 ("Software Initialization and
 * Diagnostics"), each step citing its section of the "Intel 82599 10 GbE
 * Controller Datasheet", rev. 3.3.
 *
 * Design, as in ixy: we poll (optional MSI-X interrupts for idle receive
 * queues: ./interrupts.ts and src/interrupts.ts); each queue is a ring
 * of 16-byte descriptors in DMA memory (section 7.1.9 / 7.2.3.3). The device
 * owns the descriptors from head to tail, we own the rest: we move the tail
 * (a register write, the "doorbell"), the device moves the head and marks the
 * descriptors it finished with DD ("descriptor done"). Packets travel in
 * buffers of our mempools, one descriptor per packet. The packet path — the
 * rings — is in ./rx.ts and ./tx.ts (they are also labs 4 and 3's reference
 * solutions); this file brings the device up, reads counters and stops it.
 *
 * JavaScript notes: descriptors are words of a `Uint32Array` over the ring
 * memory, 64-bit addresses are written as two 32-bit halves (no BigInt), and
 * the words the device writes (DD) are read with plain loads, which V8
 * keeps in place and in order — the `volatile` of C (src/mmio.ts). The packet path allocates nothing.
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
import type { PciDevice } from "../../src/pci.ts";
import { IXGBE_DEFAULT_INTERRUPT_RATE, IxgbeInterrupts } from "./interrupts.ts";
import { type DmaAllocator, hi32, lo32 } from "../../src/memory.ts";
import type { DeviceStats } from "../../src/stats.ts";
import { Mempool, type PktBuf } from "../../src/mempool.ts";
import { IXGBE_RX_ERROR_BITS, post, rxBatch, RxQueue } from "./rx.ts";
import { allSent, cleanTx, freeAll, txBatch, TxQueue } from "./tx.ts";
import { setupRss } from "./rss.ts";
import { IxyError } from "../../src/error.ts";
import type { RingDescription, RingIntrospection } from "../../src/introspect.ts";
import {
  clearFlags32,
  type RegisterSpace,
  setFlags32,
  sleepMicros,
  waitForFlags32,
} from "../../src/mmio.ts";
import {
  IXGBE_AUTOC,
  IXGBE_AUTOC_BITS,
  IXGBE_CTRL,
  IXGBE_CTRL_EXT,
  IXGBE_CTRL_EXT_NS_DIS,
  IXGBE_CTRL_RST_MASK,
  IXGBE_DCA_RXCTRL,
  IXGBE_DCA_RXCTRL_BIT12,
  IXGBE_DESC_SIZE,
  IXGBE_DMATXCTL,
  IXGBE_DMATXCTL_TE,
  IXGBE_DTXMXSZRQ,
  IXGBE_EEC,
  IXGBE_EEC_ARD,
  IXGBE_EICR,
  IXGBE_EIMC,
  IXGBE_FCTRL,
  IXGBE_FCTRL_BITS,
  IXGBE_GORCH,
  IXGBE_GORCL,
  IXGBE_GOTCH,
  IXGBE_GOTCL,
  IXGBE_GPRC,
  IXGBE_GPTC,
  IXGBE_HLREG0,
  IXGBE_HLREG0_BITS,
  IXGBE_IRQ_CLEAR_MASK,
  IXGBE_LINKS,
  IXGBE_LINKS_BITS,
  IXGBE_MPC,
  IXGBE_MTQC,
  IXGBE_QPRDC,
  IXGBE_RAH,
  IXGBE_RAL,
  IXGBE_RDBAH,
  IXGBE_RDBAL,
  IXGBE_RDH,
  IXGBE_RDLEN,
  IXGBE_RDRXCTL,
  IXGBE_RDRXCTL_BITS,
  IXGBE_RDT,
  IXGBE_RTTDCS,
  IXGBE_RTTDCS_ARBDIS,
  IXGBE_RXCTRL,
  IXGBE_RXCTRL_RXEN,
  IXGBE_RXDCTL,
  IXGBE_RXDCTL_ENABLE,
  IXGBE_RXPBSIZE,
  IXGBE_RXPBSIZE_128KB,
  IXGBE_SRRCTL,
  IXGBE_SRRCTL_BITS,
  IXGBE_TDBAH,
  IXGBE_TDBAL,
  IXGBE_TDH,
  IXGBE_TDLEN,
  IXGBE_TDT,
  IXGBE_TXDCTL,
  IXGBE_TXDCTL_ENABLE,
  IXGBE_TXDCTL_SWFLSH,
  IXGBE_TXDCTL_THRESH,
  IXGBE_TXPBSIZE,
  IXGBE_TXPBSIZE_40KB,
} from "./constants.ts";

/** Default descriptors per queue (ixy's NUM_RX_QUEUE_ENTRIES / NUM_TX_QUEUE_ENTRIES). */
const DEFAULT_RING_SIZE = 512;
/** The 82599 has 128 queues per direction; like ixy we use at most 64. */
const MAX_QUEUES = 64;
/** Receive buffers per receive descriptor (the app may hold some while we refill). */
const RX_POOL_FACTOR = 4;
/**
 * Bytes per receive buffer, header included. SRRCTL.BSIZEPACKET tells the
 * device how much it may write into each buffer, in 1 KB units (8.2.3.8.7),
 * so it must not exceed the buffer's data area (entry minus the 64-byte
 * header). ixy's 2048-byte entries leave 1984 bytes: BSIZEPACKET 2 KB (its
 * reset value, which ixy keeps) lets a frame of 1985-2048 bytes overwrite the
 * next buffer's header, and 1 KB would split every full-size frame over two
 * descriptors. 4096-byte entries leave 4032 bytes: 3 KB buffers, one frame
 * per descriptor. It doubles the receive pool's memory (8 MiB per queue of
 * 512 descriptors). DPDK sizes its mbufs so the data room is a whole 2 KB.
 */
const RX_ENTRY_SIZE = 4096;
/** The CRC the 82599 counts in GORC/GOTC (8.2.3.23) but strips / appends for us. */
const CRC_BYTES = 4;
/**
 * 8.2.3.1.1 (CTRL.RST): after setting it, wait about 1 ms before polling it
 * or accessing any other register (Linux ixgbe waits 1-1.2 ms).
 */
const RESET_QUIET_US = 1000;
/** How long close() waits for the transmit queues to drain. */
const CLOSE_DRAIN_MS = 100;
/** Statistics counters of QPRC/QBRC/QPRDC (8.2.3.23); RQSMR maps each queue to one. */
const QUEUE_STAT_COUNTERS = 16;

/** Options of the ixgbe driver on top of the common {@link DeviceOptions}. */
export interface IxgbeOptions extends DeviceOptions {
  /** Descriptors per transmit ring: a power of two, 8..4096 (default 512). */
  txRingSize?: number;
  /** How long bring-up waits for the link (default 10000 ms, as ixy); not an error if it stays down. */
  linkTimeoutMs?: number;
  /**
   * With `interrupts: true`: where MSI-X vector i's messages arrive (VFIO
   * eventfds from `VfioPciDevice.enableMsix`, or a software 82599 port's
   * `msix`); one per RX queue. See drivers/ixgbe/interrupts.ts.
   */
  interruptVectors?: readonly InterruptVector[];
}

/** Returns every buffer on receive ring `q` to its pool (the device is reset: they are ours). */
function freeRing(q: RxQueue): void {
  for (let i = 0; i < q.size; i++) {
    const buf = q.bufs[i];
    if (buf !== undefined) q.pool.free(buf);
    q.bufs[i] = undefined;
  }
}

/** The hardware counters readStats uses, as read (and so cleared) at one moment. */
export interface HwCounters {
  /** GPRC: good packets received (8.2.3.23.26), the missed ones included (an erratum). */
  rxPackets: number;
  /** GPTC: good packets transmitted (8.2.3.23.32). */
  txPackets: number;
  /** GORCL/H: good octets received, CRC included (8.2.3.23.27). */
  rxBytes: number;
  /** GOTCL/H: good octets transmitted, CRC included (8.2.3.23.33). */
  txBytes: number;
  /** MPC of the 8 packet buffers: missed, packet buffer full (8.2.3.23.4). */
  missedNoBuffer: number;
  /** QPRDC of the 16 statistics counters: dropped, no free descriptor (8.2.3.23.72). */
  missedNoDescriptor: number;
}

// The functions below work on any register space of an 82599 (BAR0, or the
// software 82599's): IxgbeDevice calls them on its own BAR0, and labs 1 and 5
// name them as their reference solutions (tools/lab/solutions/), so one fix
// reaches the driver and the labs alike.

/** Reads (and so clears) the statistics counters of 8.2.3.23 that {@link addCounters} uses. */
export function readCounters(regs: RegisterSpace): HwCounters {
  const rxPackets = regs.read32(IXGBE_GPRC);
  const txPackets = regs.read32(IXGBE_GPTC);
  // Low half first: 8.2.3.23.27 — the pair is 36 bits wide, reading the high half clears it.
  const rxBytes = regs.read32(IXGBE_GORCL) + regs.read32(IXGBE_GORCH) * 2 ** 32;
  const txBytes = regs.read32(IXGBE_GOTCL) + regs.read32(IXGBE_GOTCH) * 2 ** 32;
  let missedNoBuffer = 0;
  for (let i = 0; i < 8; i++) missedNoBuffer += regs.read32(IXGBE_MPC(i));
  let missedNoDescriptor = 0;
  for (let i = 0; i < QUEUE_STAT_COUNTERS; i++) {
    missedNoDescriptor += regs.read32(IXGBE_QPRDC(i));
  }
  return { rxPackets, txPackets, rxBytes, txBytes, missedNoBuffer, missedNoDescriptor };
}

/**
 * Adds counters read by {@link readCounters} to `stats`:
 *
 * - `rxPackets` = GPRC - MPC: an erratum makes GPRC count the frames
 *   missed for a full packet buffer too (DPDK's ixgbe_ethdev.c cites it;
 *   Linux's ixgbe_update_stats subtracts MPC as we do).
 * - `rxBytes` = GORC - 4 per frame. GORC counts from the destination
 *   address through the CRC (8.2.3.23.27), also when HLREG0.RXCRCSTRP
 *   strips the CRC before the frame reaches us — we strip it, so we
 *   subtract it. (DPDK subtracts it only when stripping is off: it found
 *   the byte count without the CRC when stripping is on, unlike the
 *   datasheet's text. Without a card we follow the datasheet; if DPDK is
 *   right about the silicon, rxBytes is 4 bytes per frame low.)
 * - `txBytes` = GOTC - 4 per frame (GOTC includes the CRC we have appended).
 * - `rxMissed` = MPC (packet buffer full) + QPRDC (no free descriptor with
 *   SRRCTL.DROP_EN) of all 16 statistics counters: QPRDC[n] counts the
 *   queues RQSMR maps to counter n, so every queue is counted however it
 *   is mapped.
 */
export function addCounters(c: HwCounters, stats: DeviceStats): void {
  const rxPackets = c.rxPackets - c.missedNoBuffer;
  stats.rxPackets += rxPackets;
  stats.txPackets += c.txPackets;
  stats.rxBytes += c.rxBytes - CRC_BYTES * rxPackets;
  stats.txBytes += c.txBytes - CRC_BYTES * c.txPackets;
  stats.rxMissed += c.missedNoBuffer + c.missedNoDescriptor;
}

/** Adds the counters since the last read to `stats` (8.2.3.23, all clear on read). Lab 5. */
export function readStats(regs: RegisterSpace, stats: DeviceStats): void {
  addCounters(readCounters(regs), stats);
}

/**
 * Unicast and multicast promiscuous mode (FCTRL.UPE / MPE, 8.2.3.7.1),
 * read-modify-write so the other bits (BAM: broadcasts) stay. Lab 5.
 */
export function setPromisc(regs: RegisterSpace, enabled: boolean): void {
  const bits = IXGBE_FCTRL_BITS.UPE | IXGBE_FCTRL_BITS.MPE;
  if (enabled) setFlags32(regs, IXGBE_FCTRL, bits);
  else clearFlags32(regs, IXGBE_FCTRL, bits);
}

/** Link speed from LINKS (8.2.3.22.20): 100, 1000 or 10000 Mbit/s, 0 while down. Lab 1. */
export function readLinkSpeed(regs: RegisterSpace): number {
  const links = regs.read32(IXGBE_LINKS);
  if ((links & IXGBE_LINKS_BITS.UP) === 0) return 0;
  switch ((links & IXGBE_LINKS_BITS.SPEED_82599) >>> 0) {
    case IXGBE_LINKS_BITS.SPEED_100_82599:
      return 100;
    case IXGBE_LINKS_BITS.SPEED_1G_82599:
      return 1000;
    case IXGBE_LINKS_BITS.SPEED_10G_82599:
      return 10000;
    default:
      return 0;
  }
}

/**
 * The MAC address in receive address filter 0 (RAL/RAH(0), 8.2.3.7.9-10),
 * which the device loads from its EEPROM. Lab 1.
 */
export function readMac(regs: RegisterSpace): Uint8Array {
  return macFromReceiveAddress(regs.read32(IXGBE_RAL(0)), regs.read32(IXGBE_RAH(0)));
}

/** An Intel 82599 NIC (or the software 82599 of tools/sim82599/). */
export class IxgbeDevice implements IxyDevice, RingIntrospection {
  /** Always `"ixgbe"`. */
  readonly driverName = "ixgbe";
  /** PCI address of the NIC (or the name of the model port). */
  readonly pciAddress: string;
  /** Number of receive queues set up. */
  readonly numRxQueues: number;
  /** Number of transmit queues set up. */
  readonly numTxQueues: number;
  /** Receive interrupts (MSI-X), with `interrupts: true` and `interruptVectors`. */
  interrupts?: IxgbeInterrupts;

  #regs: RegisterSpace;
  #dma: DmaAllocator;
  #rx: RxQueue[] = [];
  #tx: TxQueue[] = [];
  #rxRingSize: number;
  #txRingSize: number;
  // The PCI function from ixyInit (undefined on the software 82599).
  #function?: PciFunction;
  #closed = false;
  // The counters as close() read them just before the reset cleared them.
  #countersAtClose?: HwCounters;

  private constructor(
    regs: RegisterSpace,
    dma: DmaAllocator,
    options: IxgbeOptions & {
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
   * Brings up the 82599 at `pci` (identified, taken from the kernel, bus
   * master on; drivers/mod.ts): maps BAR0 and calls {@link attach}. Its DMA
   * always goes through the IOMMU when there is one.
   */
  static open(pci: PciFunction, options: IxgbeOptions = {}): IxgbeDevice {
    const dev = IxgbeDevice.attach(pci.mapMemoryBar(0), pci.dmaAllocator(), {
      ...options,
      name: pci.address,
      interruptVectors: options.interruptVectors ?? pci.interruptVectors,
    });
    dev.#function = pci;
    return dev;
  }

  /** The PCI function behind the device (for `--rebind`); undefined on the model. */
  get pci(): PciDevice | undefined {
    return this.#function?.pci;
  }

  /**
   * Brings up an 82599 reached through `regs` (its BAR0, or a model's), with
   * rings and buffers from `dma`. The order is ixy's `reset_and_init`, which
   * follows datasheet section 4.6.3 "Initialization Sequence".
   */
  static attach(
    regs: RegisterSpace,
    dma: DmaAllocator,
    options: IxgbeOptions & { name: string },
  ): IxgbeDevice {
    const dev = new IxgbeDevice(regs, dma, options);
    dev.#resetAndInit(options.linkTimeoutMs ?? 10_000);
    if (options.interrupts && options.interruptVectors) {
      // 7.3.4.3: MSI-X, one vector per RX queue, all masked until a queue idles.
      dev.interrupts = IxgbeInterrupts.setup(regs, {
        queues: dev.numRxQueues,
        vectors: options.interruptVectors,
        rate: options.interruptRate ?? IXGBE_DEFAULT_INTERRUPT_RATE,
        name: dev.pciAddress,
      });
    }
    return dev;
  }

  #resetAndInit(linkTimeoutMs: number): void {
    const regs = this.#regs;
    // 4.6.3.1 "Interrupts During Initialization": mask all interrupts first...
    this.#disableInterrupts();
    // 4.6.3.2 "Global Reset and General Configuration": a global reset
    // (CTRL.RST, with CTRL.LRST for the link) resets the whole function.
    this.#globalReset("end of global reset (CTRL.RST)");
    // Then wait 10 ms as ixy.
    sleepMicros(10_000);
    // ...and again after the reset, which unmasked them (4.6.3.1).
    this.#disableInterrupts();

    // 4.6.3: wait for the EEPROM auto-read (EEC.ARD, 8.2.3.2.1) — it loads the
    // MAC address into RAL/RAH(0) — and for DMA init (RDRXCTL.DMAIDONE, 8.2.3.8.8).
    waitForFlags32(regs, IXGBE_EEC, IXGBE_EEC_ARD, true, {
      what: `${this.pciAddress}: EEPROM auto-read done (EEC.ARD)`,
    });
    waitForFlags32(regs, IXGBE_RDRXCTL, IXGBE_RDRXCTL_BITS.DMAIDONE, true, {
      what: `${this.pciAddress}: DMA initialisation done (RDRXCTL.DMAIDONE)`,
    });

    // 4.6.4 "Link Setup": 10 GbE serial link mode (AUTOC.LMS, 8.2.3.22.19),
    // XAUI PMA/PMD, then restart auto-negotiation. We wait for the link at the
    // very end, as ixy does, so the rest of the setup overlaps it.
    const autoc = regs.read32(IXGBE_AUTOC);
    regs.write32(
      IXGBE_AUTOC,
      ((autoc & ~IXGBE_AUTOC_BITS.LMS_MASK & ~IXGBE_AUTOC_BITS.PMA_PMD_10G_MASK) |
        IXGBE_AUTOC_BITS.LMS_10G_SERIAL | IXGBE_AUTOC_BITS.PMA_PMD_10G_XAUI) >>> 0,
    );
    setFlags32(regs, IXGBE_AUTOC, IXGBE_AUTOC_BITS.AN_RESTART);

    // 4.6.5 "Initialization of Statistics": the counters clear on read, so
    // reading them once starts them from zero.
    readCounters(this.#regs);

    this.#initRx();
    this.#initTx();
    // 4.6.7 / 4.6.8 last steps: enable the queues once everything else is set.
    for (let i = 0; i < this.numRxQueues; i++) this.#startRxQueue(i);
    for (let i = 0; i < this.numTxQueues; i++) this.#startTxQueue(i);

    // Promiscuous by default (as ixy): makes testing less surprising.
    this.setPromisc(true);
    this.#waitForLink(linkTimeoutMs);
  }

  /**
   * Sets CTRL.RST | CTRL.LRST and waits until both clear themselves. The
   * device must be left alone for ~1 ms first — not even CTRL may be read
   * (8.2.3.1.1).
   */
  #globalReset(what: string): void {
    setFlags32(this.#regs, IXGBE_CTRL, IXGBE_CTRL_RST_MASK);
    sleepMicros(RESET_QUIET_US);
    waitForFlags32(this.#regs, IXGBE_CTRL, IXGBE_CTRL_RST_MASK, false, {
      what: `${this.pciAddress}: ${what}`,
    });
  }

  /** Masks every interrupt cause (EIMC, 8.2.3.5.4) and clears pending ones (EICR reads clear, 8.2.3.5.1). */
  #disableInterrupts(): void {
    this.#regs.write32(IXGBE_EIMC, IXGBE_IRQ_CLEAR_MASK);
    this.#regs.read32(IXGBE_EICR);
  }

  /** 4.6.7 "Receive Initialization"; RSS with several queues (./rss.ts); no DCB, no VMDq. */
  #initRx(): void {
    const regs = this.#regs;
    // Receive stays off while we configure it (RXCTRL.RXEN, 8.2.3.8.10).
    clearFlags32(regs, IXGBE_RXCTRL, IXGBE_RXCTRL_RXEN);
    // One traffic class: all of the packet buffer to PB0 (RXPBSIZE, 8.2.3.8.9);
    // 128 KB as ixy (4.6.11.3.4 lists the sizes without DCB).
    regs.write32(IXGBE_RXPBSIZE(0), IXGBE_RXPBSIZE_128KB);
    for (let i = 1; i < 8; i++) regs.write32(IXGBE_RXPBSIZE(i), 0);
    // Strip the CRC: HLREG0.RXCRCSTRP (8.2.3.22.8) and RDRXCTL.CRCSTRIP
    // (8.2.3.8.8) must agree.
    setFlags32(regs, IXGBE_HLREG0, IXGBE_HLREG0_BITS.RXCRCSTRP);
    setFlags32(regs, IXGBE_RDRXCTL, IXGBE_RDRXCTL_BITS.CRCSTRIP);
    // Accept broadcast frames (FCTRL.BAM, 8.2.3.7.1).
    setFlags32(regs, IXGBE_FCTRL, IXGBE_FCTRL_BITS.BAM);

    for (let i = 0; i < this.numRxQueues; i++) {
      // ixy's pool size: enough for the ring and a batch held by the app.
      const pool = Mempool.create(this.#dma, {
        numEntries: this.#rxRingSize * RX_POOL_FACTOR,
        entrySize: RX_ENTRY_SIZE,
      });
      // SRRCTL (8.2.3.8.7): advanced descriptors, one buffer per packet;
      // BSIZEPACKET = the buffers' data area in whole KB (1..16), so the
      // device never writes past it (see RX_ENTRY_SIZE); DROP_EN drops a
      // frame when this queue has no descriptor, instead of filling the
      // shared packet buffer and stalling every queue (counted in QPRDC).
      const bsizeKb = Math.min(16, Math.floor(pool.buffers[0].data.length / 1024));
      const srrctl = regs.read32(IXGBE_SRRCTL(i));
      regs.write32(
        IXGBE_SRRCTL(i),
        ((srrctl & ~IXGBE_SRRCTL_BITS.DESCTYPE_MASK & ~IXGBE_SRRCTL_BITS.BSIZEPKT_MASK) |
          IXGBE_SRRCTL_BITS.DESCTYPE_ADV_ONEBUF | IXGBE_SRRCTL_BITS.DROP_EN | bsizeKb) >>> 0,
      );
      // The descriptor ring (7.1.9): base (RDBAL/RDBAH, 8.2.3.8.1-2, 128-byte
      // aligned — a fresh DMA block is), length in bytes (RDLEN, 8.2.3.8.3).
      const bytes = this.#rxRingSize * IXGBE_DESC_SIZE;
      const mem = this.#dma.allocate(bytes, { contiguous: true });
      const desc = new Uint32Array(mem.buffer, 0, bytes / 4);
      // Snabb's trick (ixy does it too): all ones until we fill the ring, so
      // a device that starts too early DMAs to an impossible address.
      desc.fill(0xffffffff);
      const phys = mem.physAddr(0);
      regs.write32(IXGBE_RDBAL(i), lo32(phys));
      regs.write32(IXGBE_RDBAH(i), hi32(phys));
      regs.write32(IXGBE_RDLEN(i), bytes);
      // Empty ring for now: head = tail = 0 (RDH/RDT, 8.2.3.8.4-5).
      regs.write32(IXGBE_RDH(i), 0);
      regs.write32(IXGBE_RDT(i), 0);
      this.#rx.push(
        new RxQueue(regs, i, desc, this.#rxRingSize, pool, IXGBE_RDT(i), IXGBE_RX_ERROR_BITS),
      );
    }

    // The last sentence of 4.6.7: set CTRL_EXT.NS_DIS (8.2.3.1.3) and clear
    // bit 12 of DCA_RXCTRL (8.2.3.11.1), reserved but 1 after reset.
    setFlags32(regs, IXGBE_CTRL_EXT, IXGBE_CTRL_EXT_NS_DIS);
    for (let i = 0; i < this.numRxQueues; i++) {
      clearFlags32(regs, IXGBE_DCA_RXCTRL(i), IXGBE_DCA_RXCTRL_BIT12);
    }
    // Several queues: RSS spreads the flows over them (./rss.ts, 7.1.2.8).
    if (this.numRxQueues > 1) setupRss(regs, this.numRxQueues);
    // Receive on (RXCTRL.RXEN). The queues start later (#startRxQueue).
    setFlags32(regs, IXGBE_RXCTRL, IXGBE_RXCTRL_RXEN);
  }

  /** 4.6.8 "Transmit Initialization" (no DCB, no virtualisation). */
  #initTx(): void {
    const regs = this.#regs;
    // Append the CRC and pad short frames (HLREG0, 8.2.3.22.8).
    setFlags32(regs, IXGBE_HLREG0, IXGBE_HLREG0_BITS.TXCRCEN | IXGBE_HLREG0_BITS.TXPADEN);
    // 4.6.8: the descriptor arbiter is off (RTTDCS.ARBDIS, 8.2.3.10.2) while
    // the packet buffers (TXPBSIZE, 8.2.3.9.13; 40 KB in PB0 as ixy, see
    // 4.6.11.3.4), DTXMXSZRQ (8.2.3.9.1; "required when not using DCB") and
    // MTQC (8.2.3.9.15; 0 = one pool, no DCB) change.
    setFlags32(regs, IXGBE_RTTDCS, IXGBE_RTTDCS_ARBDIS);
    regs.write32(IXGBE_TXPBSIZE(0), IXGBE_TXPBSIZE_40KB);
    for (let i = 1; i < 8; i++) regs.write32(IXGBE_TXPBSIZE(i), 0);
    regs.write32(IXGBE_DTXMXSZRQ, 0xffff);
    regs.write32(IXGBE_MTQC, 0);
    clearFlags32(regs, IXGBE_RTTDCS, IXGBE_RTTDCS_ARBDIS);

    const T = IXGBE_TXDCTL_THRESH;
    for (let i = 0; i < this.numTxQueues; i++) {
      // The ring (7.2.3.3): TDBAL/TDBAH/TDLEN (8.2.3.9.5-7).
      const bytes = this.#txRingSize * IXGBE_DESC_SIZE;
      const mem = this.#dma.allocate(bytes, { contiguous: true });
      const desc = new Uint32Array(mem.buffer, 0, bytes / 4);
      desc.fill(0xffffffff);
      const phys = mem.physAddr(0);
      regs.write32(IXGBE_TDBAL(i), lo32(phys));
      regs.write32(IXGBE_TDBAH(i), hi32(phys));
      regs.write32(IXGBE_TDLEN(i), bytes);
      // Descriptor prefetch / host / write-back thresholds (TXDCTL, 8.2.3.9.10;
      // see 7.2.3.4.1 and 7.2.3.5): DPDK's 36 / 8 / 4, as ixy.
      let txdctl = regs.read32(IXGBE_TXDCTL(i));
      txdctl &= ~((T.FIELD_MASK << T.PTHRESH_SHIFT) | (T.FIELD_MASK << T.HTHRESH_SHIFT) |
        (T.FIELD_MASK << T.WTHRESH_SHIFT));
      txdctl |= (36 << T.PTHRESH_SHIFT) | (8 << T.HTHRESH_SHIFT) | (4 << T.WTHRESH_SHIFT);
      regs.write32(IXGBE_TXDCTL(i), txdctl >>> 0);
      this.#tx.push(new TxQueue(regs, i, desc, this.#txRingSize, IXGBE_TDT(i)));
    }
    // Last step: transmit DMA on (DMATXCTL.TE, 8.2.3.9.2), read-modify-write:
    // bits 31:16 hold the VLAN EtherType 0x8100, which must stay.
    setFlags32(regs, IXGBE_DMATXCTL, IXGBE_DMATXCTL_TE);
  }

  /**
   * Fills receive queue `i` with buffers and enables it (4.6.7, last steps,
   * and 4.6.7.1 "Dynamic Enabling and Disabling of Receive Queues").
   */
  #startRxQueue(i: number): void {
    const q = this.#rx[i];
    for (let d = 0; d < q.size; d++) {
      const buf = q.pool.alloc();
      if (buf === undefined) throw new IxyError(`${this.pciAddress}: RX mempool too small.`);
      post(q, d, buf);
    }
    // RXDCTL.ENABLE (8.2.3.8.6) reads back 1 once the queue runs.
    setFlags32(this.#regs, IXGBE_RXDCTL(i), IXGBE_RXDCTL_ENABLE);
    waitForFlags32(this.#regs, IXGBE_RXDCTL(i), IXGBE_RXDCTL_ENABLE, true, {
      what: `${this.pciAddress}: RX queue ${i} enable (RXDCTL.ENABLE)`,
    });
    // Hand the device all descriptors but one: RDT = size - 1. (RDH = RDT
    // would mean "no descriptor for the device", so one always stays ours.)
    // RDH is still 0 from #initRx.
    this.#regs.write32(IXGBE_RDT(i), q.size - 1);
  }

  /** Enables transmit queue `i` (4.6.8, 4.6.8.1): empty ring, TXDCTL.ENABLE, wait. */
  #startTxQueue(i: number): void {
    this.#regs.write32(IXGBE_TDH(i), 0);
    this.#regs.write32(IXGBE_TDT(i), 0);
    setFlags32(this.#regs, IXGBE_TXDCTL(i), IXGBE_TXDCTL_ENABLE);
    waitForFlags32(this.#regs, IXGBE_TXDCTL(i), IXGBE_TXDCTL_ENABLE, true, {
      what: `${this.pciAddress}: TX queue ${i} enable (TXDCTL.ENABLE)`,
    });
  }

  /** Polls LINKS every 10 ms until the link is up or `timeoutMs` passed (as ixy: not fatal). */
  #waitForLink(timeoutMs: number): void {
    const deadline = performance.now() + timeoutMs;
    while (this.getLinkSpeed() === 0 && performance.now() < deadline) sleepMicros(10_000);
  }

  /**
   * Receives up to `count` packets from queue `queueId`: {@link rxBatch} of
   * ./rx.ts on the queue's ring (7.1). Malformed write-backs are dropped
   * there and counted in `rxErrors`.
   */
  rxBatch(queueId: number, bufs: PktBuf[], count: number): number {
    const q = this.#rx[queueId];
    if (q === undefined) throw this.#badQueue("RX", queueId, this.numRxQueues);
    return rxBatch(q, bufs, count);
  }

  /**
   * Sends `bufs[0..count)` on queue `queueId`: {@link txBatch} of ./tx.ts on
   * the queue's ring (7.2); returns how many it took.
   */
  txBatch(queueId: number, bufs: PktBuf[], count: number): number {
    const q = this.#tx[queueId];
    if (q === undefined) throw this.#badQueue("TX", queueId, this.numTxQueues);
    return txBatch(q, bufs, count);
  }

  /**
   * Adds the device's counters (8.2.3.23, all clear on read) to `stats`:
   * {@link readCounters} and {@link addCounters} say which and how. `rxErrors`
   * are the frames we dropped as malformed.
   */
  readStats(stats: DeviceStats): void {
    // After close() the reset has cleared the registers: report what close() read, once.
    addCounters(this.#countersAtClose ?? readCounters(this.#regs), stats);
    this.#countersAtClose = undefined;
    for (const q of this.#rx) {
      stats.rxErrors += q.errors;
      q.errors = 0;
    }
  }

  /** Unicast and multicast promiscuous mode: {@link setPromisc} on our BAR0. */
  setPromisc(enabled: boolean): void {
    setPromisc(this.#regs, enabled);
  }

  /** Link speed in Mbit/s, 0 while down: {@link readLinkSpeed} on our BAR0. */
  getLinkSpeed(): number {
    return readLinkSpeed(this.#regs);
  }

  /** The MAC address from the EEPROM: {@link readMac} on our BAR0. */
  getMacAddress(): Uint8Array {
    return readMac(this.#regs);
  }

  /**
   * Lets the transmit queues drain (up to 100 ms in all), reads the
   * counters (the reset clears them: a readStats after close still reports
   * everything counted until then), resets the device (4.6.3.2), which stops
   * all its DMA into our memory, returns every buffer still on a ring to its
   * mempool, and clears Bus Master Enable. A second call does nothing.
   *
   * Draining takes two waits. TDH = TDT only says the device has *fetched*
   * every descriptor (7.2.3.3). With TXDCTL.WTHRESH = 4 it writes DD back in
   * groups of four (7.2.3.5.1), so up to three processed descriptors can
   * wait without DD; TXDCTL.SWFLSH (8.2.3.9.10) has them written back now.
   * Then DD on the last descriptor says the device is done with them all.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const regs = this.#regs;
    const deadline = performance.now() + CLOSE_DRAIN_MS;
    for (let i = 0; i < this.numTxQueues; i++) {
      const q = this.#tx[i];
      while (regs.read32(IXGBE_TDH(i)) !== q.txIndex && performance.now() < deadline) {
        sleepMicros(100);
      }
      setFlags32(regs, IXGBE_TXDCTL(i), IXGBE_TXDCTL_SWFLSH);
      while (!allSent(q) && performance.now() < deadline) sleepMicros(100);
      cleanTx(q, 1);
    }
    this.#countersAtClose = readCounters(this.#regs);
    this.#globalReset("end of reset on close (CTRL.RST)");
    // The device no longer reads or writes our memory: buffers it never
    // finished (the wait timed out) and the receive buffers are ours again.
    for (const q of this.#tx) freeAll(q);
    for (const q of this.#rx) freeRing(q);
    this.#function?.disableBusMastering();
  }

  /**
   * Describes the rings for observers (tools/view/): memory, base address
   * (read back from RDBAL/RDBAH, TDBAL/TDBAH), head and tail registers, and
   * our own index (RX: next descriptor we look at; TX: oldest not cleaned).
   * Not on the hot path: rxBatch/txBatch know nothing of it.
   */
  describeRings(): RingDescription[] {
    const r = this.#regs;
    // The two address halves joined again (the one split is lo32/hi32, src/memory.ts).
    const base = (lo: number, hi: number) => r.read32(lo) + r.read32(hi) * 2 ** 32;
    const rx = this.#rx.map((q, i): RingDescription => ({
      kind: "ixgbe-rx",
      queue: i,
      size: q.size,
      memory: q.desc.buffer,
      byteLength: q.size * IXGBE_DESC_SIZE,
      physAddr: base(IXGBE_RDBAL(i), IXGBE_RDBAH(i)),
      registers: { head: IXGBE_RDH(i), tail: IXGBE_RDT(i) },
      pool: q.pool,
      driverIndex: () => q.index,
    }));
    const tx = this.#tx.map((q, i): RingDescription => ({
      kind: "ixgbe-tx",
      queue: i,
      size: q.size,
      memory: q.desc.buffer,
      byteLength: q.size * IXGBE_DESC_SIZE,
      physAddr: base(IXGBE_TDBAL(i), IXGBE_TDBAH(i)),
      registers: { head: IXGBE_TDH(i), tail: IXGBE_TDT(i) },
      driverIndex: () => q.cleanIndex,
    }));
    return [...rx, ...tx];
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

function checkCount(what: string, n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > MAX_QUEUES) {
    throw new IxyError(`Cannot set up ${n} ${what} on an 82599: use 1..${MAX_QUEUES}.`);
  }
  return n;
}

function checkRingSize(what: string, n: number): number {
  if (!Number.isInteger(n) || n < 8 || n > 4096 || (n & (n - 1)) !== 0) {
    throw new IxyError(
      `Invalid ${what} ${n}: the ring size must be a power of two from 8 to 4096 ` +
        `(RDLEN/TDLEN must be a multiple of 128 bytes, 8.2.3.8.3).`,
    );
  }
  return n;
}
