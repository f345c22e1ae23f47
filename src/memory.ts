/**
 * DMA memory: memory that both our program and the NIC can access.
 *
 * A NIC reads descriptors and packets from RAM by *physical* address, without
 * asking the CPU. Three properties are needed, and hugepages give all three
 * (the approach of ixy and DPDK):
 *
 * 1. Physically contiguous chunks: a 2 MiB hugepage is one physical block, so
 *    a descriptor ring or a packet buffer inside it is contiguous too.
 * 2. Pinned: memory in a hugetlbfs file is never swapped, and `mlock` keeps
 *    the kernel from moving it, so a physical address stays valid.
 * 3. Known physical address: `/proc/self/pagemap` has one 64-bit entry per
 *    4 KiB virtual page whose bits 0-54 hold the page frame number
 *    (Documentation/admin-guide/mm/pagemap.rst). Linux shows frame numbers
 *    only to processes with CAP_SYS_ADMIN — one reason this needs root (VFIO
 *    and an IOMMU remove that need).
 *
 * Drivers see DMA memory only through the {@link DmaAllocator} interface, so
 * tests and the software 82599 can hand out memory with made-up addresses.
 *
 * @module
 */

import { cString, LIBC, libc, pointerValue } from "./ffi.ts";
import { IxyError, sysError } from "./error.ts";

/** Size of one hugepage (x86-64 default: 2 MiB). */
export const HUGE_PAGE_SIZE = 2 * 1024 * 1024;
const HUGE_PAGE_BITS = 21;
const PAGE_SIZE = 4096;

/** A block of DMA memory. */
export interface DmaMemory {
  /** The memory as our program sees it; make typed-array views of it once. */
  readonly buffer: ArrayBufferLike;
  /** Size in bytes (a multiple of the page size). */
  readonly size: number;
  /** The address the device must use for byte `offset` of this block. */
  physAddr(offset: number): number;
}

/**
 * Device addresses are 64 bits wide; descriptors and registers take them as
 * two 32-bit halves, low word first. In JavaScript an address is a `number`
 * (a double), exact up to 2^53 — more than any physical address or IOVA we
 * meet — so we split it with arithmetic, never BigInt (which allocates):
 *
 * - low half: `addr >>> 0`. ToUint32 is "modulo 2^32" by definition and
 *   compiles to one truncation. The obvious `addr % 2 ** 32` on a double
 *   above 2^31 compiles to a call to C `fmod`, on every packet of the
 *   forwarding path (docs/performance.md, change 1, has what it cost).
 * - high half: `Math.floor(addr / 2 ** 32)`, exact for addr < 2^53.
 *
 * These two are the only place the project splits an address; V8 inlines
 * them on the hot paths.
 */
export function lo32(addr: number): number {
  return addr >>> 0;
}

/** The high 32 bits of a device address below 2^53 (see {@link lo32}). */
export function hi32(addr: number): number {
  return Math.floor(addr / 0x1_0000_0000);
}

/** Options for {@link DmaAllocator.allocate}. */
export interface AllocateOptions {
  /**
   * Require one physically contiguous block (descriptor rings). Without it,
   * only each 2 MiB page is contiguous (enough for a mempool whose buffers
   * never cross a page boundary).
   */
  contiguous?: boolean;
  /**
   * The block will be carved into packet buffers of `entrySize` bytes, each
   * starting with a `dataOffset`-byte software header (a mempool's). Real
   * allocators ignore it; the software 82599's simulated allocator
   * (tools/devices/dma_allocator.ts) publishes it in `slabLayout`, so a device model can tell when the device would write
   * past a buffer's data area into the next buffer's header.
   */
  packetBuffers?: { entrySize: number; dataOffset: number };
}

/** Where drivers get DMA memory from. */
export interface DmaAllocator {
  /** Allocates at least `size` bytes of zeroed DMA memory. */
  allocate(size: number, options?: AllocateOptions): DmaMemory;
}

/** Where hugetlbfs is mounted, from /proc/mounts, or undefined. */
export function findHugetlbfs(): string | undefined {
  const mounts = Deno.readTextFileSync("/proc/mounts").split("\n");
  for (const line of mounts) {
    const [, mountPoint, type] = line.split(" ");
    if (type === "hugetlbfs") return mountPoint;
  }
  return undefined;
}

/** HugePages_Free from /proc/meminfo. */
function freeHugepages(): number {
  const m = /HugePages_Free:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/meminfo"));
  return m ? Number(m[1]) : 0;
}

const SETUP_HINT = "Set up hugepages as root: mkdir -p /mnt/huge && " +
  "mount -t hugetlbfs nodev /mnt/huge && echo 512 > /proc/sys/vm/nr_hugepages " +
  "(the lab VM does this for you: deno task vm).";

/** Options for {@link HugepageAllocator.open}. */
export interface HugepageOptions {
  /** A hugetlbfs mount point; default: the first one in /proc/mounts. */
  mountPoint?: string;
}

