/**
 * Guest side of the interrupt test (tests/vm/interrupts_test.ts): takes a NIC
 * bound to vfio-pci with `interrupts: true` (MSI-X through VFIO), measures the
 * CPU time of an idle receive loop — pure polling, then ixy's policy
 * (src/interrupts.ts) — and then receives `--rounds` rounds of `--count`
 * frames from the kernel peer, sleeping between them, checking every frame.
 * Prints one JSON line.
 *
 *     deno run -A --no-check tests/vm/guest/irq_rx.ts <pci> --src-mac MAC --ready-file F
 *
 * @module
 */

import { parseArgs } from "node:util";
import { dmaAllocatorFor, ixyInit } from "../../../drivers/mod.ts";
import type { IxyDevice } from "../../../src/device.ts";
import type { PktBuf } from "../../../src/mempool.ts";
import { IxyError, runTool } from "../../../src/error.ts";
import { processCpuSeconds, RxInterruptPolicy } from "../../../src/interrupts.ts";
import { FrameTemplate, parseMac, SequenceChecker } from "../../../tools/lib/udp_frame.ts";

/** CPU seconds per wall second of a receive loop without traffic, `ms` long. */
async function idleCpu(dev: IxyDevice, ms: number, interrupts: boolean): Promise<number> {
  const bufs: PktBuf[] = new Array(32);
  const policy = new RxInterruptPolicy(dev, 0);
  const cpu0 = processCpuSeconds();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    const n = dev.rxBatch(0, bufs, 32);
    for (let i = 0; i < n; i++) bufs[i].pool.free(bufs[i]);
    if (interrupts && policy.onPoll(n)) await policy.sleep();
  }
  policy.stop();
  return (processCpuSeconds() - cpu0) / ((performance.now() - t0) / 1000);
}

/** Interrupts of vfio-msix lines in /proc/interrupts (all CPUs), and the line names. */
function procInterrupts(): { total: number; lines: string[] } {
  let total = 0;
  const lines: string[] = [];
  for (const line of Deno.readTextFileSync("/proc/interrupts").split("\n")) {
    if (!line.includes("vfio-msix")) continue;
    const fields = line.trim().split(/\s+/);
    for (const f of fields.slice(1)) if (/^\d+$/.test(f)) total += Number(f);
    lines.push(fields[fields.length - 1]);
  }
  return { total, lines };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      count: { type: "string", default: "500" },
      rounds: { type: "string", default: "4" },
      "src-mac": { type: "string" },
      "ready-file": { type: "string" },
      "idle-seconds": { type: "string", default: "3" },
      timeout: { type: "string", default: "120" },
    },
  });
  const count = Number(values.count);
  const rounds = Number(values.rounds);
  const idleMs = Number(values["idle-seconds"]) * 1000;
  const template = new FrameTemplate({ srcMac: parseMac(values["src-mac"]!) });
  const dev = ixyInit(positionals[0], { dma: dmaAllocatorFor(positionals[0]), interrupts: true });
  if (!dev.interrupts) throw new IxyError(`${dev.pciAddress}: no interrupts (not through VFIO?)`);
  const msixLines = procInterrupts().lines;

  const idlePolling = await idleCpu(dev, idleMs, false);
  const idleInterrupts = await idleCpu(dev, idleMs, true);
  const load = Deno.loadavg()[0];

  if (values["ready-file"]) Deno.writeTextFileSync(values["ready-file"], "ready\n");
  const policy = new RxInterruptPolicy(dev, 0);
  const results: { good: number; distinct: number; bad: number; mismatched: number }[] = [];
  let checker = new SequenceChecker(count, template);
  const bufs: PktBuf[] = new Array(64);
  const deadline = performance.now() + Number(values.timeout) * 1000;
  const irqBefore = dev.interrupts.count;
  while (results.length < rounds && performance.now() < deadline) {
    const n = dev.rxBatch(0, bufs, 64);
    for (let i = 0; i < n; i++) {
      checker.add(bufs[i].data.subarray(0, bufs[i].size));
      bufs[i].pool.free(bufs[i]);
    }
    if (checker.good >= count) {
      const { good, distinct, bad, mismatched } = checker;
      results.push({ good, distinct, bad, mismatched });
      checker = new SequenceChecker(count, template);
    }
    if (policy.onPoll(n)) await policy.sleep();
  }
  if (results.length < rounds) {
    const { good, distinct, bad, mismatched } = checker;
    results.push({ good, distinct, bad, mismatched }); // the incomplete round
  }
  policy.stop();
  const irqs = procInterrupts();
  const taken = dev.interrupts.count - irqBefore;
  dev.close();
  console.log(JSON.stringify({
    msixLines,
    idleCpuPolling: idlePolling,
    idleCpuInterrupts: idleInterrupts,
    loadAverage: load,
    cpus: navigator.hardwareConcurrency,
    rounds: results,
    sleeps: policy.sleeps,
    wakeups: policy.wakeups,
    timeouts: policy.timeouts,
    interrupts: taken,
    kernelMsixInterrupts: irqs.total,
  }));
}

if (import.meta.main) runTool(main);
