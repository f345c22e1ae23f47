/**
 * Intel 82599 (ixgbe) registers and descriptor formats, named as in the
 * "Intel 82599 10 GbE Controller Datasheet" (rev. 3.3) and Linux's
 * `drivers/net/ethernet/intel/ixgbe/ixgbe_type.h`. Only what ixy.ts uses.
 *
 * Offsets are byte offsets into BAR0 (all registers are 32 bits wide, section
 * 8.1). Per-queue registers are functions of the queue index, as the C macros
 * are: `IXGBE_RDBAL(3)` is the RDBAL register of receive queue 3. Some of them
 * sit at two addresses (an 82598-compatible alias for low queue numbers); we
 * use the same address Linux uses.
 *
 * Shared by the driver (ixgbe.ts) and the software 82599 (tools/sim82599/),
 * so both sides agree on every number.
 *
 * @module
 */

/** PCI vendor ID of Intel. */
export const IXGBE_VENDOR_ID = 0x8086;

/**
 * 82599 device IDs (datasheet section 9.3.3.2 "Device ID" lists the PCI IDs
 * the NVM can configure; names from ixgbe_type.h).
 */
export const IXGBE_DEVICE_ID = {
  /** 82599 SFI/SFP+ (the common X520 card). */
  DEV_ID_82599_SFP: 0x10fb,
  /** 82599 KX4 backplane. */
  DEV_ID_82599_KX4: 0x10f7,
  /** 82599 CX4. */
  DEV_ID_82599_CX4: 0x10f9,
  /** 82599 10GBASE-T (X520-T). */
  DEV_ID_82599_T3_LOM: 0x151c,
  /** 82599 SFP+ with FCoE. */
  DEV_ID_82599_SFP_FCOE: 0x1529,
  /** 82599 SFP+ (embedded). */
  DEV_ID_82599_SFP_EM: 0x1507,
  /** 82599 dual-port SFP+ (X520-DA2 variant). */
  DEV_ID_82599_SFP_SF2: 0x154d,
  /** 82599EN single-port SFP+. */
  DEV_ID_82599EN_SFP: 0x1557,
} as const;

/** Type of {@link IXGBE_DEVICE_ID}. */
export type IXGBE_DEVICE_ID = typeof IXGBE_DEVICE_ID;

/** All supported device IDs, for `ixyInit`'s driver table. */
export const IXGBE_DEVICE_IDS: readonly number[] = Object.values(IXGBE_DEVICE_ID);

// ---------------------------------------------------------------------------
// General control (8.2.3.1)

/** Device Control Register, 8.2.3.1.1 CTRL. */
export const IXGBE_CTRL = 0x00000;
/** Device Status Register, 8.2.3.1.2 STATUS. */
export const IXGBE_STATUS = 0x00008;
/** Extended Device Control Register, 8.2.3.1.3 CTRL_EXT. */
export const IXGBE_CTRL_EXT = 0x00018;

/** CTRL bits (8.2.3.1.1). */
export const IXGBE_CTRL_BITS = {
  /** Link Reset (LRST): resets the MAC/link; self-clearing. */
  LNK_RST: 0x00000008,
  /** Device Reset (RST): global reset of the whole function; self-clearing. */
  RST: 0x04000000,
} as const;

/** Type of {@link IXGBE_CTRL_BITS}. */
export type IXGBE_CTRL_BITS = typeof IXGBE_CTRL_BITS;

/** Both reset bits, as ixy and Linux write them for a global reset (4.6.3.2). */
export const IXGBE_CTRL_RST_MASK = IXGBE_CTRL_BITS.LNK_RST | IXGBE_CTRL_BITS.RST;

/** CTRL_EXT.NS_DIS: No Snoop Disable (8.2.3.1.3), set at the end of 4.6.7. */
export const IXGBE_CTRL_EXT_NS_DIS = 0x00010000;

/** EEPROM/Flash Control Register, 8.2.3.2.1 EEC. */
export const IXGBE_EEC = 0x10010;
/** EEC.ARD: EEPROM Auto-Read Done (8.2.3.2.1), set by hardware after reset. */
export const IXGBE_EEC_ARD = 0x00000200;

// ---------------------------------------------------------------------------
// Interrupts (7.3, registers in 8.2.3.5): masked while polling; MSI-X per receive queue on request.

