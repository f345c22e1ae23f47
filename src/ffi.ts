/**
 * The C library, through `Deno.dlopen`: the only door from TypeScript to the
 * kernel that this driver uses.
 *
 * A user-space driver needs very few system calls: `open`/`pread`/`pwrite` on
 * sysfs files (PCI config space, I/O-port BARs), `mmap` to see a memory BAR or
 * a hugepage as ordinary memory, `mlock` so the kernel never moves a DMA page,
 * `ioctl` for VFIO (src/vfio.ts), `eventfd`/`poll` for interrupts (and, for the benchmarks,
 * `clock_gettime`). They all live in this one symbol table, so a
 * reader can see the complete list of ways the driver talks to the kernel.
 *
 * Performance note: an FFI call is cheap, but a JS `number` passed for an
 * `i64`/`usize` parameter, or a `null` pointer, drops V8 to a slow path about
 * ten times as long (docs/performance.md has the measurements). Hot callers
 * therefore pass `bigint` values they computed once.
 *
 * @module
 */

/** The libc functions we call, with their C signatures. */
const SYMBOLS = {
  // int open(const char *path, int flags, mode_t mode);
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  // int close(int fd);
  close: { parameters: ["i32"], result: "i32" },
  // ssize_t pread(int fd, void *buf, size_t count, off_t offset);
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  // ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset);
  pwrite: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  // void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
  mmap: {
    parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"],
    result: "pointer",
  },
  // int munmap(void *addr, size_t len);
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  // int mlock(const void *addr, size_t len);
  mlock: { parameters: ["pointer", "usize"], result: "i32" },
  // int ftruncate(int fd, off_t length);
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  // int unlink(const char *path);
  unlink: { parameters: ["buffer"], result: "i32" },
  // int *__errno_location(void);  glibc's per-thread errno
  __errno_location: { parameters: [], result: "pointer" },
  // char *strerror(int errnum);
  strerror: { parameters: ["i32"], result: "pointer" },
  // int socket(int domain, int type, int protocol);  (the test peer's AF_PACKET socket)
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int bind(int fd, const struct sockaddr *addr, socklen_t len);
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // ssize_t recv(int fd, void *buf, size_t len, int flags);
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  // ssize_t send(int fd, const void *buf, size_t len, int flags);
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  // int setsockopt(int fd, int level, int name, const void *value, socklen_t len);
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  // unsigned int if_nametoindex(const char *ifname);
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  // int ioctl(int fd, unsigned long request, ...);  VFIO (src/vfio.ts). Two
  // views of the one variadic function: the third argument is a pointer to a
  // struct (most VFIO requests) or a plain integer (VFIO_CHECK_EXTENSION,
  // VFIO_SET_IOMMU). On x86-64 both travel in the same register.
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  ioctl_int: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32" },
  // int eventfd(unsigned int initval, int flags);  a counter the kernel bumps
  // on each interrupt (VFIO_DEVICE_SET_IRQS wires MSI-X vectors to them)
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  // ssize_t read(int fd, void *buf, size_t count);  (reads and resets an eventfd)
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // int poll(struct pollfd *fds, nfds_t nfds, int timeout);  run on a helper
  // thread (nonblocking): the call returns a Promise, so a driver waiting for
  // an interrupt never blocks Deno's event loop.
  poll_async: {
    name: "poll",
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  // uid_t geteuid(void);  (error messages: who we are)
  geteuid: { parameters: [], result: "u32" },
  // int clock_gettime(clockid_t clk, struct timespec *tp);  the benchmarks'
  // clocks (tools/lib/clock.ts). `pointer`, not `buffer`: a typed array
  // passed as `buffer` made the call allocate (see there).
  clock_gettime: { parameters: ["i32", "pointer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** Flags and constants from the Linux/glibc headers (x86-64 values). */
export const LIBC = {
  O_RDONLY: 0,
  O_WRONLY: 1,
  O_RDWR: 2,
  O_CREAT: 0o100,
  O_CLOEXEC: 0o2000000,
  PROT_READ: 1,
  PROT_WRITE: 2,
  MAP_SHARED: 0x01,
  MAP_PRIVATE: 0x02,
  MAP_ANONYMOUS: 0x20,
  MAP_HUGETLB: 0x40000,
  MAP_POPULATE: 0x8000,
  AF_PACKET: 17,
  SOCK_RAW: 3,
  MSG_DONTWAIT: 0x40,
  SOL_SOCKET: 1,
  SO_RCVTIMEO: 20,
  SO_RCVBUFFORCE: 33,
  ETH_P_ALL: 0x0003,
  EPERM: 1,
  ENOENT: 2,
  EACCES: 13,
  ENOMEM: 12,
  EAGAIN: 11,
  EBUSY: 16,
  ENODEV: 19,
  EINVAL: 22,
  EFAULT: 14,
  EEXIST: 17,
  ENOTTY: 25,
  /** eventfd flags (include/uapi/linux/eventfd.h: EFD_NONBLOCK = O_NONBLOCK). */
  EFD_NONBLOCK: 0o4000,
  EFD_CLOEXEC: 0o2000000,
  /** poll events (include/uapi/asm-generic/poll.h). */
  POLLIN: 0x1,
  /** clock ids (include/uapi/linux/time.h). */
  CLOCK_MONOTONIC: 1,
  CLOCK_THREAD_CPUTIME_ID: 3,
} as const;

/** Type of the constants object above. */
export type LIBC = typeof LIBC;

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

/**
 * The opened libc symbols. Opened on first use so that merely importing the
 * library (for example to build docs) needs no FFI permission.
 *
 * UNSAFE: these are raw C functions; a wrong length or pointer corrupts memory.
 */
export function libc(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  lib ??= Deno.dlopen("libc.so.6", SYMBOLS);
  return lib.symbols;
}

/** The calling thread's `errno`, read right after a failed libc call. */
export function errno(): number {
  const p = libc().__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

/** The C library's text for an errno value, e.g. "Permission denied". */
export function strerror(code: number): string {
  const p = libc().strerror(code);
  return p === null ? `errno ${code}` : Deno.UnsafePointerView.getCString(p);
}

/** A NUL-terminated copy of a string, as C expects paths. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(text + "\0");
}

/** The numeric value of a pointer (0 for `null`). */
export function pointerValue(p: Deno.PointerValue): bigint {
  return p === null ? 0n : BigInt(Deno.UnsafePointer.value(p));
}
