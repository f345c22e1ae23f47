/**
 * Intel 82576 (igb) registers and descriptor formats, named as in the "Intel
 * 82576 GbE Controller Datasheet" and Linux's
 * `drivers/net/ethernet/intel/igb/e1000_regs.h` / `e1000_defines.h`. Only what
 * ixy.ts uses. Laid out like drivers/ixgbe/constants.ts, so the two files can
 * be read side by side: the 82576 is the 82599's predecessor, and most
 * registers kept their name and meaning but moved.
 *
 * Offsets are byte offsets into BAR0 (memory BAR, 128 KB; all registers are 32
 * bits wide). Per-queue registers are functions of the queue index, as the C
 * macros are: `IGB_RDBAL(3)` is the RDBAL register of receive queue 3. The
 * 82576 has 16 queues per direction; queues 0-3 also answer at the 82575's
 * old addresses (0x2800 + 0x100n / 0x3800 + 0x100n), we use the datasheet's
 * main ones (0xC000 + 0x40n / 0xE000 + 0x40n).
 *
 * Sections: 4.5 "Software Initialization and Diagnostics", 7.1 receive
 * (7.1.5 advanced receive descriptors), 7.2 transmit (7.2.2 descriptors),
 * 7.3 interrupts, 8 registers (8.2 general, 8.8 interrupts, 8.19 statistics;
 * receive and transmit registers in their own subchapters of 8, found there
 * by name).
 *
 * What differs from the 82599, in one list (the 82599's name in brackets):
 * receive is switched on in RCTL [RXCTRL], which also holds the promiscuous
 * bits [FCTRL] and CRC stripping [HLREG0 + RDRXCTL]; transmit in TCTL
 * [DMATXCTL]; the link is a copper PHY behind MDIC, and STATUS reports it
 * [AUTOC/LINKS]; SRRCTL's DROP_EN is bit 31 [28] and BSIZEPACKET is 7 bits [5];
 * no DMA-init-done bit to wait for [RDRXCTL.DMAIDONE].
 *
 * @module
 */

/** PCI vendor ID of Intel. */
export const IGB_VENDOR_ID = 0x8086;

/**
 * 82576 device IDs we drive (names from Linux's e1000_hw.h). Only the copper
 * variant QEMU models (`-device igb`) is claimed: it is the one we test.
 */
export const IGB_DEVICE_ID = {
  /** 82576 copper (QEMU's igb). */
  DEV_ID_82576: 0x10c9,
} as const;

/** Type of {@link IGB_DEVICE_ID}. */
export type IGB_DEVICE_ID = typeof IGB_DEVICE_ID;

/** All supported device IDs, for `ixyInit`'s driver table. */
export const IGB_DEVICE_IDS: readonly number[] = Object.values(IGB_DEVICE_ID);

// ---------------------------------------------------------------------------
// General control (8.2)

/** Device Control Register, 8.2 CTRL. */
export const IGB_CTRL = 0x00000;
/** Device Status Register, 8.2 STATUS (read only). */
export const IGB_STATUS = 0x00008;
/** EEPROM/Flash Control Register, 8.2 EEC (Linux: EECD). */
export const IGB_EEC = 0x00010;
/** Extended Device Control Register, 8.2 CTRL_EXT. */
export const IGB_CTRL_EXT = 0x00018;
/** MDI Control Register, 8.2 MDIC: the MAC's window onto the PHY's registers. */
export const IGB_MDIC = 0x00020;

/** CTRL bits (8.2). */
export const IGB_CTRL_BITS = {
  /** GIO Master Disable: stop issuing new DMA requests (before a reset, 4.5.5). */
  GIO_MASTER_DISABLE: 0x00000004,
  /** Set Link Up: the MAC may bring the link up (copper: once the PHY has it). */
  SLU: 0x00000040,
  /** Device Reset (RST): resets the whole function but PCI config; self-clearing. */
  RST: 0x04000000,
} as const;

/** Type of {@link IGB_CTRL_BITS}. */
export type IGB_CTRL_BITS = typeof IGB_CTRL_BITS;