/** Extended Interrupt Cause Read, 8.2.3.5.1 EICR. */
export const IXGBE_EICR = 0x00800;
/** Extended Interrupt Mask Set/Read, 8.2.3.5.3 EIMS. */
export const IXGBE_EIMS = 0x00880;
/** Extended Interrupt Mask Clear, 8.2.3.5.4 EIMC: writing 1s masks causes. */
export const IXGBE_EIMC = 0x00888;
/** All interrupt causes (bit 31 is reserved), for EIMC. */
export const IXGBE_IRQ_CLEAR_MASK = 0x7fffffff;
/** Extended Interrupt Cause Set, 8.2.3.5.2 EICS: writing 1s sets causes (software interrupts). */
export const IXGBE_EICS = 0x00808;
/** Extended Interrupt Auto Clear, 8.2.3.5.5 EIAC: these EICR bits clear when their MSI-X message is sent. */
export const IXGBE_EIAC = 0x00810;
/** Extended Interrupt Auto Mask Enable, 8.2.3.5.6 EIAM (acts with GPIE.EIAME). */
export const IXGBE_EIAM = 0x00890;
/** General Purpose Interrupt Enable, 8.2.3.5.18 GPIE. */
export const IXGBE_GPIE = 0x00898;
/** GPIE bits (8.2.3.5.18; Linux ixgbe_type.h names). */
export const IXGBE_GPIE_BITS = {
  /** Multiple_MSIX: MSI-X mode, one message per vector (7.3.4.3). */
  MSIX_MODE: 0x00000010,
  /** OCD: other-clear disable (EICR other causes not cleared on read). */
  OCD: 0x00000020,
  /** EIAME: auto-mask (EIAM) applies when an MSI-X message is sent. */
  EIAME: 0x40000000,
  /** PBA_support: the MSI-X pending bit array reflects EICR. */
  PBA_SUPPORT: 0x80000000,
} as const;
/** Type of {@link IXGBE_GPIE_BITS}. */
export type IXGBE_GPIE_BITS = typeof IXGBE_GPIE_BITS;
/** The queue causes of EICR: bits 15:0 (RTxQ), one per MSI-X vector 0-15 (8.2.3.5.1). */
export const IXGBE_EICR_RTX_QUEUE = 0x0000ffff;
/**
 * Extended Interrupt Throttle Register of vector `n` (8.2.3.5.12 EITR[n]):
 * 0x00820 + 4n for n <= 23, 0x12300 + 4(n - 24) above.
 */
export const IXGBE_EITR = (n: number): number => n <= 23 ? 0x00820 + 4 * n : 0x12300 + 4 * (n - 24);
/** EITR bits 11:3, ITR_INTERVAL: the minimum gap between interrupts, in 2.048 us units (1/10 GbE). */
export const IXGBE_EITR_ITR_INTERVAL_MASK = 0x00000ff8;
/** EITR.ITR_INTERVAL's unit at 1 and 10 GbE link, in microseconds (8.2.3.5.12). */
export const IXGBE_EITR_UNIT_US = 2.048;
/** EITR bit 31, CNT_WDIS: write the interval without touching the running counter. */
export const IXGBE_EITR_CNT_WDIS = 0x80000000;
/**
 * Interrupt Vector Allocation register `n` (8.2.3.5.16 IVAR[n], 0x00900 + 4n,
 * n = 0..63): four 8-bit entries, RX queue 2n (bits 7:0), TX queue 2n (15:8),
 * RX queue 2n+1 (23:16), TX queue 2n+1 (31:24); each entry is the vector
 * (bits 5:0) and a valid bit (bit 7).
 */
export const IXGBE_IVAR = (n: number): number => 0x00900 + 4 * n;
/** IVAR entry bit 7, INT_Alloc_val: the entry is valid. */
export const IXGBE_IVAR_ALLOC_VAL = 0x80;
/** Bit position of the entry for RX (`tx` false) or TX queue `queue` in IVAR[queue >> 1]. */
export const IXGBE_IVAR_SHIFT = (queue: number, tx: boolean): number =>
  16 * (queue & 1) + (tx ? 8 : 0);

// ---------------------------------------------------------------------------
// Link (8.2.3.22 MAC registers)

/** Auto-Negotiation Control Register, 8.2.3.22.19 AUTOC. */
export const IXGBE_AUTOC = 0x042a0;
/** Link Status Register, 8.2.3.22.20 LINKS. */
export const IXGBE_LINKS = 0x042a4;
/** MAC Core Control 0 Register, 8.2.3.22.8 HLREG0. */
export const IXGBE_HLREG0 = 0x04240;

