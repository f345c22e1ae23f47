/**
 * fwd: forwards frames between two NICs in both directions — ixy's
 * `ixy-fwd`. Whatever arrives on one port leaves on the other, so with a
 * host on each side the pair acts as a wire (or a very simple bridge).
 *
 *     deno task fwd 0000:00:11.0 0000:00:12.0
 *
 * Each received frame is touched (one byte read and written back), as ixy
 * does, so the benchmark is not one of buffers that never reach the CPU.
 * Frames the TX ring cannot take are dropped, counted and shown.
 *
 * The task runs this file with a larger V8 inlining budget, so that V8
 * compiles the receive-touch-send step as one piece of code instead of
 * calls: -17 % per packet at batch 1, -5 % at batch 32
 * (tools/lib/v8_flags.ts says why and how it was measured).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { dmaAllocatorForAll, ixyInit } from "../drivers/mod.ts";
import type { PktBuf } from "../src/mempool.ts";
import type { IxyDevice } from "../src/device.ts";
import { IxyError } from "../src/error.ts";
import { DEVICE_APP_OPTIONS, intOption, limitOption } from "./lib/cli.ts";
import {
  INTERRUPT_HELP,
  INTERRUPT_OPTIONS,
  interruptInitOptions,
  releaseDevice,
  reportInterrupts,
  runApp,
  StatsPrinter,
  StopSignal,
} from "./lib/app.ts";
import { RxInterruptPolicy } from "../src/interrupts.ts";

const HELP = `Usage: deno task fwd <pci-a> <pci-b> [options]

Forwards all frames from NIC A to NIC B and from B to A, touching each one,
and prints both ports' statistics and drops every second. Ctrl-C stops it
(final statistics, devices reset). Needs root and hugepages (see README).

Options:
  --batch N     frames per rxBatch/txBatch (default 32)
  --rx-ring-size N  receive descriptors per port, a power of two (ixgbe,
                igb, e1000; default 512; a virtio ring's size is the device's)
  --seconds N   stop after N seconds (default: run until Ctrl-C)
  --rebind      give both NICs back to their kernel drivers at the end
  --force       take NICs even if a kernel interface on them is up
${INTERRUPT_HELP}
  -h, --help    show this help`;

/**
 * Moves one batch from `rx` to `tx`; returns the frames dropped, and in
 * `received.n` (if given) the frames received. The loop body allocates
 * nothing: `bufs` is reused for every batch.
 */
export function forward(
  rx: IxyDevice,
  tx: IxyDevice,
  bufs: PktBuf[],
  batch: number,
  received?: { n: number },
): number {
  const n = rx.rxBatch(0, bufs, batch);
  if (received) received.n = n;
  if (n === 0) return 0;
  for (let i = 0; i < n; i++) {
    // Touch the frame: read and write one byte (brings it into the cache).
    const data = bufs[i].data;
    const byte = data[1];
    data[1] = byte; // unlike ixy we write back the same value: the frame must stay intact
  }
  const sent = tx.txBatch(0, bufs, n);
  // The TX ring was full: these frames are dropped (counted, never silent).
  for (let i = sent; i < n; i++) bufs[i].pool.free(bufs[i]);
  return n - sent;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      batch: { type: "string", default: "32" },
      "rx-ring-size": { type: "string" },
      ...DEVICE_APP_OPTIONS,
      ...INTERRUPT_OPTIONS,
    },
  });
  if (values.help) return console.log(HELP);
  if (positionals.length !== 2) throw new IxyError(`Expected two PCI addresses.\n${HELP}`);
  const batch = intOption("batch", values.batch, { min: 1, max: 512 });
  const seconds = limitOption("seconds", values.seconds);
  // The drivers check that it is a power of two their hardware takes.
  const rxRingSize = values["rx-ring-size"] === undefined
    ? undefined
    : intOption("rx-ring-size", values["rx-ring-size"], { min: 8, max: 65536 });

  // Both NICs identified, and their memory checked, before either is touched.
  const dma = dmaAllocatorForAll(positionals);
  const irqOptions = interruptInitOptions(values);
  const a = ixyInit(positionals[0], { dma, force: values.force, rxRingSize, ...irqOptions });
  let b: IxyDevice;
  try {
    b = ixyInit(positionals[1], { dma, force: values.force, rxRingSize, ...irqOptions });
  } catch (e) {
    releaseDevice(a, { rebind: true }); // nothing taken half-way
    throw e;
  }
  console.log(`fwd: ${a.pciAddress} <-> ${b.pciAddress}, batch ${batch}`);
  reportInterrupts(a, values.interrupts);
  reportInterrupts(b, values.interrupts);
  // One policy per receiving port; sleep only when both directions are idle.
  const irqA = new RxInterruptPolicy(a, 0);
  const irqB = new RxInterruptPolicy(b, 0);

  const drops = { aToB: 0, bToA: 0 }; // TX ring full, per direction
  const stop = new StopSignal();
  const printer = new StatsPrinter(
    [a, b],
    () =>
      `[fwd] dropped since start (TX ring full): ${a.pciAddress}->${b.pciAddress} ${drops.aToB}, ` +
      `${b.pciAddress}->${a.pciAddress} ${drops.bToA}`,
  );
  const bufs: PktBuf[] = new Array(batch);
  const start = performance.now();
  const fromA = { n: 0 };
  const fromB = { n: 0 };
  for (let iteration = 0; !stop.stopped; iteration++) {
    drops.aToB += forward(a, b, bufs, batch, fromA);
    drops.bToA += forward(b, a, bufs, batch, fromB);
    // Each policy must see every poll: no short-circuit.
    const idleA = irqA.onPoll(fromA.n);
    const idleB = irqB.onPoll(fromB.n);
    const slept = idleA && idleB;
    if (slept) await RxInterruptPolicy.sleepAny([irqA, irqB]);
    if (slept || (iteration & 255) === 0) {
      await printer.tick();
      if (performance.now() - start >= seconds * 1000) break;
    }
  }
  irqA.stop();
  irqB.stop();
  stop.dispose();
  const [ta, tb] = printer.totals();
  console.log(
    `fwd: ${a.pciAddress} rx ${ta.rxPackets} tx ${ta.txPackets}; ` +
      `${b.pciAddress} rx ${tb.rxPackets} tx ${tb.txPackets}; ` +
      `dropped ${drops.aToB} + ${drops.bToA}`,
  );
  releaseDevice(a, { rebind: values.rebind });
  releaseDevice(b, { rebind: values.rebind });
}

if (import.meta.main) runApp(main);