/** STATUS fields (8.2). */
export const IGB_STATUS_BITS = {
  /** Link Up. */
  LU: 0x00000002,
  /** Link speed, bits 7:6. */
  SPEED_MASK: 0x000000c0,
  /** Speed 10 Mb/s. */
  SPEED_10: 0x00000000,
  /** Speed 100 Mb/s. */
  SPEED_100: 0x00000040,
  /** Speed 1000 Mb/s (both 10b and 11b mean 1000). */
  SPEED_1000: 0x00000080,
  /** GIO Master Enable: the device may still issue DMA requests (clears after GIO_MASTER_DISABLE). */
  GIO_MASTER_ENABLE: 0x00080000,
} as const;

/** Type of {@link IGB_STATUS_BITS}. */
export type IGB_STATUS_BITS = typeof IGB_STATUS_BITS;

/** EEC.Auto_RD: EEPROM auto-read done (8.2), set by hardware after reset. */
export const IGB_EEC_AUTO_RD = 0x00000200;

/** MDIC fields (8.2): one PHY register read or write per MDIC write. */
export const IGB_MDIC_BITS = {
  /** DATA, bits 15:0. */
  DATA_MASK: 0x0000ffff,
  /** REGADD: PHY register address, bits 20:16. */
  REG_SHIFT: 16,
  /** PHYADD: PHY address, bits 25:21 (the internal PHY is PHY 1). */
  PHY_SHIFT: 21,
  /** OP = 01b: write. */
  OP_WRITE: 0x04000000,
  /** OP = 10b: read. */
  OP_READ: 0x08000000,
  /** R: ready, set by hardware when the access is done. */
  READY: 0x10000000,
  /** E: error (no such PHY / register). */
  ERROR: 0x40000000,
} as const;

/** Type of {@link IGB_MDIC_BITS}. */
export type IGB_MDIC_BITS = typeof IGB_MDIC_BITS;

/** MDIO address of the 82576's internal copper PHY. */
export const IGB_PHY_ADDRESS = 1;

/** PHY Control Register (IEEE 802.3 clause 22 register 0, "BMCR"; datasheet 8.23 PHY registers). */
export const IGB_PHY_CTRL = 0;
/** PHY Control bits (IEEE 802.3 22.2.4.1). */
export const IGB_PHY_CTRL_BITS = {
  /** Restart auto-negotiation (self-clearing). */
  RESTART_AUTO_NEG: 0x0200,
  /** Auto-negotiation enable. */
  AUTO_NEG_EN: 0x1000,
} as const;

/** Type of {@link IGB_PHY_CTRL_BITS}. */
export type IGB_PHY_CTRL_BITS = typeof IGB_PHY_CTRL_BITS;

// ---------------------------------------------------------------------------
// Interrupts (7.3, registers in 8.8): masked while polling; MSI-X per receive queue on request.

/** Interrupt Mask Clear, 8.8 IMC: writing 1s masks the "other" (legacy) causes. */
export const IGB_IMC = 0x000d8;
/** Interrupt Cause Read, 8.8 ICR (clears on read). */
export const IGB_ICR = 0x000c0;
/** Extended Interrupt Cause Read, 8.8 EICR. */
export const IGB_EICR = 0x01580;
/** Extended Interrupt Cause Set, 8.8 EICS. */
export const IGB_EICS = 0x01520;
/** Extended Interrupt Mask Set/Read, 8.8 EIMS. */
export const IGB_EIMS = 0x01524;
/** Extended Interrupt Mask Clear, 8.8 EIMC: writing 1s masks causes. */
export const IGB_EIMC = 0x01528;
/** Extended Interrupt Auto Clear, 8.8 EIAC: these EICR bits clear when their MSI-X message is sent. */
export const IGB_EIAC = 0x0152c;
/** Extended Interrupt Auto Mask Enable, 8.8 EIAM (acts with GPIE.EIAME). */
export const IGB_EIAM = 0x01530;
/** General Purpose Interrupt Enable, 8.8 GPIE. */
export const IGB_GPIE = 0x01514;
/** All causes of ICR/IMC, for masking everything. */
export const IGB_IRQ_CLEAR_MASK = 0xffffffff;
/** GPIE bits (8.8; Linux e1000_defines.h names). */
export const IGB_GPIE_BITS = {
  /** Multiple_MSIX: MSI-X mode, EICR bit n is vector n (7.3.1). */
  MSIX_MODE: 0x00000010,
  /** EIAME: auto-mask (EIAM) applies when an MSI-X message is sent. */
  EIAME: 0x40000000,
  /** PBA_support: the MSI-X pending bit array reflects EICR. */
  PBA_SUPPORT: 0x80000000,
} as const;
/** Type of {@link IGB_GPIE_BITS}. */
export type IGB_GPIE_BITS = typeof IGB_GPIE_BITS;
/** In MSI-X mode EICR bits 24:0 are vectors 0..24 (the PF has 10 vectors: 0..9). */
export const IGB_MSIX_VECTORS = 10;
/**
 * Extended Interrupt Throttle Register of vector `n` (8.8 EITR[n], 0x01680 +
 * 4n, n = 0..24). Interval in bits 14:2, 1 us units on the 82576.
 */