/** AUTOC fields (8.2.3.22.19). */
export const IXGBE_AUTOC_BITS = {
  /** Restart auto-negotiation (self-clearing). */
  AN_RESTART: 0x00001000,
  /** Link Mode Select, bits 15:13. */
  LMS_MASK: 0x7 << 13,
  /** LMS = 011b: 10 GbE serial link (SFI / KR) with no backplane auto-negotiation. */
  LMS_10G_SERIAL: 0x3 << 13,
  /** 10G PMA/PMD select, bits 8:7. */
  PMA_PMD_10G_MASK: 0x00000180,
  /** 10G PMA/PMD = 00b: XAUI. */
  PMA_PMD_10G_XAUI: 0x00000000,
} as const;

/** Type of {@link IXGBE_AUTOC_BITS}. */
export type IXGBE_AUTOC_BITS = typeof IXGBE_AUTOC_BITS;

/** LINKS fields (8.2.3.22.20). */
export const IXGBE_LINKS_BITS = {
  /** Link is up. */
  UP: 0x40000000,
  /** Link speed, bits 29:28. */
  SPEED_82599: 0x30000000,
  /** Speed 10 Gb/s. */
  SPEED_10G_82599: 0x30000000,
  /** Speed 1 Gb/s. */
  SPEED_1G_82599: 0x20000000,
  /** Speed 100 Mb/s. */
  SPEED_100_82599: 0x10000000,
} as const;

/** Type of {@link IXGBE_LINKS_BITS}. */
export type IXGBE_LINKS_BITS = typeof IXGBE_LINKS_BITS;

/** HLREG0 bits (8.2.3.22.8). */
export const IXGBE_HLREG0_BITS = {
  /** Append the Ethernet CRC to transmitted frames. */
  TXCRCEN: 0x00000001,
  /** Strip the CRC from received frames. */
  RXCRCSTRP: 0x00000002,
  /** Pad short transmitted frames to 64 bytes (with CRC). */
  TXPADEN: 0x00000400,
} as const;

/** Type of {@link IXGBE_HLREG0_BITS}. */
export type IXGBE_HLREG0_BITS = typeof IXGBE_HLREG0_BITS;

// ---------------------------------------------------------------------------
// Receive (8.2.3.8 receive DMA, 8.2.3.7 filters)

/** Receive Control Register, 8.2.3.8.10 RXCTRL. */
export const IXGBE_RXCTRL = 0x03000;
/** RXCTRL.RXEN: receive enable. */
export const IXGBE_RXCTRL_RXEN = 0x00000001;

/** Receive DMA Control Register, 8.2.3.8.8 RDRXCTL. */
export const IXGBE_RDRXCTL = 0x02f00;
/** RDRXCTL bits (8.2.3.8.8). */
export const IXGBE_RDRXCTL_BITS = {
  /** Strip the CRC in the DMA (must match HLREG0.RXCRCSTRP). */
  CRCSTRIP: 0x00000002,
  /** DMA initialisation done, set by hardware after reset. */
  DMAIDONE: 0x00000008,
} as const;

/** Type of {@link IXGBE_RDRXCTL_BITS}. */
export type IXGBE_RDRXCTL_BITS = typeof IXGBE_RDRXCTL_BITS;

/** Receive Packet Buffer Size, 8.2.3.8.9 RXPBSIZE[n], n = 0..7 (size in KB, bits 19:10). */
export function IXGBE_RXPBSIZE(i: number): number {
  return 0x03c00 + i * 4;
}
/** RXPBSIZE value for 128 KB. */
export const IXGBE_RXPBSIZE_128KB = 0x00020000;

/** Filter Control Register, 8.2.3.7.1 FCTRL. */
export const IXGBE_FCTRL = 0x05080;
/** FCTRL bits (8.2.3.7.1). */
export const IXGBE_FCTRL_BITS = {
  /** Multicast Promiscuous Enable. */
  MPE: 0x00000100,
  /** Unicast Promiscuous Enable. */
  UPE: 0x00000200,
  /** Broadcast Accept Mode. */
  BAM: 0x00000400,
} as const;

/** Type of {@link IXGBE_FCTRL_BITS}. */
export type IXGBE_FCTRL_BITS = typeof IXGBE_FCTRL_BITS;

