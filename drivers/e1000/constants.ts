/**
 * Intel 8254x (e1000) registers and descriptor formats, named as in the
 * "PCI/PCI-X Family of Gigabit Ethernet Controllers Software Developer's
 * Manual" (8254x SDM, rev. 4.0) and Linux's `e1000_hw.h`. Only what ixy.ts
 * uses.
 *
 * Offsets are byte offsets into BAR0, the memory-mapped register space
 * (section 13.4; every register is 32 bits wide). The 8254x has one receive
 * and one transmit queue, so there are no per-queue register functions as
 * in the 82599's drivers/ixgbe/constants.ts: compare `E1000_RDT` (0x02818)
 * with `IXGBE_RDT(0)` (0x01018) — the same register, one family later.
 *
 * @module
 */

/** PCI vendor ID of Intel. */
export const E1000_VENDOR_ID = 0x8086;

/**
 * The 8254x device IDs we drive (section 5.2 "PCI IDs"; names
 * from e1000_hw.h). Only the ones our tests run against QEMU's models.
 */
export const E1000_DEVICE_ID = {
  /** 82540EM desktop adapter: QEMU's `-device e1000`, VirtualBox's "PRO/1000 MT Desktop". */
  DEV_ID_82540EM: 0x100e,
  /** 82545EM copper: QEMU's `-device e1000-82545em`. */
  DEV_ID_82545EM_COPPER: 0x100f,
} as const;

/** Type of {@link E1000_DEVICE_ID}. */
export type E1000_DEVICE_ID = typeof E1000_DEVICE_ID;

/** All supported device IDs, for `ixyInit`'s driver table. */
export const E1000_DEVICE_IDS: readonly number[] = Object.values(E1000_DEVICE_ID);

// ---------------------------------------------------------------------------
// General registers (13.4.1 - 13.4.4)

/** Device Control Register, 13.4.1 CTRL. */
export const E1000_CTRL = 0x00000;
/** Device Status Register, 13.4.2 STATUS (read only). */
export const E1000_STATUS = 0x00008;
/** EEPROM Read Register, 13.4.4 EERD (82540EM and later). */
export const E1000_EERD = 0x00014;

/** CTRL bits (13.4.1). */
export const E1000_CTRL_BITS = {
  /** Full duplex (ignored while CTRL.ASDE / auto-negotiation decides). */
  FD: 1 << 0,
  /** Auto-Speed Detection Enable: the MAC takes the speed the PHY negotiated. */
  ASDE: 1 << 5,
  /**
   * Set Link Up: for the internal PHY of the 82540EM this must be 1 so that
   * the MAC follows the PHY's link (14.3 "General Configuration").
   */
  SLU: 1 << 6,
  /** Invert Loss-of-Signal: must be 0 for the internal PHY (14.3). */
  ILOS: 1 << 7,
  /** Speed, bits 9:8, used when FRCSPD is set: 10b = 1000 Mbit/s. */
  SPEED_1000: 2 << 8,
  /** The whole speed field, bits 9:8. */
  SPEED_MASK: 3 << 8,
  /** Force Speed: the MAC takes CTRL.SPEED instead of the PHY's (loopback, 13.4.1). */
  FRCSPD: 1 << 11,
  /** Force Duplex: the MAC takes CTRL.FD (loopback, 13.4.1). */
  FRCDPX: 1 << 12,
  /**
   * Device Reset: a global reset of everything but the PCI configuration
   * space; the bit clears itself. Wait at least 1 µs before the next access
   * (13.4.1; Linux waits 5 ms for the EEPROM reload).
   */
  RST: 1 << 26,
  /** VLAN Mode Enable: 0, we do not strip VLAN tags. */
  VME: 1 << 30,
  /** PHY Reset: must be 0 for normal operation (13.4.1). */
  PHY_RST: 1 << 31,
} as const;

/** STATUS bits (13.4.2). */
export const E1000_STATUS_BITS = {
  /** Full duplex. */
  FD: 1 << 0,
  /** Link Up (with CTRL.SLU: the PHY reports a link). */
  LU: 1 << 1,
  /** Link speed, bits 7:6: 00 = 10, 01 = 100, 10 or 11 = 1000 Mbit/s. */
  SPEED_SHIFT: 6,
  /** Mask of the speed field after the shift. */
  SPEED_MASK: 0x3,
} as const;