export const IGB_EITR = (n: number): number => 0x01680 + 4 * n;
/** EITR.Interval, bits 14:2: the minimum gap between interrupts in microseconds. */
export const IGB_EITR_INTERVAL_MASK = 0x00007ffc;
/** EITR bit 31, CNT_IGNR: write the interval without touching the running counter. */
export const IGB_EITR_CNT_IGNR = 0x80000000;
/**
 * Interrupt Vector Allocation register `n` (8.8 IVAR0[n], 0x01700 + 4n, n =
 * 0..7): four 8-bit entries, RX queue n (bits 7:0), TX queue n (15:8), RX
 * queue n+8 (23:16), TX queue n+8 (31:24); each entry is the vector (bits
 * 4:0) and a valid bit (bit 7). The 82599 packs queues 2n and 2n+1 instead.
 */
export const IGB_IVAR = (n: number): number => 0x01700 + 4 * n;
/** IVAR entry bit 7, INT_Alloc_val: the entry is valid. */
export const IGB_IVAR_VALID = 0x80;
/** The IVAR register holding the entry of RX (`tx` false) or TX queue `queue`. */
export const IGB_IVAR_INDEX = (queue: number): number => queue & 7;
/** Bit position of the entry for RX (`tx` false) or TX queue `queue` in its IVAR register. */
export const IGB_IVAR_SHIFT = (queue: number, tx: boolean): number =>
  (queue < 8 ? 0 : 16) + (tx ? 8 : 0);

// ---------------------------------------------------------------------------
// Receive (chapter 8, receive registers)

/** Receive Control Register, RCTL (0x0100). */
export const IGB_RCTL = 0x00100;
/** RCTL bits. */
export const IGB_RCTL_BITS = {
  /** EN: receiver enable. */
  EN: 0x00000002,
  /** UPE: unicast promiscuous enable. */
  UPE: 0x00000008,
  /** MPE: multicast promiscuous enable. */
  MPE: 0x00000010,
  /** BAM: broadcast accept mode. */
  BAM: 0x00008000,
  /** SECRC: strip the Ethernet CRC from received frames. */
  SECRC: 0x04000000,
} as const;

/** Type of {@link IGB_RCTL_BITS}. */
export type IGB_RCTL_BITS = typeof IGB_RCTL_BITS;

/** Receive Packet Buffer Size, RXPBS (0x2404): size in KB, bits 6:0 (reset 64 KB). */
export const IGB_RXPBS = 0x02404;

/** Receive Address Low, RAL[n] (0x5400 + 8n): MAC address bytes 0-3 of filter n. */
export function IGB_RAL(i: number): number {
  return i <= 15 ? 0x05400 + i * 8 : 0x054e0 + (i - 16) * 8;
}
/** Receive Address High, RAH[n] (0x5404 + 8n): MAC address bytes 4-5 and the valid bit. */
export function IGB_RAH(i: number): number {
  return i <= 15 ? 0x05404 + i * 8 : 0x054e4 + (i - 16) * 8;
}
/** RAH.AV: Address Valid. */
export const IGB_RAH_AV = 0x80000000;