/** Receive Address Low, 8.2.3.7.9 RAL[n]: MAC address bytes 0-3 of filter n. */
export function IXGBE_RAL(i: number): number {
  return i <= 15 ? 0x05400 + i * 8 : 0x0a200 + i * 8;
}
/** Receive Address High, 8.2.3.7.10 RAH[n]: MAC address bytes 4-5 and the valid bit. */
export function IXGBE_RAH(i: number): number {
  return i <= 15 ? 0x05404 + i * 8 : 0x0a204 + i * 8;
}
/** RAH.AV: Address Valid (8.2.3.7.10). */
export const IXGBE_RAH_AV = 0x80000000;

/** Receive Descriptor Base Address Low, 8.2.3.8.1 RDBAL[n] (128-byte aligned). */
export function IXGBE_RDBAL(i: number): number {
  return i < 64 ? 0x01000 + i * 0x40 : 0x0d000 + (i - 64) * 0x40;
}
/** Receive Descriptor Base Address High, 8.2.3.8.2 RDBAH[n]. */
export function IXGBE_RDBAH(i: number): number {
  return i < 64 ? 0x01004 + i * 0x40 : 0x0d004 + (i - 64) * 0x40;
}
/** Receive Descriptor Length, 8.2.3.8.3 RDLEN[n] (bytes, a multiple of 128). */
export function IXGBE_RDLEN(i: number): number {
  return i < 64 ? 0x01008 + i * 0x40 : 0x0d008 + (i - 64) * 0x40;
}
/** Receive Descriptor Head, 8.2.3.8.4 RDH[n] (hardware advances it). */
export function IXGBE_RDH(i: number): number {
  return i < 64 ? 0x01010 + i * 0x40 : 0x0d010 + (i - 64) * 0x40;
}
/** Receive Descriptor Tail, 8.2.3.8.5 RDT[n] (software advances it). */
export function IXGBE_RDT(i: number): number {
  return i < 64 ? 0x01018 + i * 0x40 : 0x0d018 + (i - 64) * 0x40;
}
/** Receive Descriptor Control, 8.2.3.8.6 RXDCTL[n]. */
export function IXGBE_RXDCTL(i: number): number {
  return i < 64 ? 0x01028 + i * 0x40 : 0x0d028 + (i - 64) * 0x40;
}
/** RXDCTL.ENABLE: receive queue enable (8.2.3.8.6); reads 1 once the queue runs. */
export const IXGBE_RXDCTL_ENABLE = 0x02000000;

/** Split and Replication Receive Control, 8.2.3.8.7 SRRCTL[n]. */
export function IXGBE_SRRCTL(i: number): number {
  if (i <= 15) return 0x02100 + i * 4;
  return i < 64 ? 0x01014 + i * 0x40 : 0x0d014 + (i - 64) * 0x40;
}
/** SRRCTL fields (8.2.3.8.7). */
export const IXGBE_SRRCTL_BITS = {
  /** Receive buffer size for packets, bits 4:0, in 1 KB units. */
  BSIZEPKT_MASK: 0x0000001f,
  /** Descriptor type, bits 27:25. */
  DESCTYPE_MASK: 0x0e000000,
  /** Descriptor type 001b: advanced, one buffer. */
  DESCTYPE_ADV_ONEBUF: 0x02000000,
  /** Drop packets when the queue has no free descriptor (counted in QPRDC). */
  DROP_EN: 0x10000000,
} as const;

/** Type of {@link IXGBE_SRRCTL_BITS}. */
export type IXGBE_SRRCTL_BITS = typeof IXGBE_SRRCTL_BITS;

/** Rx DCA Control, 8.2.3.11.1 DCA_RXCTRL[n]; bit 12 must be cleared (4.6.7). */
export function IXGBE_DCA_RXCTRL(i: number): number {
  if (i <= 15) return 0x02200 + i * 4;
  return i < 64 ? 0x0100c + i * 0x40 : 0x0d00c + (i - 64) * 0x40;
}
/** DCA_RXCTRL bit 12: reserved, reads 1 after reset, must be written 0 (4.6.7). */
export const IXGBE_DCA_RXCTRL_BIT12 = 1 << 12;

// ---------------------------------------------------------------------------
// Transmit (8.2.3.9 transmit DMA, 8.2.3.10 DCB)

