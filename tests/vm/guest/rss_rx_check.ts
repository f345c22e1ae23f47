/**
 * Guest side of the RSS receive test (tests/vm/igb_rss_test.ts): takes a NIC
 * with our driver and `--queues` receive queues (so the driver programs RSS),
 * polls every queue, and checks each frame the kernel peer sent over
 * `--flows` UDP flows:
 *
 * - byte for byte the frame the peer built (tools/lib/udp_frame.ts), no
 *   duplicates;
 * - the hash the NIC wrote back and rxBatch put into the buffer
 *   (`PktBuf.rssHash`, `rssType`) equals src/rss.ts's Toeplitz of the frame's
 *   addresses and ports under RSS_DEFAULT_KEY, type UdpIPv4;
 * - it arrived on queue RETA[hash & 127] of the table the driver programs
 *   (`rssRetaFor(queues)`, round robin).
 *
 * Prints one JSON line: the sequence checker's counts, frames per queue, and
 * the first few RSS mismatches.
 *
 *     deno run -A --no-check tests/vm/guest/rss_rx_check.ts <pci> --count N --src-mac MAC
 *       --flows F --queues Q [--rx-ring-size N] [--ready-file F] [--sent-file F] [--timeout S]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { dmaAllocatorFor, ixyInit } from "../../../drivers/mod.ts";
import type { PktBuf } from "../../../src/mempool.ts";
import { DeviceStats } from "../../../src/stats.ts";
import { runTool } from "../../../src/error.ts";
import { RSS_DEFAULT_KEY, rssClassify, rssRetaFor } from "../../../src/rss.ts";
import { FrameTemplate, parseMac, SequenceChecker } from "../../../tools/lib/udp_frame.ts";
import { StopWhenIdle } from "./stop_when_idle.ts";

/** The hash types both drivers enable (drivers/ixgbe/rss.ts, drivers/igb/rss.ts). */
const FIELDS = { ipv4: true, ipv4Tcp: true, ipv4Udp: true };

function main(): void {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      count: { type: "string", default: "1000" },
      "src-mac": { type: "string" },
      flows: { type: "string", default: "64" },
      queues: { type: "string", default: "2" },
      "ready-file": { type: "string" },
      "sent-file": { type: "string" },
      timeout: { type: "string", default: "60" },
      "rx-ring-size": { type: "string" },
    },
  });
  const count = Number(values.count);
  const queues = Number(values.queues);
  const template = new FrameTemplate({
    srcMac: parseMac(values["src-mac"]!),
    flows: Number(values.flows),
  });
  // rxRingSize (DeviceOptions): ixgbe, e1000 and igb take it; virtio ignores it.
  const options = {
    dma: dmaAllocatorFor(positionals[0]),
    rxQueues: queues,
    rxRingSize: values["rx-ring-size"] === undefined ? undefined : Number(values["rx-ring-size"]),
  };
  const dev = ixyInit(positionals[0], options);
  if (values["ready-file"]) Deno.writeTextFileSync(values["ready-file"], "ready\n");
  const reta = rssRetaFor(queues);
  const checker = new SequenceChecker(count, template);
  const perQueue = new Array<number>(queues).fill(0);
  const rss = { checked: 0, hashMismatch: 0, typeMismatch: 0, queueMismatch: 0 };
  const samples: string[] = [];
  const bufs: PktBuf[] = new Array(64);
  const deadline = performance.now() + Number(values.timeout) * 1000;
  // With --sent-file: stop once the peer is done and every queue idle (stop_when_idle.ts).
  const idle = new StopWhenIdle(values["sent-file"]);
  while (checker.good < count && performance.now() < deadline) {
    let got = 0;
    for (let q = 0; q < queues; q++) {
      const n = dev.rxBatch(q, bufs, 64);
      got += n;
      perQueue[q] += n;
      for (let i = 0; i < n; i++) {
        const buf = bufs[i];
        const frame = buf.data.subarray(0, buf.size);
        checker.add(frame);
        const expect = rssClassify(RSS_DEFAULT_KEY, reta, frame, FIELDS);
        rss.checked++;
        const hash = buf.rssHash >>> 0;
        const wrong: string[] = [];
        if (hash !== expect.hash) {
          rss.hashMismatch++;
          wrong.push(`hash ${hash.toString(16)} != ${expect.hash.toString(16)}`);
        }
        if (buf.rssType !== expect.type) {
          rss.typeMismatch++;
          wrong.push(`type ${buf.rssType} != ${expect.type}`);
        }
        if (q !== expect.queue) {
          rss.queueMismatch++;
          wrong.push(`queue ${q} != ${expect.queue}`);
        }
        if (wrong.length > 0 && samples.length < 5) samples.push(wrong.join(", "));
        buf.pool.free(buf);
      }
    }
    if (idle.done(got)) break;
  }
  const stats = new DeviceStats();
  dev.readStats(stats);
  dev.close();
  console.log(JSON.stringify({
    ...checker.counts(),
    perQueue,
    rss,
    rssSamples: samples,
    rxPackets: stats.rxPackets,
    rxMissed: stats.rxMissed,
    rxErrors: stats.rxErrors,
  }));
}

if (import.meta.main) runTool(main);