/** Receive Descriptor Base Address Low, RDBAL[n] (128-byte aligned on the 82599, 16 here; we align to 128). */
export function IGB_RDBAL(i: number): number {
  return 0x0c000 + i * 0x40;
}
/** Receive Descriptor Base Address High, RDBAH[n]. */
export function IGB_RDBAH(i: number): number {
  return 0x0c004 + i * 0x40;
}
/** Receive Descriptor Length, RDLEN[n] (bytes, a multiple of 128). */
export function IGB_RDLEN(i: number): number {
  return 0x0c008 + i * 0x40;
}
/** Split and Replication Receive Control, SRRCTL[n]: the 82599's SRRCTL, one word higher in the block. */
export function IGB_SRRCTL(i: number): number {
  return 0x0c00c + i * 0x40;
}
/** Receive Descriptor Head, RDH[n] (hardware advances it). */
export function IGB_RDH(i: number): number {
  return 0x0c010 + i * 0x40;
}
/** Receive Descriptor Tail, RDT[n] (software advances it). */
export function IGB_RDT(i: number): number {
  return 0x0c018 + i * 0x40;
}
/** Receive Descriptor Control, RXDCTL[n]. */
export function IGB_RXDCTL(i: number): number {
  return 0x0c028 + i * 0x40;
}
/** RXDCTL.ENABLE: receive queue enable (bit 25, as on the 82599); reads 1 once the queue runs. */
export const IGB_RXDCTL_ENABLE = 0x02000000;

/** SRRCTL fields. */
export const IGB_SRRCTL_BITS = {
  /** BSIZEPACKET: receive buffer size for packets, bits 6:0, in 1 KB units (0 = RCTL.BSIZE). */
  BSIZEPKT_MASK: 0x0000007f,
  /** Descriptor type, bits 27:25. */
  DESCTYPE_MASK: 0x0e000000,
  /** Descriptor type 001b: advanced, one buffer. */
  DESCTYPE_ADV_ONEBUF: 0x02000000,
  /** Drop packets when the queue has no free descriptor (counted in RQDPC); bit 31 (the 82599's is 28). */
  DROP_EN: 0x80000000,
} as const;

/** Type of {@link IGB_SRRCTL_BITS}. */
export type IGB_SRRCTL_BITS = typeof IGB_SRRCTL_BITS;

// ---------------------------------------------------------------------------
// Transmit (chapter 8, transmit registers)

/** Transmit Control Register, TCTL (0x0400). */
export const IGB_TCTL = 0x00400;
/** TCTL bits. */
export const IGB_TCTL_BITS = {
  /** EN: transmit enable. */
  EN: 0x00000002,
  /** PSP: pad short packets (to 64 bytes with CRC). */
  PSP: 0x00000008,
} as const;

/** Type of {@link IGB_TCTL_BITS}. */
export type IGB_TCTL_BITS = typeof IGB_TCTL_BITS;

/** Transmit Descriptor Base Address Low, TDBAL[n]. */
export function IGB_TDBAL(i: number): number {
  return 0x0e000 + i * 0x40;
}
/** Transmit Descriptor Base Address High, TDBAH[n]. */
export function IGB_TDBAH(i: number): number {
  return 0x0e004 + i * 0x40;
}
/** Transmit Descriptor Length, TDLEN[n]. */
export function IGB_TDLEN(i: number): number {
  return 0x0e008 + i * 0x40;
}
/** Transmit Descriptor Head, TDH[n]. */
export function IGB_TDH(i: number): number {
  return 0x0e010 + i * 0x40;
}
/** Transmit Descriptor Tail, TDT[n]. */
export function IGB_TDT(i: number): number {
  return 0x0e018 + i * 0x40;
}
/** Transmit Descriptor Control, TXDCTL[n]. */
export function IGB_TXDCTL(i: number): number {
  return 0x0e028 + i * 0x40;
}
/** TXDCTL.ENABLE: transmit queue enable (bit 25, as on the 82599). */
export const IGB_TXDCTL_ENABLE = 0x02000000;
/**
 * TXDCTL thresholds: PTHRESH from bit 0, HTHRESH from bit 8, WTHRESH from
 * bit 16, as on the 82599 but narrower fields. Linux's igb uses 8 / 1 / 16
 * (IGB_TX_PTHRESH, IGB_TX_HTHRESH, IGB_TX_WTHRESH).
 */
