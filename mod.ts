/**
 * ixy.ts — a user-space network driver in TypeScript for Deno, in the spirit
 * of ixy: it takes a NIC away from the kernel, maps its registers, allocates
 * DMA memory and moves packets through descriptor rings, all from a Deno
 * program through `Deno.dlopen` on libc.
 *
 * ```ts ignore
 * import { HugepageAllocator, ixyInit, Mempool } from "./mod.ts";
 *
 * const dma = HugepageAllocator.open();
 * const dev = ixyInit("0000:00:10.0", { dma });
 * const pool = Mempool.create(dma, { numEntries: 2048 });
 * const bufs = new Array(32);
 * const n = pool.allocBatch(bufs, 32);
 * // ... write frames into bufs[i].data, set bufs[i].size ...
 * const sent = dev.txBatch(0, bufs, n);
 * for (let i = sent; i < n; i++) pool.free(bufs[i]);
 * ```
 *
 * Needs root (PCI sysfs, physical addresses), hugepages and `deno run -A`;
 * see the README. Read tools/pktgen.ts first, then follow the calls down.
 *
 * @module
 */

export {
  dmaAllocatorFor,
  dmaAllocatorForAll,
  DRIVERS,
  findDriver,
  identify,
  type IxyDriver,
  ixyInit,
  type IxyInitOptions,
} from "./drivers/mod.ts";
export {
  VfioContainer,
  VfioDmaAllocator,
  VfioDmaMemory,
  type VfioDmaOptions,
  VfioInterrupt,
  VfioIoRegion,
  type VfioIrqInfo,
  VfioPciDevice,
  type VfioRegionInfo,
} from "./src/vfio.ts";
export {
  type ByteRegisters,
  type DeviceOptions,
  formatMac,
  type IxyDevice,
  type IxyInterrupts,
  type PciFunction,
} from "./src/device.ts";
export {
  canDescribeRings,
  type RingDescription,
  type RingIntrospection,
  type RingKind,
} from "./src/introspect.ts";
export {
  type InterruptVector,
  processCpuSeconds,
  RxInterruptPolicy,
  type RxInterruptPolicyOptions,
} from "./src/interrupts.ts";
export {
  eitrForRate,
  IXGBE_DEFAULT_INTERRUPT_RATE,
  IXGBE_MAX_IRQ_QUEUES,
  IxgbeInterrupts,
} from "./drivers/ixgbe/interrupts.ts";
export { VirtioInterrupts } from "./drivers/virtio/interrupts.ts";
export { DeviceStats, diffMbit, diffMpps, formatStatsDiff } from "./src/stats.ts";
export {
  type Ipv4Address,
  RSS_DEFAULT_KEY,
  RSS_KEY_REGISTERS,
  RSS_KEY_SIZE,
  RSS_MAX_QUEUE,
  RSS_RETA_REGISTERS,
  RSS_RETA_SIZE,
  RSS_TYPE,
  rssClassify,
  type RssFields,
  rssFrameInput,
  type RssInput,
  rssInputIpv4,
  rssInputIpv4Tcp,
  rssInputIpv4Udp,
  rssKeyFromRegisters,
  rssKeyRegisters,
  rssQueue,
  type RssResult,
  rssRetaFor,
  rssRetaFromRegisters,
  rssRetaRegisters,
  type RssType,
  toeplitzHash,
} from "./src/rss.ts";
export {
  DEFAULT_ENTRY_SIZE,
  Mempool,
  type MempoolOptions,
  PKT_BUF_HEADER,
  PKT_BUF_HEADROOM,
  PktBuf,
} from "./src/mempool.ts";
export {
  type AllocateOptions,
  type DmaAllocator,
  type DmaMemory,
  findHugetlbfs,
  hi32,
  HUGE_PAGE_SIZE,
  HugepageAllocator,
  HugepageMemory,
  type HugepageOptions,
  lo32,
} from "./src/memory.ts";
export {
  parsePciAddress,
  PCI_CLASS_NETWORK,
  PCI_COMMAND,
  PCI_CONFIG,
  PciDevice,
} from "./src/pci.ts";
export {
  clearFlags32,
  MmioRegion,
  type RegisterSpace,
  setFlags32,
  sleepMicros,
  waitForFlags32,
  type WaitOptions,
} from "./src/mmio.ts";
export { IoPortRegion } from "./src/io_port.ts";
export { IxyError, runTool, sysError } from "./src/error.ts";
export { VirtioDevice, type VirtioOptions } from "./drivers/virtio/virtio.ts";
export {
  VirtioLegacyTransport,
  type VirtioLegacyTransportOptions,
  type VirtioTransport,
  type VirtioTransportKind,
} from "./drivers/virtio/transport.ts";
export {
  findVirtioPciCapabilities,
  type PciConfigRead,
  type VirtioMemoryBar,
  VirtioModernTransport,
  type VirtioModernTransportOptions,
  type VirtioPciCapabilities,
  type VirtioPciStructure,
} from "./drivers/virtio/modern.ts";
export { Virtqueue, virtqueueLayout } from "./drivers/virtio/virtqueue.ts";
export { IxgbeDevice, type IxgbeOptions } from "./drivers/ixgbe/ixgbe.ts";
export { E1000Device, type E1000Options } from "./drivers/e1000/e1000.ts";
export { IgbDevice, type IgbOptions } from "./drivers/igb/igb.ts";
