/**
 * The tools' fast clocks: `clock_gettime` from libc (src/ffi.ts) through FFI
 * into one `struct timespec` made once.
 *
 * - {@link monotonicNs}: CLOCK_MONOTONIC, wall-clock time that never jumps
 *   (`deno task bench:latency` stamps every iteration with it).
 * - {@link threadCpuNs}: CLOCK_THREAD_CPUTIME_ID, the time the calling thread
 *   spent on a CPU (`deno task bench:ablation` times its rounds with it: on a
 *   shared 2-vCPU machine a process gets about half of the wall-clock time,
 *   and CPU time does not count the other half).
 *
 * Why not `performance.now()`: in Deno 2.9.6 it cost ~0.5 µs a read on our
 * loaded 2-vCPU VM (kvm-clock) against ~0.2 µs for this FFI call, and a
 * benchmark's clock must not be what allocates. The fast path needs: the
 * buffer's pointer made once and passed as `pointer` (declared as `buffer`
 * and given a typed array, the same call allocated: 23 scavenges in 3 M
 * reads, 0 as `pointer`), the clock id an `i32`, no BigInt.
 *
 * Both return nanoseconds since some fixed point, from the low 32 bits of
 * `tv_sec`: they wrap every 2^32 s, so use differences only.
 *
 * @module
 */

import { LIBC, libc } from "../../src/ffi.ts";

// struct timespec { time_t tv_sec; long tv_nsec; }: two 64-bit words; the low
// 32 bits of each are enough for differences (x86-64 is little-endian). One
// buffer for both clocks: each read is finished before the next one starts.
const timespec = new Uint32Array(4);

/**
 * libc's clock_gettime and the timespec's pointer; without FFI permission (the
 * lab checkers' Worker runs with none: tools/lab/mod.ts) a stand-in that fills
 * the timespec from `performance.now()` instead: coarser and slower, enough
 * for the software 82599's request time stamps (tools/sim82599/bar.ts).
 */
const { clock_gettime, timespecPtr } = ((): {
  clock_gettime: (clock: number, p: Deno.PointerValue) => number;
  timespecPtr: Deno.PointerValue;
} => {
  try {
    return { clock_gettime: libc().clock_gettime, timespecPtr: Deno.UnsafePointer.of(timespec) };
  } catch (e) {
    if (!(e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied)) {
      throw e;
    }
    return {
      clock_gettime: () => {
        const ms = performance.now();
        const s = Math.floor(ms / 1000);
        timespec[0] = s;
        timespec[2] = Math.floor((ms - s * 1000) * 1e6);
        return 0;
      },
      timespecPtr: null,
    };
  }
})();

/** CLOCK_MONOTONIC, ns since some fixed point (differences only). */
export function monotonicNs(): number {
  clock_gettime(LIBC.CLOCK_MONOTONIC, timespecPtr);
  return timespec[0] * 1e9 + timespec[2];
}

/** CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID), ns (differences only). */
export function threadCpuNs(): number {
  clock_gettime(LIBC.CLOCK_THREAD_CPUTIME_ID, timespecPtr);
  return timespec[0] * 1e9 + timespec[2];
}

/**
 * CLOCK_MONOTONIC in nanoseconds modulo 2^30 (~1.07 s), a small integer:
 * `(later - earlier) & NS30_MASK` is the time between two reads less than
 * ~1.07 s apart. For timing loops that must not allocate in any tier of V8:
 * {@link monotonicNs} returns a double, and code V8 has not optimised yet
 * keeps each double in a new heap number. Found by `deno task bench:latency`:
 * in 2 of 10 runs under load its window (timed with `monotonicNs`) counted
 * 5-11 scavenges with no deoptimisation — V8 was still compiling the timing
 * loop when the window began. With V8's optimising tiers off
 * (`--no-maglev --no-turbofan`) that loop allocated, and one timed with this
 * clock (and latency.ts's integer histogram buckets) does not
 * (tests/unit/long_run_test.ts).
 */
export function monotonicNs30(): number {
  clock_gettime(LIBC.CLOCK_MONOTONIC, timespecPtr);
  // Each term below 2^30 before the add, so the sum stays an int32: an add
  // that can overflow int32 deoptimises the caller when it first does.
  return ((Math.imul(timespec[0], 1_000_000_000) & NS30_MASK) + timespec[2]) & NS30_MASK;
}

/** The mask for differences of {@link monotonicNs30}. */
export const NS30_MASK = 0x3fffffff;

/**
 * CLOCK_MONOTONIC in microseconds, wrapping at 2^32 (an int32: differences
 * only). Integer arithmetic only, so the result is a small integer and never
 * allocates.
 */
export function monotonicMicros32(): number {
  clock_gettime(LIBC.CLOCK_MONOTONIC, timespecPtr);
  return (Math.imul(timespec[0], 1_000_000) + ((timespec[2] / 1000) | 0)) | 0;
}
