/**
 * Virtio constants for the legacy (transitional) and modern PCI interfaces and
 * the network device, named as in the virtio specification (v1.1, OASIS) and the
 * Linux uapi headers (`virtio_pci.h`, `virtio_net.h`, `virtio_ring.h`).
 *
 * @module
 */

/** PCI IDs: virtio devices use vendor 0x1af4 (virtio 1.1, section 4.1.2). */
export const VIRTIO_PCI_VENDOR_ID = 0x1af4;
/** Transitional network device ID: it speaks the legacy interface (section 4.1.2.3). */
export const VIRTIO_PCI_DEVICE_NET_LEGACY = 0x1000;
/** Modern-only network device ID (0x1040 + device type 1); needs the modern interface. */
export const VIRTIO_PCI_DEVICE_NET_MODERN = 0x1041;

/**
 * The legacy header in I/O BAR0 (section 4.1.4.8, "Legacy Interfaces: A Note
 * on PCI Device Layout"); byte offsets, with the access width in the comment.
 */
export const VIRTIO_PCI = {
  /** 32 bit, read-only: feature bits 0-31 the device offers. */
  HOST_FEATURES: 0x00,
  /** 32 bit: feature bits 0-31 the driver accepts. */
  GUEST_FEATURES: 0x04,
  /** 32 bit: physical page number (address >> 12) of the selected queue. */
  QUEUE_PFN: 0x08,
  /** 16 bit, read-only: size (entries) of the selected queue; 0 = no such queue. */
  QUEUE_NUM: 0x0c,
  /** 16 bit: selects the queue the two registers above refer to. */
  QUEUE_SEL: 0x0e,
  /** 16 bit: write a queue index here to tell the device the queue has work. */
  QUEUE_NOTIFY: 0x10,
  /** 8 bit: device status (section 2.1). */
  STATUS: 0x12,
  /** 8 bit, read clears: interrupt status. */
  ISR: 0x13,
  /**
   * 16 bit, only while MSI-X is enabled: the MSI-X vector for configuration
   * changes (virtio 1.1, 4.1.4.8 legacy layout; 4.1.5.1.2), or
   * {@link VIRTIO_MSI_NO_VECTOR}.
   */
  MSI_CONFIG_VECTOR: 0x14,
  /** 16 bit, only while MSI-X is enabled: the MSI-X vector of the selected queue. */
  MSI_QUEUE_VECTOR: 0x16,
  /** Device-specific configuration starts here while MSI-X is disabled... */
  CONFIG: 0x14,
  /** ...and here while MSI-X is enabled (two 16-bit vector registers come first). */
  CONFIG_MSIX: 0x18,
} as const;

/** Type of {@link VIRTIO_PCI}. */
export type VIRTIO_PCI = typeof VIRTIO_PCI;

/** PCI capability ID "vendor specific" (PCI 3.0, section 6.7 and appendix H). */
export const PCI_CAP_ID_VNDR = 0x09;

/**
 * `cfg_type` of a virtio structure PCI capability (virtio 1.1, section 4.1.4,
 * "Virtio Structure PCI Capabilities").
 */
export const VIRTIO_PCI_CAP = {
  /** Common configuration (section 4.1.4.3). */
  COMMON_CFG: 1,
  /** Notifications (section 4.1.4.4). */
  NOTIFY_CFG: 2,
  /** ISR status (section 4.1.4.5). */
  ISR_CFG: 3,
  /** Device-specific configuration (section 4.1.4.6). */
  DEVICE_CFG: 4,
  /** Config-space access window (section 4.1.4.7; we do not use it). */
  PCI_CFG: 5,
} as const;

/** Type of {@link VIRTIO_PCI_CAP}. */
export type VIRTIO_PCI_CAP = typeof VIRTIO_PCI_CAP;

/**
 * Byte offsets in `struct virtio_pci_cap` (section 4.1.4) and, for the notify
 * capability, `struct virtio_pci_notify_cap` (section 4.1.4.4).
 */
