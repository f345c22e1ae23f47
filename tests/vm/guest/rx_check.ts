/**
 * Guest side of the receive test: takes a NIC with our driver, receives
 * `--count` test frames sent by the kernel peer, and checks each byte for byte
 * against the frame the peer built. Prints one JSON line.
 *
 *     deno run -A --no-check tests/vm/guest/rx_check.ts <pci> --count N --src-mac MAC
 *
 * @module
 */

import { parseArgs } from "node:util";
import { dmaAllocatorFor, ixyInit } from "../../../drivers/mod.ts";
import type { PktBuf } from "../../../src/mempool.ts";
import { DeviceStats } from "../../../src/stats.ts";
import { runTool } from "../../../src/error.ts";
import { FrameTemplate, parseMac, SequenceChecker } from "../../../tools/lib/udp_frame.ts";

function main(): void {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      count: { type: "string", default: "1000" },
      "src-mac": { type: "string" },
      "ready-file": { type: "string" },
      timeout: { type: "string", default: "20" },
    },
  });
  const count = Number(values.count);
  const template = new FrameTemplate({ srcMac: parseMac(values["src-mac"]!) });
  const dev = ixyInit(positionals[0], { dma: dmaAllocatorFor(positionals[0]) });
  // Tell the test script the driver is ready to receive.
  if (values["ready-file"]) Deno.writeTextFileSync(values["ready-file"], "ready\n");
  const checker = new SequenceChecker(count, template);
  const bufs: PktBuf[] = new Array(64);
  const deadline = performance.now() + Number(values.timeout) * 1000;
  while (checker.good < count && performance.now() < deadline) {
    const n = dev.rxBatch(0, bufs, 64);
    for (let i = 0; i < n; i++) {
      checker.add(bufs[i].data.subarray(0, bufs[i].size));
      bufs[i].pool.free(bufs[i]);
    }
  }
  const stats = new DeviceStats();
  dev.readStats(stats);
  dev.close();
  console.log(JSON.stringify({
    good: checker.good,
    distinct: checker.distinct,
    bad: checker.bad,
    duplicates: checker.duplicates,
    outOfRange: checker.outOfRange,
    mismatched: checker.mismatched,
    badReasons: checker.badReasons,
    rxPackets: stats.rxPackets,
    rxBytes: stats.rxBytes,
  }));
}

if (import.meta.main) runTool(main);
