/**
 * Is the guest's clock keeping time? A guard against a lab VM whose clock runs
 * far too fast or too slow.
 *
 * Why it can: under TCG the guest's time stamp counter is the host's raw TSC
 * (QEMU's `rdtsc` helper returns the host's ticks), and the guest kernel
 * measures its rate once, at boot, against emulated timers (PIT, HPET, ACPI PM
 * timer, all driven by the host's monotonic clock). Our kernel command line
 * has `tsc=reliable` (see qemu.ts), so no clocksource watchdog checks that
 * rate later. If the calibration goes wrong, or the host's raw TSC jumps or
 * changes pace while the guest runs (a host that is itself a VM may be paused,
 * restored or moved; the one we measured on marks its own TSC unstable and
 * keeps time with kvm-clock), the guest's clock drifts from the host's. It
 * was seen once: guest uptime 11787 s after 272 s of host time (43×).
 *
 * With such a clock every timeout inside the guest (`sleep`, `ping -W`, a
 * test's deadline) means something else, and the failures that follow are
 * confusing. So run_vm.ts compares the guest's uptime (`/proc/uptime`,
 * CLOCK_BOOTTIME: `date -s` in a command does not move it) with the host's
 * `performance.now()` over the same interval, twice: the boot (as soon as the
 * command starts, so a bad clock stops the run before the command does
 * anything) and the command itself (when it ends). This file holds the
 * decision, a pure function, and the error it leads to.
 *
 * @module
 */

import { VmError } from "./errors.ts";

/**
 * How many times faster (or slower) than the host's the guest's clock may run
 * before the run fails. Measured on a busy 2-core host (tools/vm/README.md,
 * "The guest's clock"): the guest's uptime when the command starts is 0.69 to
 * 0.88 of the host's boot time (QEMU's own start and the firmware come before
 * the guest's clock starts), and over the command (0.5 to 34 s) the two
 * clocks agreed within 0.03 s. 3× is far from both, and far below the 43×
 * once seen (and the 26× of a boot with a wrong TSC rate forced on purpose).
 */
export const MAX_CLOCK_RATIO = 3;

/**
 * Seconds of disagreement that are never a skew, whatever the ratio: the host
 * notices the guest's files by polling every 50 ms, and a busy 2-core host may
 * take a second or more to start or stop QEMU. Only matters for short intervals.
 */
export const CLOCK_SLACK_SECONDS = 2;

/** How the guest's clock disagrees with the host's. */
export interface ClockSkew {
  /** "fast": the guest counted more time than passed on the host; "slow": less. */
  readonly direction: "fast" | "slow";
  /** How many times more (fast) or less (slow) time the guest counted; ≥ 1, maybe Infinity. */
  readonly ratio: number;
}

/**
 * The decision: does a guest clock that counted `guestSeconds` while
 * `hostSeconds` passed on the host keep time? It does unless the guest counted
 * more than {@link MAX_CLOCK_RATIO} × host + {@link CLOCK_SLACK_SECONDS}, or
 * less than (host − slack) / ratio. Negative or non-finite input (a missing
 * reading) is no verdict.
 *
 * @param hostSeconds time that passed on the host (its monotonic clock)
 * @param guestSeconds time the guest's clock counted over the same interval
 * @returns the skew, or undefined when the clocks agree well enough
 */
export function guestClockSkew(hostSeconds: number, guestSeconds: number): ClockSkew | undefined {
  if (!(hostSeconds >= 0 && guestSeconds >= 0)) return undefined; // also NaN
  if (!Number.isFinite(hostSeconds) || !Number.isFinite(guestSeconds)) return undefined;
  if (guestSeconds > MAX_CLOCK_RATIO * hostSeconds + CLOCK_SLACK_SECONDS) {
    return { direction: "fast", ratio: guestSeconds / hostSeconds };
  }
  if (guestSeconds * MAX_CLOCK_RATIO + CLOCK_SLACK_SECONDS < hostSeconds) {
    return { direction: "slow", ratio: hostSeconds / guestSeconds };
  }
  return undefined;
}

/**
 * What the host knows of an interval: at least `min` and at most `max`
 * seconds passed. The host sees the guest's files by polling, so it knows
 * only that a file was written after one poll and by the next; a poll that
 * runs late (a busy event loop, a descheduled process) widens the bracket
 * instead of making it wrong.
 */
export interface HostInterval {
  /** The least time that can have passed on the host (s). */
  readonly min: number;
  /** The most time that can have passed on the host (s). */
  readonly max: number;
}

/**
 * The error for a skewed guest clock, or undefined if the clock keeps time
 * (see {@link guestClockSkew}): "fast" is judged against the most time the
 * host can have seen pass, "slow" against the least, so neither comes from
 * the host's own lateness.
 *
 * @param phase "boot" (from starting QEMU to the command's start: `min` is 0,
 *   since QEMU's start, the firmware and loading the kernel and initramfs come
 *   before the guest's clock starts) or "command" (its start to its end)
 * @param host what the host knows of the interval
 * @param guestSeconds time the guest's clock counted
 * @param exitCode the command's exit code, if it finished
 * @returns a {@link VmError} that says what happened and what to do, or undefined
 */
export function guestClockError(
  phase: "boot" | "command",
  host: HostInterval,
  guestSeconds: number,
  exitCode?: number,
): VmError | undefined {
  const fast = guestClockSkew(host.max, guestSeconds);
  const slow = guestClockSkew(host.min, guestSeconds);
  const skew = fast?.direction === "fast" ? fast : slow?.direction === "slow" ? slow : undefined;
  if (skew === undefined) return undefined;
  const hostSeconds = skew === fast ? host.max : host.min;
  const times = Number.isFinite(skew.ratio) ? `${formatRatio(skew.ratio)}× ` : "infinitely ";
  const when = phase === "boot" ? "while the guest booted" : "while the command ran";
  const outcome = exitCode === undefined
    ? "The run was stopped before the command could trip over it."
    : `The command exited with ${exitCode}, but its result cannot be trusted.`;
  return new VmError(
    `The lab VM's clock ran ${times}${skew.direction === "fast" ? "faster" : "slower"} than ` +
      `the host's ${when}: the guest counted ${guestSeconds.toFixed(1)} s while ` +
      `${skew === fast ? "at most" : "at least"} ${hostSeconds.toFixed(1)} s passed on the host. ` +
      "With such a clock every timeout in the " +
      `guest (sleep, ping -W, a test's deadline) is wrong. ${outcome} ` +
      "Under TCG the guest's TSC is the host's raw TSC, rated once at boot; a miscalibration, " +
      "or a host whose own TSC jumped (a host VM paused or moved), skews it. Run it again; " +
      "if it recurs, run with --verbose and read the guest kernel's 'tsc:' and 'clocksource:' " +
      "lines, and check the host's ('dmesg | grep -i tsc').",
  );
}

/** 43.3 → "43", 4.46 → "4.5": whole numbers once the digits after the point no longer matter. */
function formatRatio(ratio: number): string {
  return ratio >= 10 ? ratio.toFixed(0) : ratio.toFixed(1);
}