export const VIRTIO_PCI_CAP_FIELD = {
  /** u8: PCI_CAP_ID_VNDR. */
  VNDR: 0,
  /** u8: config-space offset of the next capability. */
  NEXT: 1,
  /** u8: length of this capability in bytes (16, 20 for notify). */
  LEN: 2,
  /** u8: one of {@link VIRTIO_PCI_CAP}. */
  CFG_TYPE: 3,
  /** u8: the BAR holding the structure (0-5). */
  BAR: 4,
  /** le32: offset of the structure inside the BAR. */
  OFFSET: 8,
  /** le32: length of the structure in bytes. */
  LENGTH: 12,
  /** le32, notify capability only: multiplier for queue_notify_off. */
  NOTIFY_OFF_MULTIPLIER: 16,
} as const;

/** Type of {@link VIRTIO_PCI_CAP_FIELD}. */
export type VIRTIO_PCI_CAP_FIELD = typeof VIRTIO_PCI_CAP_FIELD;

/**
 * The common configuration structure `struct virtio_pci_common_cfg` (virtio
 * 1.1, section 4.1.4.3); byte offsets, with the width in the comment. Every
 * field is accessed with its natural width (section 4.1.3.1).
 */
export const VIRTIO_PCI_COMMON = {
  /** le32: which 32 feature bits DEVICE_FEATURE shows (0: bits 0-31, 1: bits 32-63). */
  DEVICE_FEATURE_SELECT: 0x00,
  /** le32, read-only: the selected 32 feature bits the device offers. */
  DEVICE_FEATURE: 0x04,
  /** le32: which 32 feature bits DRIVER_FEATURE takes. */
  DRIVER_FEATURE_SELECT: 0x08,
  /** le32: the selected 32 feature bits the driver accepts. */
  DRIVER_FEATURE: 0x0c,
  /** le16: MSI-X vector for configuration changes. */
  MSIX_CONFIG: 0x10,
  /** le16, read-only: number of virtqueues. */
  NUM_QUEUES: 0x12,
  /** u8: device status (section 2.1). */
  DEVICE_STATUS: 0x14,
  /** u8, read-only: changes whenever the device configuration changes. */
  CONFIG_GENERATION: 0x15,
  /** le16: the queue the QUEUE_* fields refer to. */
  QUEUE_SELECT: 0x16,
  /** le16: size of the selected queue (0: no such queue); the driver may lower it. */
  QUEUE_SIZE: 0x18,
  /** le16: MSI-X vector of the selected queue. */
  QUEUE_MSIX_VECTOR: 0x1a,
  /** le16: write 1 to start using the selected queue. */
  QUEUE_ENABLE: 0x1c,
  /** le16, read-only: the queue's notification offset, in notify_off_multiplier units. */
  QUEUE_NOTIFY_OFF: 0x1e,
  /** le64: address of the descriptor table. */
  QUEUE_DESC: 0x20,
  /** le64: address of the available ring ("driver area"). */
  QUEUE_DRIVER: 0x28,
  /** le64: address of the used ring ("device area"). */
  QUEUE_DEVICE: 0x30,
  /** Size of the structure up to here (the driver needs all of it). */
  SIZE: 0x38,
} as const;

/** Type of {@link VIRTIO_PCI_COMMON}. */
export type VIRTIO_PCI_COMMON = typeof VIRTIO_PCI_COMMON;

/**
 * Reserved (device-independent) feature bits above 31 (virtio 1.1, section 6),
 * reachable only through the modern interface.
 */
export const VIRTIO_F = {
  /** The device follows virtio 1.x (not legacy); the driver must accept it. */
  VERSION_1: 32,
  /**
   * The device's DMA goes through the platform's IOMMU (addresses are IOVAs);
   * without it the device uses physical addresses. QEMU: `iommu_platform=on`.
   */
  ACCESS_PLATFORM: 33,
} as const;

/** Type of {@link VIRTIO_F}. */
export type VIRTIO_F = typeof VIRTIO_F;

/** "No vector": the event raises no interrupt (virtio 1.1, section 4.1.5.1.2). */
export const VIRTIO_MSI_NO_VECTOR = 0xffff;

/** Legacy virtqueues are aligned to 4096 bytes (section 2.6.2). */
export const VIRTIO_PCI_VRING_ALIGN = 4096;
/** The queue address register holds address >> 12. */
export const VIRTIO_PCI_QUEUE_ADDR_SHIFT = 12;

