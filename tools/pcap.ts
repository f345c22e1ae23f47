/**
 * pcap: writes every received frame to a libpcap file that tcpdump, tshark
 * and Wireshark read — ixy's `ixy-pcap`.
 *
 *     deno task pcap 0000:00:10.0 capture.pcap -n 100
 *
 * File format (libpcap, "LINKTYPE_ETHERNET"): a 24-byte global header
 * (magic 0xa1b2c3d4, version 2.4, snap length, link type 1), then per frame
 * a 16-byte record header (seconds, microseconds, captured length, original
 * length) and the frame bytes. All fields little-endian, as the magic tells
 * readers.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { dmaAllocatorFor, ixyInit } from "../drivers/mod.ts";
import type { PktBuf } from "../src/mempool.ts";
import { IxyError } from "../src/error.ts";
import { DEVICE_APP_OPTIONS, limitOption } from "./lib/cli.ts";
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

const HELP = `Usage: deno task pcap <pci-address> <file> [options]

Captures received frames into a libpcap file (read it with tshark -r FILE).
Stops after -n frames, after --seconds, or on Ctrl-C; everything received is
written before exit. Needs root and hugepages (see README).

Options:
  -n N          stop after N frames
  --seconds N   stop after N seconds
  --rebind      give the NIC back to its kernel driver at the end
  --force       take the NIC even if a kernel interface on it is up
${INTERRUPT_HELP}
  -h, --help    show this help`;

const SNAPLEN = 65535;
const LINKTYPE_ETHERNET = 1;
/** Frames are collected in memory and written in chunks of this size. */
const CHUNK = 1 << 20;

/** Buffers pcap records and writes them to a file in large chunks. */
class PcapWriter {
  #file: Deno.FsFile;
  #buf = new Uint8Array(CHUNK);
  #view = new DataView(this.#buf.buffer);
  #used = 0;
  #path: string;
  /** Frames written so far. */
  frames = 0;

  /** Creates `path` and writes the global header. */
  constructor(path: string) {
    this.#path = path;
    try {
      this.#file = Deno.openSync(path, { write: true, create: true, truncate: true });
    } catch (e) {
      throw new IxyError(`Cannot create ${path}: ${(e as Error).message}. Check the directory.`);
    }
    const v = this.#view;
    v.setUint32(0, 0xa1b2c3d4, true); // magic: microsecond timestamps
    v.setUint16(4, 2, true); // version 2.4
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true); // time zone offset
    v.setUint32(12, 0, true); // timestamp accuracy
    v.setUint32(16, SNAPLEN, true);
    v.setUint32(20, LINKTYPE_ETHERNET, true);
    this.#used = 24;
  }

  /** Appends one frame with a timestamp in microseconds since 1970. */
  add(frame: Uint8Array, timeMicros: number): void {
    if (this.#used + 16 + frame.length > CHUNK) this.flush();
    const v = this.#view;
    const at = this.#used;
    v.setUint32(at, Math.floor(timeMicros / 1e6), true);
    v.setUint32(at + 4, Math.floor(timeMicros % 1e6), true);
    v.setUint32(at + 8, frame.length, true); // captured
    v.setUint32(at + 12, frame.length, true); // on the wire (without CRC)
    this.#buf.set(frame, at + 16);
    this.#used = at + 16 + frame.length;
    this.frames++;
  }

  /** Writes what is buffered. */
  flush(): void {
    let off = 0;
    try {
      while (off < this.#used) off += this.#file.writeSync(this.#buf.subarray(off, this.#used));
    } catch (e) {
      throw new IxyError(
        `Cannot write to ${this.#path}: ${(e as Error).message}. Check the disk (df -h).`,
      );
    }
    this.#used = 0;
  }

  /** Flushes and closes the file. */
  close(): void {
    this.flush();
    this.#file.close();
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      n: { type: "string", short: "n" },
      ...DEVICE_APP_OPTIONS,
      ...INTERRUPT_OPTIONS,
    },
  });
  if (values.help) return console.log(HELP);
  if (positionals.length !== 2) throw new IxyError(`Expected a PCI address and a file.\n${HELP}`);
  const limit = limitOption("n", values.n);
  const seconds = limitOption("seconds", values.seconds);

  // The output file first: a file we cannot create must not cost a bring-up.
  const irqOptions = interruptInitOptions(values);
  const dma = dmaAllocatorFor(positionals[0]);
  const writer = new PcapWriter(positionals[1]);
  const dev = ixyInit(positionals[0], { dma, force: values.force, ...irqOptions });
  reportInterrupts(dev, values.interrupts);
  const irq = new RxInterruptPolicy(dev, 0);
  console.log(`pcap: capturing on ${dev.pciAddress} into ${positionals[1]}`);
  const stop = new StopSignal();
  const printer = new StatsPrinter([dev], () => `[pcap] ${writer.frames} frames written`);
  const bufs: PktBuf[] = new Array(32);
  const start = performance.now();
  for (let iteration = 0; !stop.stopped && writer.frames < limit; iteration++) {
    const want = Math.min(32, limit - writer.frames);
    const n = dev.rxBatch(0, bufs, want);
    if (n > 0) {
      // One timestamp per batch: the frames of a batch arrived together.
      const micros = (performance.timeOrigin + performance.now()) * 1000;
      for (let i = 0; i < n; i++) {
        writer.add(bufs[i].data.subarray(0, bufs[i].size), micros);
        bufs[i].pool.free(bufs[i]);
      }
    }
    // Idle with interrupts: sleep (src/interrupts.ts), then the clock checks below.
    const slept = irq.onPoll(n);
    if (slept) await irq.sleep();
    if (slept || (iteration & 255) === 0) {
      await printer.tick();
      if (performance.now() - start >= seconds * 1000) break;
    }
  }
  irq.stop();
  stop.dispose();
  writer.close();
  console.log(`pcap: wrote ${writer.frames} frames to ${positionals[1]}`);
  releaseDevice(dev, { rebind: values.rebind });
}

if (import.meta.main) runApp(main);