/** EERD fields (13.4.4; the 82540EM layout, 82541/82547 differ). */
export const E1000_EERD_BITS = {
  /** Start a read; the bit stays set, DONE tells when the data is valid. */
  START: 1 << 0,
  /** Read done: DATA holds the word. */
  DONE: 1 << 4,
  /** Word address, bits 15:8. */
  ADDR_SHIFT: 8,
  /** Data, bits 31:16. */
  DATA_SHIFT: 16,
} as const;

// ---------------------------------------------------------------------------
// Interrupts (13.4.17 - 13.4.21)

/** Interrupt Cause Read, 13.4.17 ICR: reading clears it. */
export const E1000_ICR = 0x000c0;
/** Interrupt Mask Set/Read, 13.4.20 IMS. */
export const E1000_IMS = 0x000d0;
/** Interrupt Mask Clear, 13.4.21 IMC: writing 1s masks those causes. */
export const E1000_IMC = 0x000d8;
/** Every interrupt cause of ICR (bits 16:0 are defined on the 8254x). */
export const E1000_IMC_ALL = 0xffffffff;

// ---------------------------------------------------------------------------
// Receive (13.4.22 - 13.4.30)

/** Receive Control Register, 13.4.22 RCTL. */
export const E1000_RCTL = 0x00100;
/** Receive Descriptor Base Address Low, 13.4.23 RDBAL (16-byte aligned). */
export const E1000_RDBAL = 0x02800;
/** Receive Descriptor Base Address High, 13.4.24 RDBAH. */
export const E1000_RDBAH = 0x02804;
/** Receive Descriptor Length, 13.4.25 RDLEN: bytes, a multiple of 128. */
export const E1000_RDLEN = 0x02808;
/** Receive Descriptor Head, 13.4.26 RDH: the device's next descriptor. */
export const E1000_RDH = 0x02810;
/** Receive Descriptor Tail, 13.4.27 RDT: one past the last descriptor the device may fill. */
export const E1000_RDT = 0x02818;
/** Receive Delay Timer, 13.4.28 RDTR (interrupt moderation; 0 = off). */
export const E1000_RDTR = 0x02820;
/** Multicast Table Array, 13.4.29 MTA[0..127]: 128 words of a 4096-bit hash filter. */
export const E1000_MTA = (i: number): number => 0x05200 + 4 * i;
/** Number of MTA words. */
export const E1000_MTA_SIZE = 128;
/** Receive Address Low of filter `i` (0..15), 13.4.30 RAL: MAC bytes 0..3. */
export const E1000_RAL = (i: number): number => 0x05400 + 8 * i;
/** Receive Address High of filter `i`, 13.4.30 RAH: MAC bytes 4..5, and AV. */
export const E1000_RAH = (i: number): number => 0x05404 + 8 * i;
/** RAH.AV: Address Valid, the filter is in use. */
export const E1000_RAH_AV = 1 << 31;

/** RCTL bits (13.4.22). */
export const E1000_RCTL_BITS = {
  /** Receiver Enable. */
  EN: 1 << 1,
  /** Store Bad Packets: 0, frames with errors are dropped. */
  SBP: 1 << 2,
  /** Unicast Promiscuous Enable: accept every unicast frame. */
  UPE: 1 << 3,
  /** Multicast Promiscuous Enable: accept every multicast frame. */
  MPE: 1 << 4,
  /**
   * Long Packet Enable: 0 means frames above 1522 bytes (with a VLAN tag)
   * are dropped, so one 2048-byte buffer always holds a whole frame.
   */
  LPE: 1 << 5,
  /** Broadcast Accept Mode. */
  BAM: 1 << 15,
  /** Buffer size, bits 17:16: 00 = 2048 bytes (with BSEX = 0). */
  BSIZE_2048: 0 << 16,
  /** Strip Ethernet CRC from incoming packet: lengths and data without the 4 CRC bytes. */
  SECRC: 1 << 26,
} as const;

