/**
 * What every app does besides moving packets: stop cleanly on Ctrl-C, print
 * statistics every second, and leave the device quiet (or give it back to
 * its kernel driver) at the end.
 *
 * Every tool starts through {@link runApp}, which turns the errors we foresee
 * into one line and an exit code.
 *
 * @module
 */

import type { IxyDevice } from "../../src/device.ts";
import { DeviceStats, formatStatsDiff } from "../../src/stats.ts";
import { intOption } from "./cli.ts";
import { runTool } from "../../src/error.ts";
import { setStopHandler } from "../../src/exit_guard.ts";

/**
 * Runs a tool's main function: an error we foresaw (an `IxyError` of the
 * driver or of the lab VM, a malformed option) becomes one line on stderr and
 * a non-zero exit code — the error's own (`IxyError.exitCode`: the lab VM's
 * errors say 2 for bad options, 124 for a timeout, 125 for a VM that could
 * not start or died); anything else is a bug and keeps its stack trace.
 *
 *     if (import.meta.main) runApp(main);
 *
 * @param main the tool
 */
export function runApp(main: () => Promise<void> | void): Promise<void> {
  return runTool(main);
}

/**
 * Becomes `stopped` on the first SIGINT (Ctrl-C), SIGTERM or SIGHUP, so the
 * app's loop ends by itself: final statistics, queued frames sent, devices
 * closed. A second signal stops at once (src/exit_guard.ts), and the devices
 * are still left quiet.
 */
export class StopSignal {
  /** True once a signal arrived. */
  stopped = false;

  /** Starts listening. */
  constructor() {
    setStopHandler(() => this.stopped = true);
  }

  /** Stops listening: a signal from now on ends the process at once. */
  dispose(): void {
    setStopHandler(undefined);
  }
}

/**
 * Prints ixy's RX/TX lines for some devices once a second. Signals are only
 * delivered while the event loop runs, so {@link tick} yields to it then.
 */
export class StatsPrinter {
  #devs: IxyDevice[];
  #now: DeviceStats[];
  #before: DeviceStats[];
  #last = performance.now();
  #extra: () => string;
  #irqBefore: number[];

  /** `extra` adds text (e.g. drop counters) to each report. */
  constructor(devs: IxyDevice[], extra: () => string = () => "") {
    this.#devs = devs;
    this.#now = devs.map(() => new DeviceStats());
    this.#before = devs.map(() => new DeviceStats());
    this.#extra = extra;
    this.#irqBefore = devs.map((d) => d.interrupts?.count ?? 0);
  }

  /** Prints if a second has passed since the last report; returns after yielding. */
  async tick(): Promise<void> {
    const now = performance.now();
    if (now - this.#last < 1000) return;
    this.#print(now);
    await new Promise((r) => setTimeout(r, 0)); // let Ctrl-C be noticed
  }

  /** The counters accumulated so far, per device. */
  totals(): DeviceStats[] {
    this.#devs.forEach((d, i) => d.readStats(this.#now[i]));
    return this.#now;
  }

  #print(now: number): void {
    const nanos = (now - this.#last) * 1e6;
    this.#devs.forEach((dev, i) => {
      dev.readStats(this.#now[i]);
      console.log(
        formatStatsDiff(dev.pciAddress, { now: this.#now[i], before: this.#before[i] }, nanos),
      );
      this.#before[i].copyFrom(this.#now[i]);
      const irq = dev.interrupts;
      if (irq) {
        // Interrupts taken (src/interrupts.ts): ~0 under load, one per burst when idle.
        const perSecond = (irq.count - this.#irqBefore[i]) / (nanos / 1e9);
        console.log(`[${dev.pciAddress}] interrupts: ${perSecond.toFixed(0)}/s`);
        this.#irqBefore[i] = irq.count;
      }
    });
    const extra = this.#extra();
    if (extra) console.log(extra);
    this.#last = now;
  }
}

/**
 * Stops a device (queued frames go out, then reset) and, with `rebind`, hands
 * it back to the kernel driver it was taken from.
 */
export function releaseDevice(dev: IxyDevice, options: { rebind?: boolean } = {}): void {
  dev.close();
  if (options.rebind && dev.pci) {
    dev.pci.rebindDriver();
    console.log(`${dev.pciAddress}: handed back to ${dev.pci.originalDriver ?? "no driver"}`);
  }
}

/** The `--interrupts` / `--irq-rate` options of the receiving tools, for `ixyInit`. */
export const INTERRUPT_OPTIONS = {
  interrupts: { type: "boolean", default: false },
  "irq-rate": { type: "string" },
} as const;

/** Help text for {@link INTERRUPT_OPTIONS}. */
export const INTERRUPT_HELP =
  `  --interrupts  sleep when idle: MSI-X through VFIO (vfio-pci binding), ixy's
                poll-while-busy policy; the statistics show interrupts/s
  --irq-rate N  most interrupts per second per queue (ixgbe EITR; default
                100000, 0 = unlimited)`;

/** `ixyInit` options from parsed {@link INTERRUPT_OPTIONS} values. */
export function interruptInitOptions(
  values: { interrupts: boolean; "irq-rate"?: string },
): { interrupts: boolean; interruptRate?: number } {
  const rate = values["irq-rate"];
  return {
    interrupts: values.interrupts,
    interruptRate: rate === undefined ? undefined : intOption("irq-rate", rate, { min: 0 }),
  };
}

/** Says whether `--interrupts` took effect on `dev` (only through VFIO or the software 82599). */
export function reportInterrupts(dev: IxyDevice, requested: boolean): void {
  if (!requested) return;
  console.log(
    dev.interrupts
      ? `${dev.pciAddress}: interrupts on (poll while busy, sleep when idle)`
      : `${dev.pciAddress}: no interrupts without VFIO (bind it to vfio-pci: deno task bind); polling`,
  );
}
