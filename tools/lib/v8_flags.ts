/**
 * The V8 flags every packet-moving program of this project runs with: the
 * tasks in deno.json (`demo`, `pktgen`, `fwd`, `pcap`, `view` and the
 * benchmarks) pass them as `--v8-flags=...`, and the benchmarks that start
 * processes of their own pass them on, so that a benchmark measures what
 * `deno task fwd` runs. tests/unit/v8_flags_test.ts checks the tasks and
 * that this V8 knows the flags.
 *
 * JavaScript note — V8's inlining budget. C compilers inline small functions
 * freely; V8's optimising compiler (TurboFan) inlines a called function into
 * its caller only while the bytecode it has inlined into that caller stays
 * under a budget, `--max-inlined-bytecode-size-cumulative`, 920 bytes by
 * default (Deno 2.9.6): a budget for web pages. One forwarding step is bigger
 * than that: the app's loop, `forward()`, the device's `rxBatch` and
 * `txBatch`, the ring functions behind them (drivers/ixgbe/rx.ts alone is
 * ~310 bytes of bytecode). So V8 stops inlining half-way and calls
 * `rxBatch`, `cleanTx` and `writeTxDescriptors` as functions — a frame, the
 * arguments, a stack check and reloading what the caller already had in
 * registers, per call. Per packet that matters when a call carries few
 * packets. Measured (ixgbe forwarding on the instant 82599, thread CPU time,
 * min of 15 × 1 M packets, 3 processes each, alternating, AMD EPYC 2-vCPU
 * guest, 2026-11-30): batch 1 63–67 → 53–55 ns/packet (−17 %), batch 4
 * −11 to −13 %, batch 32 −5 %, batch 256 no change; 8000 bought nothing
 * more than 4000. docs/performance.md (change 10) has the numbers.
 *
 * Your own program gets the same with
 * `deno run -A --v8-flags=--max-inlined-bytecode-size-cumulative=4000 app.ts`.
 *
 * @module
 */

/** The V8 flags of the packet-moving programs (see the module doc). */
export const PACKET_V8_FLAGS: readonly string[] = ["--max-inlined-bytecode-size-cumulative=4000"];

/**
 * The `--v8-flags=...` argument of `deno run` for a child process: the
 * packet programs' flags plus `extra` (e.g. `--trace-gc` for a probe), in one
 * argument.
 */
export function v8FlagsArgument(...extra: string[]): string {
  return `--v8-flags=${[...PACKET_V8_FLAGS, ...extra].join(",")}`;
}