/** Legacy receive descriptor (3.2.3), as four u32 words. */
export const E1000_RX_DESC = {
  /** Word 0: buffer address, low 32 bits (we write it). */
  BUFFER_ADDR_LO: 0,
  /** Word 1: buffer address, high 32 bits (we write it). */
  BUFFER_ADDR_HI: 1,
  /** Word 2: length (bits 15:0) and packet checksum (31:16), written back by the device. */
  LENGTH_CSUM: 2,
  /** Word 3: status (bits 7:0), errors (15:8) and special (31:16), written back. */
  STATUS_ERRORS: 3,
} as const;

/** RX descriptor status and error bits (3.2.3.1, 3.2.3.2), in word 3. */
export const E1000_RXD_STAT = {
  /** Descriptor Done: the device has filled this descriptor. */
  DD: 1 << 0,
  /** End Of Packet: last descriptor of a frame. */
  EOP: 1 << 1,
  /** Error bits (byte 1 of word 3): CE, SE, SEQ, CXE, TCPE, IPE, RXE. */
  ERRORS_MASK: 0xff00,
  /** The frame errors (CE, SE, SEQ, CXE, RXE) — not the checksum ones (IPE, TCPE, bits 14:13). */
  FRAME_ERRORS: (1 << 8) | (1 << 9) | (1 << 10) | (1 << 12) | (1 << 15),
} as const;

// ---------------------------------------------------------------------------
// Transmit (13.4.33 - 13.4.42)

/** Transmit Control Register, 13.4.33 TCTL. */
export const E1000_TCTL = 0x00400;
/** Transmit Inter Packet Gap, 13.4.34 TIPG. */
export const E1000_TIPG = 0x00410;
/** Transmit Descriptor Base Address Low, 13.4.38 TDBAL. */
export const E1000_TDBAL = 0x03800;
/** Transmit Descriptor Base Address High, 13.4.39 TDBAH. */
export const E1000_TDBAH = 0x03804;
/** Transmit Descriptor Length, 13.4.40 TDLEN: bytes, a multiple of 128. */
export const E1000_TDLEN = 0x03808;
/** Transmit Descriptor Head, 13.4.41 TDH. */
export const E1000_TDH = 0x03810;
/** Transmit Descriptor Tail, 13.4.42 TDT: one past the last descriptor to send. */
export const E1000_TDT = 0x03818;

/** TCTL bits and fields (13.4.33). */
export const E1000_TCTL_BITS = {
  /** Transmit Enable. */
  EN: 1 << 1,
  /** Pad Short Packets to 64 bytes (with CRC). */
  PSP: 1 << 3,
  /** Collision Threshold, bits 11:4 (retries in half duplex; 14.5 recommends 0x0F). */
  CT_SHIFT: 4,
  /** Collision Distance, bits 21:12 (14.5: 0x40 in full duplex, 0x200 in half). */
  COLD_SHIFT: 12,
} as const;

/** TIPG fields (13.4.34): IPGT bits 9:0, IPGR1 bits 19:10, IPGR2 bits 29:20. */
export const E1000_TIPG_BITS = {
  /** IPG Transmit Time: 10 for the 82540EM (14.5). */
  IPGT: 10,
  /** IPG Receive Time 1 (14.5: 8, i.e. 2/3 of IPGR2 rounded up as in the SDM's note). */
  IPGR1: 8,
  /** IPG Receive Time 2 (14.5: 6 for IEEE 802.3). */
  IPGR2: 6,
  /** Shift of IPGR1. */
  IPGR1_SHIFT: 10,
  /** Shift of IPGR2. */
  IPGR2_SHIFT: 20,
} as const;

/** Legacy transmit descriptor (3.3.3), as four u32 words. */
export const E1000_TX_DESC = {
  /** Word 0: buffer address, low 32 bits. */
  BUFFER_ADDR_LO: 0,
  /** Word 1: buffer address, high 32 bits. */
  BUFFER_ADDR_HI: 1,
  /** Word 2: length (bits 15:0), CSO (23:16), CMD (31:24). */
  LENGTH_CSO_CMD: 2,
  /** Word 3: STA (bits 3:0), CSS (15:8), special (31:16); the device writes DD here. */
  STA_CSS_SPECIAL: 3,
} as const;

