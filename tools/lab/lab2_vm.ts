/**
 * Lab 2 in the lab VM (`deno task lab 2 --vm`): the student's translation and
 * mempool on real 2 MiB hugepages of the guest (hugetlbfs, as root), compared
 * with referees we did not write:
 *
 * - the kernel's pagemap of this process, read by a separate process
 *   (`dd` of /proc/PID/pagemap, `od` to print it);
 * - what the kernel says about the frames the student's addresses name:
 *   /proc/kpageflags (read by `dd` too) marks each frame of a hugepage HUGE,
 *   the first one COMPOUND_HEAD, the others COMPOUND_TAIL
 *   (Documentation/admin-guide/mm/pagemap.rst);
 * - the known properties of a hugepage: it starts on a 2 MiB boundary and is
 *   physically contiguous inside; two hugepages need not be adjacent.
 *
 * It runs as root inside the guest, in the checkers' worker (worker.ts).
 *
 * @module
 */

import {
  type DmaAllocator,
  type DmaMemory,
  HUGE_PAGE_SIZE,
  HugepageAllocator,
  HugepageMemory,
} from "../../src/memory.ts";
import { cString, LIBC, libc, pointerValue } from "../../src/ffi.ts";
import { must } from "./checklist.ts";
import type { CreateMempoolFn, PagemapOffsetFn, PhysAddrFn } from "./contract.ts";
import type { Lab } from "./lab.ts";

const PAGE_SIZE = 4096;
/** 4 KiB pages per hugepage. */
const PAGES_PER_HUGE = HUGE_PAGE_SIZE / PAGE_SIZE;
/** Hugepages each requirement maps. */
const HUGEPAGES = 4;
/** Bits 0-54 of a pagemap entry: the page frame number. */
const PFN_MASK = (1n << 55n) - 1n;
// /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h).
const KPF_COMPOUND_HEAD = 1n << 15n;
const KPF_COMPOUND_TAIL = 1n << 16n;
const KPF_HUGE = 1n << 17n;

const hex = (n: number | bigint) => `0x${n.toString(16)}`;

/** Which of the flag bits 55-63 of a pagemap entry are set. */
function flagBits(entry: bigint): number[] {
  return [55, 56, 57, 58, 59, 60, 61, 62, 63].filter((b) => ((entry >> BigInt(b)) & 1n) === 1n);
}

/** The virtual address of the first byte of `memory`. */
function virtOf(memory: DmaMemory): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(memory.buffer)));
}

/**
 * `count` 64-bit words of `file` from word `first` on, read by a separate
 * process: `dd` reads, `od` prints. Fewer words when the file ends (or has no
 * entry that far, as /proc/kpageflags past the last frame).
 */
function readWords(file: string, first: number, count: number): bigint[] {
  const script = `dd if=${file} bs=8 skip=${first} count=${count} 2>/dev/null | od -An -v -tx8`;
  const out = new Deno.Command("sh", { args: ["-c", script] }).outputSync();
  const text = new TextDecoder().decode(out.stdout).trim();
  return text === "" ? [] : text.split(/\s+/).map((w) => BigInt(`0x${w}`));
}

/** The kernel's pagemap entries of `pages` 4 KiB pages from `virt` on, read by another process. */
function kernelPagemap(virt: number, pages: number): bigint[] {
  const entries = readWords(`/proc/${Deno.pid}/pagemap`, virt / PAGE_SIZE, pages);
  if (entries.length !== pages) {
    throw new Error(`dd read ${entries.length} of ${pages} pagemap entries`);
  }
  return entries;
}

/** Pagemap entries of this process, read here (the checker's own reading, for the student). */
function ownPagemap(virt: number, pages: number): BigUint64Array {
  const entries = new BigUint64Array(pages);
  const file = Deno.openSync("/proc/self/pagemap");
  try {
    file.seekSync(Math.floor(virt / PAGE_SIZE) * 8, Deno.SeekMode.Start);
    const bytes = new Uint8Array(entries.buffer);
    for (let at = 0; at < bytes.length;) {
      const n = file.readSync(bytes.subarray(at));
      if (n === null || n === 0) throw new Error("short read of /proc/self/pagemap");
      at += n;
    }
    return entries;
  } finally {
    file.close();
  }
}

/** mmap flag: map exactly at the given address (Linux x86-64, mman-linux.h). */
const MAP_FIXED = 0x10;
/** mmap protection: no access (a reservation of address space). */
const PROT_NONE = 0;