/** DMA memory from 2 MiB hugepages with physical addresses from pagemap. */
export class HugepageAllocator implements DmaAllocator {
  /** The hugetlbfs mount point used for backing files. */
  readonly mountPoint: string;
  #pagemapFd: number;
  #entry = new BigUint64Array(1);
  #counter = 0;

  private constructor(mountPoint: string, pagemapFd: number) {
    this.mountPoint = mountPoint;
    this.#pagemapFd = pagemapFd;
  }

  /**
   * Checks that hugepages and address translation work (so a driver fails
   * before it touches the device, not half-way) and returns the allocator.
   */
  static open(options: HugepageOptions = {}): HugepageAllocator {
    const mountPoint = options.mountPoint ?? findHugetlbfs();
    if (mountPoint === undefined) {
      throw new IxyError(`Cannot allocate DMA memory: no hugetlbfs is mounted. ${SETUP_HINT}`);
    }
    const fd = libc().open(cString("/proc/self/pagemap"), LIBC.O_RDONLY | LIBC.O_CLOEXEC, 0);
    if (fd < 0) throw sysError("Cannot open /proc/self/pagemap");
    const allocator = new HugepageAllocator(mountPoint, fd);
    allocator.allocate(HUGE_PAGE_SIZE).free(); // fails now if something is missing
    return allocator;
  }

