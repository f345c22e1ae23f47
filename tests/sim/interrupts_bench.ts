/**
 * Benchmark (not a test): the receive path under load, pure polling against
 * ixy's interrupt policy (src/interrupts.ts) on the software 82599. Under
 * load the policy only resets a counter per batch, so both should move the
 * same number of frames per second.
 *
 *     deno bench -A tests/sim/interrupts_bench.ts
 *
 * One iteration: port A sends 32 frames, port B receives them (receive loop
 * until all 32 arrived; with the policy, every rxBatch result goes through
 * `onPoll`, which never asks to sleep while frames flow).
 */

import { createSim82599 } from "../../tools/sim82599/mod.ts";
import { IxgbeDevice } from "../../drivers/ixgbe/ixgbe.ts";
import { Mempool, type PktBuf } from "../../src/mempool.ts";
import { RxInterruptPolicy } from "../../src/interrupts.ts";
import { FrameTemplate } from "../../tools/lib/udp_frame.ts";

const sim = await createSim82599({ ports: 2, wiring: "cable" });
globalThis.addEventListener("unload", () => sim.stop());
const [pa, pb] = sim.ports;
const a = IxgbeDevice.attach(pa.regs, pa.dma, { name: pa.name });
const b = IxgbeDevice.attach(pb.regs, pb.dma, {
  name: pb.name,
  interrupts: true,
  interruptVectors: pb.msix,
});
const pool = Mempool.create(pa.dma, { numEntries: 2048 });
const template = new FrameTemplate({ srcMac: pa.mac, dstMac: pb.mac });
const tx: PktBuf[] = new Array(32);
const rx: PktBuf[] = new Array(32);
const policy = new RxInterruptPolicy(b, 0);

/** Sends 32 frames from A and receives them on B; `poll` is called with each rxBatch result. */
async function round(withPolicy: boolean): Promise<void> {
  const n = pool.allocBatch(tx, 32);
  for (let i = 0; i < n; i++) {
    tx[i].data.set(template.bytes);
    tx[i].size = template.bytes.length;
  }
  const sent = a.txBatch(0, tx, n);
  for (let i = sent; i < n; i++) pool.free(tx[i]);
  for (let got = 0; got < sent;) {
    const m = b.rxBatch(0, rx, 32);
    for (let i = 0; i < m; i++) rx[i].pool.free(rx[i]);
    got += m;
    if (withPolicy && policy.onPoll(m)) await policy.sleep();
  }
}

Deno.bench("receive 32 frames: pure polling", { group: "rx", baseline: true }, async () => {
  await round(false);
});

Deno.bench("receive 32 frames: interrupt policy", { group: "rx" }, async () => {
  await round(true);
});