function mapFailed(p: Deno.PointerValue): boolean {
  return p === null || pointerValue(p) === 0xffffffffffffffffn;
}

/**
 * Hands out real hugepages that are never physically adjacent, and records
 * them. A real machine often gives a mapping adjacent hugepages (the kernel
 * reuses the pages freed last), so a mempool that assumes "next page = this
 * page + 2 MiB" would pass by luck. Here each 2 MiB page of the mapping is a
 * hugetlbfs file of its own, probed first: a page adjacent to the one before
 * is put aside and another taken, then it is mapped at its place in one
 * reserved, contiguous virtual range (MAP_FIXED). The checker notes the
 * addresses, so the student sees them.
 */
class ScatteredHugepages implements DmaAllocator {
  readonly blocks: HugepageMemory[] = [];
  #mount: string;
  #cleanup: (() => void)[] = [];
  #files = 0;
  constructor(mount: string) {
    this.#mount = mount;
  }

  allocate(size: number): DmaMemory {
    const n = Math.ceil(size / HUGE_PAGE_SIZE);
    const bytes = n * HUGE_PAGE_SIZE;
    // Reserve n + 1 pages of address space, to place the range on a 2 MiB boundary.
    const reserve = BigInt(bytes + HUGE_PAGE_SIZE);
    const r = libc().mmap(null, reserve, PROT_NONE, LIBC.MAP_PRIVATE | LIBC.MAP_ANONYMOUS, -1, 0n);
    if (mapFailed(r)) throw new Error("cannot reserve address space");
    this.#cleanup.push(() => libc().munmap(r, reserve));
    const base = Math.ceil(Number(pointerValue(r)) / HUGE_PAGE_SIZE) * HUGE_PAGE_SIZE;
    const pagePhys: number[] = [];
    for (let i = 0; i < n; i++) {
      for (let attempt = 0;; attempt++) {
        if (attempt > 16) throw new Error("no non-adjacent hugepage found");
        const fd = this.#hugepageFile();
        const probe = this.#map(null, fd, 0);
        const phys = Number(ownPagemap(Number(pointerValue(probe)), 1)[0] & PFN_MASK) * PAGE_SIZE;
        const prev = pagePhys[i - 1];
        if (prev !== undefined && Math.abs(phys - prev) <= HUGE_PAGE_SIZE) {
          libc().close(fd); // adjacent: keep it mapped (taken) until the end, try another
          continue;
        }
        this.#map(Deno.UnsafePointer.create(BigInt(base + i * HUGE_PAGE_SIZE)), fd, MAP_FIXED);
        libc().close(fd);
        pagePhys.push(phys);
        break;
      }
    }
    const pointer = Deno.UnsafePointer.create(BigInt(base))!;
    const memory = new HugepageMemory(
      Deno.UnsafePointerView.getArrayBuffer(pointer, bytes),
      pointer,
      pagePhys,
    );
    this.blocks.push(memory);
    return memory;
  }

  /** Unmaps everything (the probes and spares too); the hugepages go back to the pool. */
  free(): void {
    for (const f of this.#cleanup.reverse()) f();
    this.#cleanup = [];
  }

  /** A new, already unlinked, 2 MiB file in hugetlbfs. */
  #hugepageFile(): number {
    const path = `${this.#mount}/ixy-ts-lab2-${Deno.pid}-${this.#files++}`;
    const fd = libc().open(cString(path), LIBC.O_CREAT | LIBC.O_RDWR | LIBC.O_CLOEXEC, 0o600);
    if (fd < 0) throw new Error(`cannot create ${path}`);
    libc().unlink(cString(path));
    if (libc().ftruncate(fd, BigInt(HUGE_PAGE_SIZE)) !== 0) throw new Error("ftruncate failed");
    return fd;
  }

  /** Maps the hugepage of `fd` (at `at` with MAP_FIXED), populated and locked. */
  #map(at: Deno.PointerValue, fd: number, fixed: number): Deno.PointerObject {
    const size = BigInt(HUGE_PAGE_SIZE);
    const p = libc().mmap(
      at,
      size,
      LIBC.PROT_READ | LIBC.PROT_WRITE,
      LIBC.MAP_SHARED | LIBC.MAP_HUGETLB | LIBC.MAP_POPULATE | fixed,
      fd,
      0n,
    );
    if (mapFailed(p)) throw new Error("cannot map a hugepage: too few free hugepages?");
    if (libc().mlock(p, size) !== 0) throw new Error("mlock failed");
    this.#cleanup.push(() => libc().munmap(p, size));
    return p!;
  }
}