export const IGB_TXDCTL_THRESH = {
  PTHRESH_SHIFT: 0,
  HTHRESH_SHIFT: 8,
  WTHRESH_SHIFT: 16,
  /** Mask of one threshold field (5 bits: every value we write fits). */
  FIELD_MASK: 0x1f,
} as const;

/** Type of {@link IGB_TXDCTL_THRESH}. */
export type IGB_TXDCTL_THRESH = typeof IGB_TXDCTL_THRESH;

// ---------------------------------------------------------------------------
// Statistics (8.19); all of these clear on read.

/** Missed Packets Count, 8.19 MPC (packet buffer full). */
export const IGB_MPC = 0x04010;
/** Good Packets Received Count, 8.19 GPRC. */
export const IGB_GPRC = 0x04074;
/** Good Packets Transmitted Count, 8.19 GPTC. */
export const IGB_GPTC = 0x04080;
/** Good Octets Received Count Low, 8.19 GORCL (includes the CRC). */
export const IGB_GORCL = 0x04088;
/** Good Octets Received Count High, 8.19 GORCH. */
export const IGB_GORCH = 0x0408c;
/** Good Octets Transmitted Count Low, 8.19 GOTCL (includes the CRC). */
export const IGB_GOTCL = 0x04090;
/** Good Octets Transmitted Count High, 8.19 GOTCH. */
export const IGB_GOTCH = 0x04094;
/** Receive No Buffers Count, 8.19 RNBC (a frame found no descriptor; dropped only with DROP_EN). */
export const IGB_RNBC = 0x040a0;
/** Receive Queue Drop Packet Count, RQDPC[n] (0xC030 + 0x40n, n = 0..15; SRRCTL.DROP_EN drops). */
export function IGB_RQDPC(i: number): number {
  return 0x0c030 + i * 0x40;
}

// ---------------------------------------------------------------------------
// Descriptors (7.1.5 receive, 7.2.2 transmit). Each is 16 bytes = four u32
// words; the word index is given, since we access them as a Uint32Array.
// The advanced formats are the 82599's, word for word.

/** Size of one descriptor in bytes (both directions). */
export const IGB_DESC_SIZE = 16;

/**
 * Advanced receive descriptor (7.1.5). Read format (written by software):
 * words 0-1 packet buffer address, words 2-3 header buffer address (0 for
 * one-buffer mode; writing 0 also clears DD). Write-back format (written by
 * hardware): word 2 = extended status / error, word 3 = length (bits 15:0)
 * and VLAN tag (bits 31:16).
 */
export const IGB_ADV_RX_DESC = {
  PKT_ADDR_LO: 0,
  PKT_ADDR_HI: 1,
  HDR_ADDR_LO: 2,
  HDR_ADDR_HI: 3,
  /** Write-back: status and error bits. */
  WB_STATUS_ERROR: 2,
  /** Write-back: packet length in bits 15:0. */
  WB_LENGTH: 3,
} as const;

/** Type of {@link IGB_ADV_RX_DESC}. */
export type IGB_ADV_RX_DESC = typeof IGB_ADV_RX_DESC;

/** Receive write-back status bits (7.1.5). */
export const IGB_RXDADV_STAT = {
  /** Descriptor Done: hardware has written this descriptor back. */
  DD: 0x01,
  /** End Of Packet: the last descriptor of a frame. */
  EOP: 0x02,
  /**
   * RXE, bit 31 of the write-back's status/error word (bit 11 of the
   * extended error field in bits 31:20, 7.1.5): the frame was received with
   * an error. Not where the 82599 has it (bit 29); Linux's igb calls it
   * E1000_RXDEXT_STATERR_RXE.
   */
  RXE: 0x80000000,
} as const;

