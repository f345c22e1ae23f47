/**
 * pktgen: send UDP/IPv4 test frames as fast as the NIC takes them, ixy's
 * `ixy-pktgen`. Every frame carries a sequence number (see lib/udp_frame.ts)
 * so a receiver can check that all arrived, once, intact.
 *
 * Read this first: it is the top of the driver. Each call leads one step
 * down — ixyInit (drivers/mod.ts) → the driver's txBatch
 * (drivers/virtio/tx.ts) → the descriptor ring and the device.
 *
 *     deno task pktgen 0000:00:10.0 --seconds 5
 *
 * @module
 */

import { parseArgs } from "node:util";
import { dmaAllocatorFor, ixyInit } from "../drivers/mod.ts";
import { Mempool, type PktBuf } from "../src/mempool.ts";
import { formatMac } from "../src/device.ts";
import { IxyError } from "../src/error.ts";
import { FrameTemplate, MIN_FRAME_SIZE, parseMac } from "./lib/udp_frame.ts";
import { DEVICE_APP_OPTIONS, intOption, limitOption } from "./lib/cli.ts";
import { releaseDevice, runApp, StatsPrinter, StopSignal } from "./lib/app.ts";

const HELP = `Usage: deno task pktgen <pci-address> [options]

Sends 60-byte UDP/IPv4 frames (198.18.0.1 -> 198.18.0.2, RFC 2544 test range)
with a sequence number in each, and prints RX/TX rates every second.
Needs root, hugepages and a NIC not in use by the kernel (see README).

Options:
  --batch N      frames per txBatch call (default 64)
  --size N       frame size in bytes without CRC, ${MIN_FRAME_SIZE}..1514 (default 60)
  --seconds N    stop after N seconds (default: run until Ctrl-C)
  --count N      stop after N frames were queued
  --dst-mac MAC  destination MAC (default ff:ff:ff:ff:ff:ff, broadcast)
  --rebind       give the NIC back to its kernel driver at the end
  --force        take the NIC even if a kernel interface on it is up
  -h, --help     show this help`;

/** Buffers in pktgen's own mempool (as ixy-pktgen). */
const NUM_BUFS = 2048;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      batch: { type: "string", default: "64" },
      size: { type: "string", default: "60" },
      count: { type: "string" },
      "dst-mac": { type: "string" },
      ...DEVICE_APP_OPTIONS,
    },
  });
  if (values.help) return console.log(HELP);
  if (positionals.length !== 1) throw new IxyError(`Expected one PCI address.\n${HELP}`);
  const batch = intOption("batch", values.batch, { min: 1, max: 1024 });
  const size = intOption("size", values.size, { min: MIN_FRAME_SIZE, max: 1514 });
  const seconds = limitOption("seconds", values.seconds);
  const count = limitOption("count", values.count);
  const dstMac = values["dst-mac"] === undefined ? undefined : parseMac(values["dst-mac"]);

  // 1. Take the NIC, and DMA memory for our own packet buffers.
  const dma = dmaAllocatorFor(positionals[0]);
  const dev = ixyInit(positionals[0], { dma, force: values.force });
  const pool = Mempool.create(dma, { numEntries: NUM_BUFS });
  console.log(
    `pktgen: ${dev.driverName} NIC ${dev.pciAddress}, MAC ${formatMac(dev.getMacAddress())}, ` +
      `link ${dev.getLinkSpeed()} Mbit/s, ${size}-byte frames, batch ${batch}`,
  );

  // 2. Write the template into every buffer once; per packet we then only
  //    stamp the sequence number (ixy does the same with its mempool).
  const template = new FrameTemplate({ size, dstMac, srcMac: dev.getMacAddress() });
  const bufs: PktBuf[] = new Array(NUM_BUFS);
  const n = pool.allocBatch(bufs, NUM_BUFS);
  for (let i = 0; i < n; i++) {
    bufs[i].data.set(template.bytes);
    bufs[i].size = size;
  }
  for (let i = 0; i < n; i++) pool.free(bufs[i]);

  // 3. The loop: allocate a batch, stamp, send; unsent buffers go back.
  const stop = new StopSignal();
  const printer = new StatsPrinter([dev]);
  const start = performance.now();
  let seq = 0;
  const batchBufs: PktBuf[] = new Array(batch);
  for (let iteration = 0; !stop.stopped && seq < count; iteration++) {
    const want = Math.min(batch, count - seq);
    const got = pool.allocBatch(batchBufs, want);
    for (let i = 0; i < got; i++) template.stamp(batchBufs[i].data, seq + i);
    const sent = dev.txBatch(0, batchBufs, got);
    seq += sent; // numbers of unsent frames are reused: the sequence has no gaps
    for (let i = sent; i < got; i++) pool.free(batchBufs[i]);

    // Look at the clock only every 64 batches: reading it is not free.
    if ((iteration & 63) === 0) {
      await printer.tick();
      if (performance.now() - start >= seconds * 1000) break;
    }
  }
  stop.dispose();

  // 4. Stop: wait for the ring to drain, reset the device, final numbers.
  const elapsed = (performance.now() - start) / 1000;
  releaseDevice(dev, { rebind: values.rebind });
  const [total] = printer.totals();
  console.log(
    `pktgen: sent ${total.txPackets} frames (sequence 0..${seq - 1}) in ${elapsed.toFixed(2)} s, ` +
      `${(total.txPackets / elapsed / 1e6).toFixed(3)} Mpps`,
  );
}

if (import.meta.main) runApp(main);