/** Lab 2 in the lab VM: translation and a mempool on real hugepages. */
export const lab2Vm: Lab = {
  number: 2,
  title: "DMA memory, in the lab VM: real hugepages",
  reference: "tools/lab/solutions/lab2_dma.ts",
  functions: ["pagemapOffset", "physAddr", "createMempool"],
  async run(impl, list) {
    const pagemapOffset = impl.pagemapOffset as PagemapOffsetFn;
    const physAddr = impl.physAddr as PhysAddrFn;
    const createMempool = impl.createMempool as CreateMempoolFn;
    const allocator = HugepageAllocator.open();
    const pages = HUGEPAGES * PAGES_PER_HUGE;
    /** An offset within 4 KiB page i: 0 at the start of each hugepage, varied elsewhere. */
    const within = (i: number) => i % PAGES_PER_HUGE === 0 ? 0 : (i * 0x123) % PAGE_SIZE;

    const memory = allocator.allocate(HUGEPAGES * HUGE_PAGE_SIZE);
    try {
      const virt0 = virtOf(memory);
      list.note(`${HUGEPAGES} hugepages mapped at virtual ${hex(virt0)}`);

      await list.check(
        "pagemapOffset finds the entries of a real hugepage mapping (above 4 GiB)",
        () => {
          for (let i = 0; i < pages; i++) {
            const virt = virt0 + i * PAGE_SIZE + within(i);
            const want = Math.floor(virt / PAGE_SIZE) * 8;
            const got = pagemapOffset(virt);
            must(
              got === want,
              `for ${hex(virt)} you computed ${hex(got)}; its entry is at ${hex(want)} ` +
                `(one 8-byte entry per 4 KiB page)`,
            );
          }
        },
      );

      await list.check(
        "physAddr translates real hugepages as the kernel does: 2 MiB-aligned, contiguous, " +
          "HUGE in /proc/kpageflags, the address a separate process reads in pagemap",
        () => {
          const entries = ownPagemap(virt0, pages);
          const kernel = kernelPagemap(virt0, pages);
          const got: number[] = [];
          for (let i = 0; i < pages; i++) {
            const virt = virt0 + i * PAGE_SIZE + within(i);
            const phys = physAddr(entries[i], virt);
            must(
              Number.isSafeInteger(phys) && phys >= 0 && phys < 2 ** 52,
              `for ${hex(virt)} (entry ${hex(entries[i])}) you computed ${phys < 0 ? "-" : ""}` +
                `${hex(Math.abs(phys))}: no physical address is that large (x86-64 has at ` +
                `most 52 bits). Keep only bits 0-54, the frame number; bits 55-63 are flags ` +
                `(set here: bits ${flagBits(entries[i]).join(", ")})`,
            );
            got.push(phys);
          }
          for (let h = 0; h < HUGEPAGES; h++) {
            const head = h * PAGES_PER_HUGE;
            const start = got[head];
            must(
              start % HUGE_PAGE_SIZE === 0,
              `the hugepage at virtual ${hex(virt0 + head * PAGE_SIZE)} starts at physical ` +
                `${hex(start)} by your physAddr: not a multiple of 2 MiB, which every hugepage is`,
            );
            for (let i = head + 1; i < head + PAGES_PER_HUGE; i++) {
              const off = (i - head) * PAGE_SIZE + within(i);
              must(
                got[i] === start + off,
                `${hex(virt0 + i * PAGE_SIZE + within(i))} is ${hex(off)} bytes into a ` +
                  `hugepage that starts at physical ${hex(start)}, so it is at ` +
                  `${hex(start + off)} (a hugepage is contiguous); you computed ${hex(got[i])}` +
                  (got[i] % PAGE_SIZE !== within(i)
                    ? `: add the offset within the 4 KiB page (virt % 4096 = ${hex(within(i))})`
                    : ""),
              );
            }
            const flags = readWords("/proc/kpageflags", start / PAGE_SIZE, PAGES_PER_HUGE);
            must(
              flags.length === PAGES_PER_HUGE,
              `frame ${hex(start / PAGE_SIZE)} (your physical ${hex(start)}) is not a page frame ` +
                `of this machine: /proc/kpageflags has no entry for it`,
            );
            flags.forEach((f, k) => {
              const part = k === 0 ? KPF_COMPOUND_HEAD : KPF_COMPOUND_TAIL;
              must(
                (f & KPF_HUGE) !== 0n && (f & part) !== 0n,
                `/proc/kpageflags says frame ${hex(start / PAGE_SIZE + k)} (your physical ` +
                  `${hex(start + k * PAGE_SIZE)}) is not ${k === 0 ? "the start" : "part"} of ` +
                  `a hugepage (flags ${hex(f)}): it is not the frame behind ` +
                  `${hex(virt0 + (head + k) * PAGE_SIZE)}`,
              );
            });
          }
          for (let i = 0; i < pages; i++) {
            const want = Number(kernel[i] & PFN_MASK) * PAGE_SIZE + within(i);
            must(
              got[i] === want,
              `for ${hex(virt0 + i * PAGE_SIZE + within(i))} you computed ${hex(got[i])}; ` +
                `the kernel's pagemap, read by a separate process, says ${hex(want)}`,
            );
          }
        },
      );
    } finally {
      memory.free();
    }

    await list.check(
      "physAddr refuses a page that is not present: a fresh mapping no one has touched yet",
      () => {
        const bytes = 2 * PAGE_SIZE;
        const p = libc().mmap(
          null,
          BigInt(bytes),
          LIBC.PROT_READ | LIBC.PROT_WRITE,
          LIBC.MAP_PRIVATE | LIBC.MAP_ANONYMOUS,
          -1,
          0n,
        );
        if (p === null || pointerValue(p) === 0xffffffffffffffffn) throw new Error("mmap failed");
        try {
          const virt = Number(pointerValue(p));
          const [entry] = ownPagemap(virt, 1);
          if ((entry >> 63n) !== 0n) throw new Error(`untouched page present: ${hex(entry)}`);
          let threw = false;
          let got = 0;
          try {
            got = physAddr(entry, virt);
          } catch {
            threw = true;
          }
          must(
            threw,
            `you returned ${hex(got)} for ${hex(virt)}, whose entry is ${hex(entry)}: bit 63 ` +
              `(present) is clear, there is no page frame behind it yet`,
          );
        } finally {
          libc().munmap(p, BigInt(bytes));
        }
      },
    );

    const dma = new ScatteredHugepages(allocator.mountPoint);
    try {
      const numEntries = (HUGEPAGES * HUGE_PAGE_SIZE) / 2048;
      let truth: (i: number) => number = () => NaN;
      await list.check(
        "createMempool on real hugepages: each buffer's physical address is the one the " +
          "kernel's pagemap gives (read by a separate process)",
        () => {
          const pool = createMempool(dma, { numEntries, entrySize: 2048 });
          must(
            dma.blocks.length === 1,
            `createMempool made ${dma.blocks.length} allocations; make one`,
          );
          const virt0 = virtOf(dma.blocks[0]);
          const kernel = kernelPagemap(virt0, pages);
          truth = (i) =>
            Number(kernel[Math.floor((i * 2048) / PAGE_SIZE)] & PFN_MASK) * PAGE_SIZE +
            ((i * 2048) % PAGE_SIZE);
          const starts = Array.from({ length: HUGEPAGES }, (_, h) => truth(h * PAGES_PER_HUGE * 2));
          list.note(`the pool's hugepages are at physical ${starts.map(hex).join(", ")}`);
          for (let i = 0; i < numEntries; i++) {
            const got = pool.physAddr(i);
            const want = truth(i);
            const adjacent = got === pool.physAddr(0) + i * 2048;
            must(
              got === want,
              `buffer ${i} is at ${hex(got)}; the kernel says ${hex(want)}` +
                (adjacent
                  ? `. Real hugepages are not physically adjacent (the first two are at ` +
                    `${hex(truth(0))} and ${hex(truth(PAGES_PER_HUGE * 2))}): translate each ` +
                    `buffer's offset with memory.physAddr`
                  : ""),
            );
          }
        },
      );
      await list.check(
        "each buffer's header holds its physical address (low word, high word), on real memory",
        () => {
          must(dma.blocks.length === 1, "no mempool to check");
          const words = new Uint32Array(dma.blocks[0].buffer);
          for (let i = 0; i < numEntries; i++) {
            const w = (i * 2048) / 4;
            const got = words[w] + words[w + 1] * 0x1_0000_0000;
            must(
              got === truth(i),
              `buffer ${i}: header says ${hex(got)}; the kernel's pagemap says ${hex(truth(i))}`,
            );
          }
        },
      );
    } finally {
      dma.free();
    }
  },
};