/** Type of {@link IGB_RXDADV_STAT}. */
export type IGB_RXDADV_STAT = typeof IGB_RXDADV_STAT;

/**
 * Advanced transmit data descriptor (7.2.2). Read format: words 0-1 buffer
 * address, word 2 = DTALEN (15:0) | DTYP (23:20) | DCMD (31:24), word 3 =
 * PAYLEN (31:14) and offload fields. Write-back (with RS set): word 3 bit 0 = DD.
 */
export const IGB_ADV_TX_DESC = {
  BUFFER_ADDR_LO: 0,
  BUFFER_ADDR_HI: 1,
  CMD_TYPE_LEN: 2,
  OLINFO_STATUS: 3,
  /** Write-back: status (DD in bit 0). */
  WB_STATUS: 3,
} as const;

/** Type of {@link IGB_ADV_TX_DESC}. */
export type IGB_ADV_TX_DESC = typeof IGB_ADV_TX_DESC;

/** Transmit descriptor command, type and field bits (7.2.2), the 82599's. */
export const IGB_ADVTXD = {
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

/** Type of {@link IGB_ADVTXD}. */
export type IGB_ADVTXD = typeof IGB_ADVTXD;

// ---------------------------------------------------------------------------
// Receive-side scaling (drivers/igb/rss.ts). The 82599's four registers,
// same layout, other offsets (Linux e1000_regs.h); MRQC's mode field is
// 3 bits with its own codes. Kept together at the end of the file.

/** Receive Checksum Control, RXCSUM (the 82599's offset, 0x5000). */
export const IGB_RXCSUM = 0x05000;

/** RXCSUM bits. */
export const IGB_RXCSUM_BITS = {
  /**
   * PCSD, bit 13 (as on the 82599): the receive write-back's dword 1 carries
   * the RSS hash; clear, the IP id and fragment checksum (7.1.5.2). QEMU's
   * igb does no RSS at all while it is clear (igb_rss_enabled).
   */
  PCSD: 0x00002000,
} as const;

/** Type of {@link IGB_RXCSUM_BITS}. */
export type IGB_RXCSUM_BITS = typeof IGB_RXCSUM_BITS;

/** Multiple Receive Queues Command, MRQC (the 82599's is at 0xEC80). */
export const IGB_MRQC = 0x05818;

/** MRQC fields (Linux e1000_82575.h / e1000_defines.h names). */
export const IGB_MRQC_BITS = {
  /** Multiple Receive Queues Enable, bits 2:0 (the 82599's MRQE has 4 bits). */
  ENABLE_MASK: 0x00000007,
  /** 010b: RSS only, no virtualisation (the 82599's code is 0001b). Linux: E1000_MRQC_ENABLE_RSS_MQ. */
  ENABLE_RSS: 0x00000002,
  /** Field enable TcpIPv4 (bit 16), as on the 82599. */
  RSS_FIELD_IPV4_TCP: 0x00010000,
  /** Field enable IPv4 (bit 17), as on the 82599. */
  RSS_FIELD_IPV4: 0x00020000,
  /** Field enable UdpIPv4 (bit 22), as on the 82599. */
  RSS_FIELD_IPV4_UDP: 0x00400000,
} as const;

/** Type of {@link IGB_MRQC_BITS}. */
export type IGB_MRQC_BITS = typeof IGB_MRQC_BITS;

/** RSS Random Key register n (0-9), RSSRK: key bytes 4n..4n+3, byte 4n in bits 7:0 (82599: 0xEB80). */
export function IGB_RSSRK(n: number): number {
  return 0x05c80 + 4 * n;
}

/** Redirection Table register n (0-31), RETA: entries 4n..4n+3, entry 4n in bits 7:0 (82599: 0xEB00). */
export function IGB_RETA(n: number): number {
  return 0x05c00 + 4 * n;
}