  /** Allocates whole hugepages, locked, zeroed, with their physical addresses. */
  allocate(size: number, options: AllocateOptions = {}): HugepageMemory {
    const bytes = Math.ceil(size / HUGE_PAGE_SIZE) * HUGE_PAGE_SIZE;
    if (options.contiguous && bytes > HUGE_PAGE_SIZE) {
      throw new IxyError(
        `Cannot allocate ${size} contiguous bytes of DMA memory: one hugepage holds ` +
          `${HUGE_PAGE_SIZE}. Use a smaller ring.`,
      );
    }
    // A file in hugetlbfs, mapped shared: its pages come from the hugepage
    // pool and are reserved at mmap time, so a shortage fails here, not later.
    const path = `${this.mountPoint}/ixy-ts-${Deno.pid}-${this.#counter++}`;
    const fd = libc().open(cString(path), LIBC.O_CREAT | LIBC.O_RDWR | LIBC.O_CLOEXEC, 0o600);
    if (fd < 0) {
      throw sysError(`Cannot create ${path} for DMA memory`, "Run as root (sudo).");
    }
    try {
      if (libc().ftruncate(fd, BigInt(bytes)) !== 0) {
        throw this.#shortage(`Cannot size ${path} to ${bytes} bytes`, bytes);
      }
      const p = libc().mmap(
        null,
        BigInt(bytes),
        LIBC.PROT_READ | LIBC.PROT_WRITE,
        LIBC.MAP_SHARED | LIBC.MAP_HUGETLB | LIBC.MAP_POPULATE,
        fd,
        0n,
      );
      if (p === null || pointerValue(p) === 0xffffffffffffffffn) {
        throw this.#shortage(`Cannot map ${bytes} bytes of hugepage memory`, bytes);
      }
      // Pin the pages: their physical addresses must never change.
      if (libc().mlock(p, BigInt(bytes)) !== 0) {
        const err = sysError("Cannot lock DMA memory (mlock)", "Run as root or raise ulimit -l.");
        libc().munmap(p, BigInt(bytes));
        throw err;
      }
      const virt = Number(pointerValue(p));
      const pagePhys: number[] = [];
      for (let off = 0; off < bytes; off += HUGE_PAGE_SIZE) {
        pagePhys.push(this.#virtToPhys(virt + off));
      }
      if (virt % HUGE_PAGE_SIZE !== 0) {
        libc().munmap(p, BigInt(bytes));
        throw new IxyError(
          `Hugepage memory at 0x${virt.toString(16)} is not 2 MiB aligned: ${path} is not on ` +
            `a 2 MiB hugetlbfs mount (pagesize=1G or 4K?). Mount one: ${SETUP_HINT}`,
        );
      }
      try {
        checkHugePageAlignment(pagePhys, `${bytes} bytes of hugepage memory`);
      } catch (e) {
        libc().munmap(p, BigInt(bytes));
        throw e;
      }
      const buffer = Deno.UnsafePointerView.getArrayBuffer(p, bytes);
      return new HugepageMemory(buffer, p, pagePhys);
    } finally {
      libc().close(fd);
      // The mapping keeps the pages; the name is no longer needed.
      libc().unlink(cString(path));
    }
  }

  /** Physical address of a virtual address, from /proc/self/pagemap. */
  #virtToPhys(virt: number): number {
    const offset = BigInt(pagemapOffset(virt));
    if (Number(libc().pread(this.#pagemapFd, this.#entry, 8n, offset)) !== 8) {
      throw sysError("Cannot read /proc/self/pagemap");
    }
    return pagemapToPhys(this.#entry[0], virt);
  }

  #shortage(what: string, bytes: number): IxyError {
    const err = sysError(what);
    const need = bytes / HUGE_PAGE_SIZE;
    return new IxyError(
      `${err.message} Too few free hugepages? Needed ${need}, ${freeHugepages()} free ` +
        `(HugePages_Free in /proc/meminfo). Add more: echo 512 > /proc/sys/vm/nr_hugepages`,
      { errno: err.errno },
    );
  }
}

/**
 * The byte offset in /proc/self/pagemap of the entry of `virt`: one 8-byte
 * entry per 4 KiB page (pagemap.rst), so (virt / 4096) × 8. Plain division,
 * not `>>>`: user-space addresses lie above 2^32. (Lab 2 asks for this.)
 */
export function pagemapOffset(virt: number): number {
  return Math.floor(virt / PAGE_SIZE) * 8;
}

/** Bit 63 of a pagemap entry: the page is present in RAM (pagemap.rst). */
const PAGEMAP_PRESENT = 1n << 63n;
/** Bits 0-54 of a pagemap entry: the page frame number, if present. */
const PAGEMAP_PFN_MASK = (1n << 55n) - 1n;

/**
 * The physical address of `virt` from its /proc/self/pagemap entry
 * (Documentation/admin-guide/mm/pagemap.rst). Throws an {@link IxyError}
 * instead of ever returning an address a NIC must not get:
 *
 * - bit 63 ("present") clear: the page is not in RAM (swapped out, or never
 *   touched), and bits 0-54 are a swap location, not a frame;
 * - frame number 0: what Linux shows a reader without CAP_SYS_ADMIN (since
 *   4.0; the present bit stays set), and never a real DMA buffer.
 *
 * Lab 2's `physAddr` is this function.
 */
export function pagemapToPhys(entry: bigint, virt: number): number {
  const where = `the page at 0x${virt.toString(16)}`;
  if ((entry & PAGEMAP_PRESENT) === 0n) {
    throw new IxyError(
      `Cannot find the physical address of ${where}: /proc/self/pagemap says it is not ` +
        `present in RAM (pagemap entry 0x${entry.toString(16)}). DMA memory must be locked ` +
        `hugepages; report this with the output of: grep -i huge /proc/meminfo`,
    );
  }
  const pfn = entry & PAGEMAP_PFN_MASK;
  if (pfn === 0n) {
    throw new IxyError(
      `Cannot find the physical address of ${where}: /proc/self/pagemap shows page frame ` +
        `number 0, which is what Linux shows without CAP_SYS_ADMIN. Run as root (sudo), or ` +
        `bind the NIC to vfio-pci (deno task bind) to run without root through the IOMMU.`,
    );
  }
  return Number(pfn) * PAGE_SIZE + (virt % PAGE_SIZE);
}

/**
 * Throws unless every hugepage starts on a 2 MiB boundary of the device's
 * address space: a mempool's buffers (whose size divides 2 MiB) and the
 * rings then never cross a page, so each is physically contiguous.
 */
export function checkHugePageAlignment(pageAddrs: readonly number[], what: string): void {
  for (let i = 0; i < pageAddrs.length; i++) {
    const a = pageAddrs[i];
    if (a % HUGE_PAGE_SIZE !== 0) {
      throw new IxyError(
        `DMA memory is not 2 MiB aligned: page ${i} of ${what} is at device address ` +
          `0x${a.toString(16)}. Mempools and rings assume 2 MiB hugepages at 2 MiB ` +
          `boundaries; use a 2 MiB hugetlbfs mount (default Hugepagesize: 2048 kB in ` +
          `/proc/meminfo), or fix the DmaAllocator.`,
      );
    }
  }
}

/** Hugepage-backed DMA memory (see {@link HugepageAllocator}). */
export class HugepageMemory implements DmaMemory {
  /** The mapped pages. */
  readonly buffer: ArrayBuffer;
  /** Size in bytes, a multiple of 2 MiB. */
  readonly size: number;
  #pointer: Deno.PointerObject;
  #pagePhys: number[];

  /** Wraps a mapping; `pagePhys[i]` is the physical address of hugepage i. */
  constructor(buffer: ArrayBuffer, pointer: Deno.PointerObject, pagePhys: number[]) {
    this.buffer = buffer;
    this.size = buffer.byteLength;
    this.#pointer = pointer;
    this.#pagePhys = pagePhys;
  }

  /** Physical address of byte `offset`: page base + offset within the page. */
  physAddr(offset: number): number {
    return this.#pagePhys[offset >>> HUGE_PAGE_BITS] + (offset & (HUGE_PAGE_SIZE - 1));
  }

  /** Unmaps the memory. UNSAFE: no view of {@link buffer} may be used afterwards. */
  free(): void {
    libc().munmap(this.#pointer, BigInt(this.size));
  }
}