/** DMA Tx Control, 8.2.3.9.2 DMATXCTL. */
export const IXGBE_DMATXCTL = 0x04a80;
/** DMATXCTL.TE: transmit enable. */
export const IXGBE_DMATXCTL_TE = 0x00000001;

/** DCB Transmit Descriptor Plane Control and Status, 8.2.3.10.2 RTTDCS. */
export const IXGBE_RTTDCS = 0x04900;
/** RTTDCS.ARBDIS: disable the descriptor arbiter while changing TX config (4.6.8). */
export const IXGBE_RTTDCS_ARBDIS = 0x00000040;

/** Multiple Transmit Queues Command, 8.2.3.9.15 MTQC. */
export const IXGBE_MTQC = 0x08120;

/** DMA Tx TCP Max Allow Size Requests, 8.2.3.9.1 DTXMXSZRQ. */
export const IXGBE_DTXMXSZRQ = 0x08100;

/** Transmit Packet Buffer Size, 8.2.3.9.13 TXPBSIZE[n], n = 0..7. */
export function IXGBE_TXPBSIZE(i: number): number {
  return 0x0cc00 + i * 4;
}
/** TXPBSIZE value for 40 KB. */
export const IXGBE_TXPBSIZE_40KB = 0x0000a000;

/** Transmit Descriptor Base Address Low, 8.2.3.9.5 TDBAL[n]. */
export function IXGBE_TDBAL(i: number): number {
  return 0x06000 + i * 0x40;
}
/** Transmit Descriptor Base Address High, 8.2.3.9.6 TDBAH[n]. */
export function IXGBE_TDBAH(i: number): number {
  return 0x06004 + i * 0x40;
}
/** Transmit Descriptor Length, 8.2.3.9.7 TDLEN[n]. */
export function IXGBE_TDLEN(i: number): number {
  return 0x06008 + i * 0x40;
}
/** Transmit Descriptor Head, 8.2.3.9.8 TDH[n]. */
export function IXGBE_TDH(i: number): number {
  return 0x06010 + i * 0x40;
}
/** Transmit Descriptor Tail, 8.2.3.9.9 TDT[n]. */
export function IXGBE_TDT(i: number): number {
  return 0x06018 + i * 0x40;
}
/** Transmit Descriptor Control, 8.2.3.9.10 TXDCTL[n]. */
export function IXGBE_TXDCTL(i: number): number {
  return 0x06028 + i * 0x40;
}
/** TXDCTL.ENABLE: transmit queue enable (8.2.3.9.10). */
export const IXGBE_TXDCTL_ENABLE = 0x02000000;
/**
 * TXDCTL.SWFLSH: write back the descriptors the device holds back for
 * WTHRESH (7.2.3.5.1) now; self-clearing (8.2.3.9.10).
 */
export const IXGBE_TXDCTL_SWFLSH = 0x04000000;
/**
 * TXDCTL thresholds (8.2.3.9.10, tuning in 7.2.3.4.1 / 7.2.3.5): PTHRESH bits
 * 6:0, HTHRESH 14:8, WTHRESH 22:16. ixy uses DPDK's 36 / 8 / 4.
 */
export const IXGBE_TXDCTL_THRESH = {
  PTHRESH_SHIFT: 0,
  HTHRESH_SHIFT: 8,
  WTHRESH_SHIFT: 16,
  /** Each threshold field is 7 bits wide. */
  FIELD_MASK: 0x7f,
} as const;

/** Type of {@link IXGBE_TXDCTL_THRESH}. */
export type IXGBE_TXDCTL_THRESH = typeof IXGBE_TXDCTL_THRESH;

// ---------------------------------------------------------------------------
// Statistics (8.2.3.23); all of these clear on read.

/** Good Packets Received Count, 8.2.3.23.26 GPRC. */
export const IXGBE_GPRC = 0x04074;
/** Good Packets Transmitted Count, 8.2.3.23.32 GPTC. */
export const IXGBE_GPTC = 0x04080;
/**
 * Good Octets Received Count Low, 8.2.3.23.27 GORCL: destination address
 * through CRC, whether or not HLREG0.RXCRCSTRP strips the CRC.
 */
