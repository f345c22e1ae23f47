/**
 * Guest side of the receive test: takes a NIC with our driver, receives
 * `--count` test frames sent by the kernel peer, and checks each byte for byte
 * against the frame the peer built. Prints one JSON line.
 *
 *     deno run -A --no-check tests/vm/guest/rx_check.ts <pci> --count N --src-mac MAC
 *       [--rx-ring-size N]   (descriptors of the receive ring, for the drivers that take it)
 *       [--sent-file F]      (stop once F exists and nothing arrived for a second)
 *
 * @module
 */

import { parseArgs } from "node:util";
import { dmaAllocatorFor, ixyInit } from "../../../drivers/mod.ts";
import type { PktBuf } from "../../../src/mempool.ts";
import { DeviceStats } from "../../../src/stats.ts";
import { runTool } from "../../../src/error.ts";
import { FrameTemplate, parseMac, SequenceChecker } from "../../../tools/lib/udp_frame.ts";
import { StopWhenIdle } from "./stop_when_idle.ts";

function main(): void {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      count: { type: "string", default: "1000" },
      "src-mac": { type: "string" },
      "ready-file": { type: "string" },
      timeout: { type: "string", default: "20" },
      "rx-ring-size": { type: "string" },
      "sent-file": { type: "string" },
    },
  });
  const count = Number(values.count);
  const template = new FrameTemplate({ srcMac: parseMac(values["src-mac"]!) });
  // rxRingSize (DeviceOptions): ixgbe, e1000 and igb take it; virtio ignores it.
  const options = {
    dma: dmaAllocatorFor(positionals[0]),
    rxRingSize: values["rx-ring-size"] === undefined ? undefined : Number(values["rx-ring-size"]),
  };
  const dev = ixyInit(positionals[0], options);
  // Tell the test script the driver is ready to receive.
  if (values["ready-file"]) Deno.writeTextFileSync(values["ready-file"], "ready\n");
  const checker = new SequenceChecker(count, template);
  const bufs: PktBuf[] = new Array(64);
  const deadline = performance.now() + Number(values.timeout) * 1000;
  // With --sent-file: stop once the peer is done and the ring idle (stop_when_idle.ts).
  const idle = new StopWhenIdle(values["sent-file"]);
  while (checker.good < count && performance.now() < deadline) {
    const n = dev.rxBatch(0, bufs, 64);
    for (let i = 0; i < n; i++) {
      checker.add(bufs[i].data.subarray(0, bufs[i].size));
      bufs[i].pool.free(bufs[i]);
    }
    if (idle.done(n)) break;
  }
  const stats = new DeviceStats();
  dev.readStats(stats);
  dev.close();
  console.log(JSON.stringify({
    ...checker.counts(),
    rxPackets: stats.rxPackets,
    rxBytes: stats.rxBytes,
    rxMissed: stats.rxMissed,
    rxErrors: stats.rxErrors,
    deviceErrors: stats.deviceErrors,
  }));
}

if (import.meta.main) runTool(main);