/** Legacy TX descriptor command (3.3.3.1) and status bits. */
export const E1000_TXD = {
  /** CMD.EOP: End Of Packet, the last descriptor of a frame. */
  CMD_EOP: 1 << 24,
  /** CMD.IFCS: Insert FCS, the device appends the Ethernet CRC. */
  CMD_IFCS: 1 << 25,
  /** CMD.RS: Report Status, write DD back when done. */
  CMD_RS: 1 << 27,
  /** CMD.DEXT: 0 = legacy descriptor (1 would make it an extended one). */
  CMD_DEXT: 1 << 29,
  /** STA.DD (word 3): Descriptor Done. */
  STA_DD: 1 << 0,
} as const;

/** Descriptor size in bytes, legacy RX and TX (3.2.3, 3.3.3). */
export const E1000_DESC_SIZE = 16;

// ---------------------------------------------------------------------------
// Statistics (section 13.7 "Statistics Registers"; all clear when read)

/** Missed Packets Count, MPC (13.7): frames dropped for lack of room (no free descriptor / FIFO full). */
export const E1000_MPC = 0x04010;
/** Good Packets Received Count, GPRC (13.7). */
export const E1000_GPRC = 0x04074;
/** Good Packets Transmitted Count, GPTC (13.7). */
export const E1000_GPTC = 0x04080;
/**
 * Good Octets Received Count, GORCL/GORCH (13.7): a 64-bit counter of the
 * bytes of good frames, Destination Address through CRC. Read the low half
 * first: reading the high half clears both.
 */
export const E1000_GORCL = 0x04088;
/** High half of GORC. */
export const E1000_GORCH = 0x0408c;
/** Good Octets Transmitted Count, GOTCL/GOTCH (13.7) (same rules as GORC). */
export const E1000_GOTCL = 0x04090;
/** High half of GOTC. */
export const E1000_GOTCH = 0x04094;

// ---------------------------------------------------------------------------
// PHY access and EEPROM checksum (for drivers/e1000/selftest.ts)

/**
 * MDI Control Register, 13.4.7 MDIC: one read or write of a PHY register
 * over the MII management interface. The internal PHY of the 82540EM/82545EM
 * is PHY address 1.
 */
export const E1000_MDIC = 0x00020;

/** MDIC fields (13.4.7). */
export const E1000_MDIC_BITS = {
  /** Data, bits 15:0: what to write, or what was read once READY is set. */
  DATA_MASK: 0xffff,
  /** PHY register address, bits 20:16. */
  REGADD_SHIFT: 16,
  /** PHY address, bits 25:21 (1: the internal PHY). */
  PHYADD_SHIFT: 21,
  /** Opcode bits 27:26 = 01b: write. */
  OP_WRITE: 1 << 26,
  /** Opcode bits 27:26 = 10b: read. */
  OP_READ: 2 << 26,
  /** Ready, bit 28: the device sets it when the MDI transaction is done. */
  READY: 1 << 28,
  /** Error, bit 30: the read failed (no such PHY or register). */
  ERROR: 1 << 30,
} as const;

/** The internal PHY's MII address (13.4.7: "the internal PHY is address 1"). */
export const E1000_PHY_ADDRESS = 1;

/** PHY Control Register (PCTRL, MII register 0, IEEE 802.3 22.2.4.1; 8254x SDM 13.5.1). */
export const E1000_PHY_CTRL = 0;

/**
 * PCTRL bit 14, Loopback: the PHY turns every transmitted frame back to the
 * MAC's receive side, and nothing goes out on the wire.
 */
export const E1000_PHY_CTRL_LOOPBACK = 1 << 14;

/** EEPROM words covered by the checksum: 0x00..0x3F, with the checksum word 0x3F (5.6). */
export const E1000_EEPROM_CHECKSUM_WORDS = 0x40;

/** What the words 0x00..0x3F add up to (mod 2^16) in a valid 8254x EEPROM (5.6, word 3Fh). */
export const E1000_EEPROM_SUM = 0xbaba;