export const IXGBE_GORCL = 0x04088;
/** Good Octets Received Count High (bits 35:32), 8.2.3.23.28 GORCH. */
export const IXGBE_GORCH = 0x0408c;
/** Good Octets Transmitted Count Low, 8.2.3.23.33 GOTCL (includes the CRC). */
export const IXGBE_GOTCL = 0x04090;
/** Good Octets Transmitted Count High, 8.2.3.23.34 GOTCH. */
export const IXGBE_GOTCH = 0x04094;
/** Missed Packets Count per packet buffer, 8.2.3.23.4 MPC[n], n = 0..7. */
export function IXGBE_MPC(i: number): number {
  return 0x03fa0 + i * 4;
}
/**
 * Queue Packets Received Drop Count, 8.2.3.23.63 QPRDC[n], n = 0..15
 * (SRRCTL.DROP_EN drops). n is a statistics counter, not a queue: RQSMR maps
 * each of the 128 queues to one of the 16 (after reset all to counter 0).
 */
export function IXGBE_QPRDC(i: number): number {
  return 0x01430 + i * 0x40;
}

// ---------------------------------------------------------------------------
// Descriptors (7.1.6 receive, 7.2.3 transmit). Each is 16 bytes = four u32
// words; the word index is given, since we access them as a Uint32Array.

/** Size of one descriptor in bytes (both directions). */
export const IXGBE_DESC_SIZE = 16;

/**
 * Advanced receive descriptor (7.1.6). Read format (written by software):
 * words 0-1 packet buffer address, words 2-3 header buffer address (0 for
 * one-buffer mode; writing 0 also clears DD). Write-back format (written by
 * hardware): word 2 = extended status / error, word 3 = length (bits 15:0)
 * and VLAN tag (bits 31:16).
 */
export const IXGBE_ADV_RX_DESC = {
  PKT_ADDR_LO: 0,
  PKT_ADDR_HI: 1,
  HDR_ADDR_LO: 2,
  HDR_ADDR_HI: 3,
  /** Write-back: status and error bits (7.1.6.2). */
  WB_STATUS_ERROR: 2,
  /** Write-back: packet length in bits 15:0. */
  WB_LENGTH: 3,
} as const;

/** Type of {@link IXGBE_ADV_RX_DESC}. */
export type IXGBE_ADV_RX_DESC = typeof IXGBE_ADV_RX_DESC;

/** Receive write-back status bits (7.1.6.2). */
export const IXGBE_RXDADV_STAT = {
  /** Descriptor Done: hardware has written this descriptor back. */
  DD: 0x01,
  /** End Of Packet: the last descriptor of a frame. */
  EOP: 0x02,
  /**
   * RXE, bit 29 of the write-back's status/error word (extended error field,
   * 7.1.6.2): a MAC error (CRC, length, undersize, oversize, symbol).
   */
  RXE: 0x20000000,
} as const;

/** Type of {@link IXGBE_RXDADV_STAT}. */
export type IXGBE_RXDADV_STAT = typeof IXGBE_RXDADV_STAT;

/**
 * Advanced transmit data descriptor (7.2.3.2.4). Read format: words 0-1
 * buffer address, word 2 = DTALEN (15:0) | DTYP (23:20) | DCMD (31:24),
 * word 3 = PAYLEN (31:14) and other offload fields. Write-back (7.2.3.2.4,
 * with RS set): word 3 bit 0 = DD.
 */
export const IXGBE_ADV_TX_DESC = {
  BUFFER_ADDR_LO: 0,
  BUFFER_ADDR_HI: 1,
  CMD_TYPE_LEN: 2,
  OLINFO_STATUS: 3,
  /** Write-back: status (DD in bit 0). */
  WB_STATUS: 3,
} as const;

/** Type of {@link IXGBE_ADV_TX_DESC}. */
export type IXGBE_ADV_TX_DESC = typeof IXGBE_ADV_TX_DESC;

/** Transmit descriptor command, type and field bits (7.2.3.2.4). */
export const IXGBE_ADVTXD = {
  /** DTALEN: data length of this buffer, bits 15:0. */
  DTALEN_MASK: 0x0000ffff,
  /** DTYP, bits 23:20. */
  DTYP_MASK: 0x00f00000,
  /** DTYP = 0011b: advanced data descriptor. */
  DTYP_DATA: 0x00300000,
  /** DCMD.EOP: last descriptor of the frame. */
  DCMD_EOP: 0x01000000,
  /** DCMD.IFCS: insert the frame check sequence (CRC). */
  DCMD_IFCS: 0x02000000,
  /** DCMD.RS: report status (write back DD). */
  DCMD_RS: 0x08000000,
  /** DCMD.DEXT: descriptor extension (1 = advanced format). */
  DCMD_DEXT: 0x20000000,
  /** PAYLEN starts at bit 14 of word 3. */
  PAYLEN_SHIFT: 14,
  /** Write-back DD: the descriptor has been processed. */
  STAT_DD: 0x00000001,
} as const;