/** Device status bits (section 2.1, "Device Status Field"). */
export const VIRTIO_STATUS = {
  RESET: 0,
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 64,
  FAILED: 128,
} as const;

/** Type of {@link VIRTIO_STATUS}. */
export type VIRTIO_STATUS = typeof VIRTIO_STATUS;

/** Feature bit numbers (section 5.1.3 for the network device, 6 for reserved bits). */
export const VIRTIO_NET_F = {
  /** Device handles packets with partial checksum (we do not use it). */
  CSUM: 0,
  /** Driver handles packets with partial checksum (we do not use it). */
  GUEST_CSUM: 1,
  /** Device has a MAC address in its config space. */
  MAC: 5,
  /** Driver can merge receive buffers (we do not: our header stays 10 bytes). */
  MRG_RXBUF: 15,
  /** Config space has a link status field. */
  STATUS: 16,
  /** Control virtqueue available. */
  CTRL_VQ: 17,
  /** Control channel RX mode support (promiscuous mode). */
  CTRL_RX: 18,
  /** Header and packet may share a descriptor (section 2.6.4.3; reserved bit 27). */
  ANY_LAYOUT: 27,
} as const;

/** Type of {@link VIRTIO_NET_F}. */
export type VIRTIO_NET_F = typeof VIRTIO_NET_F;

/** Offsets in the network device's configuration space (section 5.1.4). */
export const VIRTIO_NET_CONFIG = {
  /** 6 bytes: MAC address (valid with VIRTIO_NET_F_MAC). */
  MAC: 0,
  /** 16 bit: status (valid with VIRTIO_NET_F_STATUS). */
  STATUS: 6,
} as const;

/** Type of {@link VIRTIO_NET_CONFIG}. */
export type VIRTIO_NET_CONFIG = typeof VIRTIO_NET_CONFIG;

/** Link is up (bit of the config status field, section 5.1.4). */
export const VIRTIO_NET_S_LINK_UP = 1;

/** Descriptor flags (section 2.6.5, "The Virtqueue Descriptor Table"). */
export const VRING_DESC_F = {
  /** The buffer continues in the descriptor named by `next`. */
  NEXT: 1,
  /** The device writes into this buffer (receive); otherwise it only reads. */
  WRITE: 2,
} as const;

/** Type of {@link VRING_DESC_F}. */
export type VRING_DESC_F = typeof VRING_DESC_F;

/** Available ring flag: do not interrupt us (section 2.6.7, we poll). */
export const VRING_AVAIL_F_NO_INTERRUPT = 1;
/** Used ring flag: the device does not need notifications now (section 2.6.10). */
export const VRING_USED_F_NO_NOTIFY = 1;

/**
 * The header in front of every packet (section 5.1.6, `struct virtio_net_hdr`):
 * flags u8, gso_type u8, hdr_len u16, gso_size u16, csum_start u16,
 * csum_offset u16 = 10 bytes without VIRTIO_NET_F_MRG_RXBUF. All zero means
 * "no checksum offload, no segmentation".
 */
export const VIRTIO_NET_HDR_SIZE = 10;

/**
 * The header with VIRTIO_F_VERSION_1 (the modern interface): `struct
 * virtio_net_hdr` always has the 16-bit `num_buffers` field then, even
 * without VIRTIO_NET_F_MRG_RXBUF (section 5.1.6): 12 bytes.
 */
export const VIRTIO_NET_HDR_SIZE_V1 = 12;

/** Control queue command classes and commands (section 5.1.6.5). */
export const VIRTIO_NET_CTRL = {
  /** Class: receive filtering (section 5.1.6.5.1). */
  RX: 0,
  /** Command of class RX: promiscuous mode on (1) / off (0). */
  RX_PROMISC: 0,
  /** Acknowledgement values the device writes. */
  OK: 0,
  ERR: 1,
} as const;

/** Type of {@link VIRTIO_NET_CTRL}. */
export type VIRTIO_NET_CTRL = typeof VIRTIO_NET_CTRL;

/** Queue indices of a single-queue network device (section 5.1.2). */
export const VIRTIO_NET_QUEUE = { RX: 0, TX: 1, CTRL: 2 } as const;

/** Type of {@link VIRTIO_NET_QUEUE}. */
export type VIRTIO_NET_QUEUE = typeof VIRTIO_NET_QUEUE;