/** Type of {@link IXGBE_ADVTXD}. */
export type IXGBE_ADVTXD = typeof IXGBE_ADVTXD;

// ---------------------------------------------------------------------------
// Receive-side scaling (7.1.2.8; drivers/ixgbe/rss.ts). Kept together at the
// end of the file so that merges with other sections stay easy.

/** Receive Checksum Control, 8.2.3.7.5 RXCSUM. */
export const IXGBE_RXCSUM = 0x05000;

/** RXCSUM bits (8.2.3.7.5). */
export const IXGBE_RXCSUM_BITS = {
  /** IPPCSE, bit 12: IP payload checksum enable (fragmented UDP). */
  IPPCSE: 0x00001000,
  /**
   * PCSD, bit 13: "RSS/Fragment Checksum Status Selection". Set: the receive
   * write-back's dword 1 carries the RSS hash; clear: the fragment checksum
   * and IP identification instead (7.1.6.2).
   */
  PCSD: 0x00002000,
} as const;

/** Type of {@link IXGBE_RXCSUM_BITS}. */
export type IXGBE_RXCSUM_BITS = typeof IXGBE_RXCSUM_BITS;

/** Multiple Receive Queues Command, 8.2.3.7.12 MRQC. */
export const IXGBE_MRQC = 0x0ec80;

/** MRQC fields (8.2.3.7.12; names from ixgbe_type.h). */
export const IXGBE_MRQC_BITS = {
  /** MRQE, bits 3:0: the queue assignment mode. */
  MRQE_MASK: 0x0000000f,
  /** MRQE = 0001b: RSS only (one pool, no DCB), up to 16 queues. Linux: IXGBE_MRQC_RSSEN. */
  MRQE_RSS: 0x00000001,
  /** Field enable TcpIPv4 (bit 16): hash IPv4/TCP by addresses and ports. */
  RSS_FIELD_IPV4_TCP: 0x00010000,
  /** Field enable IPv4 (bit 17): hash IPv4 by addresses. */
  RSS_FIELD_IPV4: 0x00020000,
  /** Field enable UdpIPv4 (bit 22): hash IPv4/UDP by addresses and ports. */
  RSS_FIELD_IPV4_UDP: 0x00400000,
} as const;

/** Type of {@link IXGBE_MRQC_BITS}. */
export type IXGBE_MRQC_BITS = typeof IXGBE_MRQC_BITS;

/** RSS Random Key register n (0-9), 8.2.3.7.14 RSSRK: key bytes 4n..4n+3, byte 4n in bits 7:0. */
export function IXGBE_RSSRK(n: number): number {
  return 0x0eb80 + 4 * n;
}

/** Redirection Table register n (0-31), 8.2.3.7.15 RETA: entries 4n..4n+3, entry 4n in bits 7:0. */
export function IXGBE_RETA(n: number): number {
  return 0x0eb00 + 4 * n;
}

/**
 * Receive write-back (7.1.6.2) fields RSS fills: dword 0 bits 3:0 are the
 * RSS Type, dword 1 the RSS hash (with RXCSUM.PCSD).
 */
export const IXGBE_RXDADV_RSS = {
  /** Word of the write-back holding the RSS Type (bits 3:0) and packet type (bits 16:4). */
  WB_PKT_INFO: 0,
  /** Word of the write-back holding the RSS hash. */
  WB_RSS_HASH: 1,
  /** RSS Type, bits 3:0 of dword 0. */
  RSSTYPE_MASK: 0x0000000f,
  /** RSS Type: no hash (RSS off, or the frame matched no enabled type). */
  RSSTYPE_NONE: 0x0,
  /** RSS Type: TcpIPv4. */
  RSSTYPE_IPV4_TCP: 0x1,
  /** RSS Type: IPv4. */
  RSSTYPE_IPV4: 0x2,
  /** RSS Type: UdpIPv4. */
  RSSTYPE_IPV4_UDP: 0x7,
} as const;

/** Type of {@link IXGBE_RXDADV_RSS}. */
export type IXGBE_RXDADV_RSS = typeof IXGBE_RXDADV_RSS;
