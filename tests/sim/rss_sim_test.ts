/**
 * RSS end to end on the software 82599 (issue 22): the ixgbe driver with 2
 * and 4 receive queues programs RSS (drivers/ixgbe/rss.ts); port A sends
 * many UDP and TCP flows and some frames RSS does not hash; for every frame
 * port B receives, the test reads the descriptor's write-back before the
 * driver recycles it and checks three independent answers agree — the hash
 * the simulated NIC wrote back, src/rss.ts's Toeplitz of the frame's
 * headers under the key read back from RSSRK, and the simulator's own
 * Toeplitz (tools/sim82599/rss.ts) — and that the frame arrived on queue
 * RETA[hash & 127] — and that rxBatch handed the hash and type on in the
 * buffer (`PktBuf.rssHash`, `PktBuf.rssType`). Every test stops its worker
 * in `finally`.
 */

import assert from "node:assert/strict";
import { createSim82599, type Sim82599, type SimPort } from "../../tools/sim82599/mod.ts";
import { IxgbeDevice, type IxgbeOptions } from "../../drivers/ixgbe/ixgbe.ts";
import {
  IXGBE_ADV_RX_DESC,
  IXGBE_MRQC,
  IXGBE_MRQC_BITS,
  IXGBE_RETA,
  IXGBE_RSSRK,
  IXGBE_RXCSUM,
  IXGBE_RXCSUM_BITS,
  IXGBE_RXCTRL,
  IXGBE_RXCTRL_RXEN,
  IXGBE_RXDADV_RSS,
  IXGBE_RXDADV_STAT,
  IXGBE_RXDCTL,
  IXGBE_RXDCTL_ENABLE,
} from "../../drivers/ixgbe/constants.ts";
import { Mempool, type PktBuf } from "../../src/mempool.ts";
import {
  RSS_DEFAULT_KEY,
  RSS_TYPE,
  rssClassify,
  rssKeyFromRegisters,
  rssRetaFor,
  rssRetaFromRegisters,
  rssRetaRegisters,
} from "../../src/rss.ts";
import * as SimRss from "../../tools/sim82599/rss.ts";
import { onesSum } from "../../tools/lib/udp_frame.ts";

const FIELDS = { ipv4: true, ipv4Tcp: true, ipv4Udp: true };

function attach(port: SimPort, options: IxgbeOptions = {}): IxgbeDevice {
  return IxgbeDevice.attach(port.regs, port.dma, { ...options, name: port.name });
}

/** What the test sends: an Ethernet frame, IPv4 with TCP/UDP/ICMP, or not IP at all. */
interface FrameSpec {
  kind: "udp" | "tcp" | "icmp" | "udp-fragment" | "arp";
  src: string;
  dst: string;
  sp: number;
  dp: number;
  id: number;
}

/** Builds `spec` as a 128-byte frame to `dstMac`, byte by byte. */
function buildFrame(spec: FrameSpec, dstMac: Uint8Array): Uint8Array {
  const f = new Uint8Array(128);
  f.set(dstMac, 0);
  f.set([0x02, 0, 0, 0, 0, 0x0a], 6);
  if (spec.kind === "arp") {
    f.set([0x08, 0x06], 12); // EtherType ARP: no IPv4 header for RSS to parse
    for (let i = 14; i < f.length; i++) f[i] = i & 0xff;
    return f;
  }
  f.set([0x08, 0x00], 12);
  const ip = 14;
  const proto = spec.kind === "tcp" ? 6 : spec.kind === "icmp" ? 1 : 17;
  const total = f.length - ip;
  f.set([0x45, 0, total >> 8, total & 0xff, spec.id >> 8, spec.id & 0xff], ip);
  // Flags/fragment offset: MF set on the fragment (first fragment, offset 0).
  f.set([spec.kind === "udp-fragment" ? 0x20 : 0x40, 0, 64, proto], ip + 6);
  f.set(spec.src.split(".").map(Number), ip + 12);
  f.set(spec.dst.split(".").map(Number), ip + 16);
  const sum = 0xffff - onesSum(f, ip, ip + 20);
  f.set([sum >> 8, sum & 0xff], ip + 10);
  const l4 = ip + 20;
  f.set([spec.sp >> 8, spec.sp & 0xff, spec.dp >> 8, spec.dp & 0xff], l4);
  if (spec.kind === "tcp") f[l4 + 12] = 0x50; // data offset 5 words
  for (let i = l4 + 20; i < f.length; i++) f[i] = i & 0xff;
  return f;
}

/** The traffic: `udp` UDP flows and `tcp` TCP flows twice each, plus ICMP, a fragment, ARP. */
function traffic(udp: number, tcp: number): FrameSpec[] {
  const specs: FrameSpec[] = [];
  let id = 1;
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < udp; i++) {
      specs.push({
        kind: "udp",
        src: `198.18.${i % 5}.${1 + (i % 17)}`,
        dst: `198.19.0.${1 + (i % 3)}`,
        sp: 1024 + 37 * i,
        dp: 4789 + (i % 4),
        id: id++,
      });
    }
    for (let i = 0; i < tcp; i++) {
      specs.push({
        kind: "tcp",
        src: `198.18.1.${10 + i}`,
        dst: "198.19.1.1",
        sp: 40000 + 13 * i,
        dp: 80,
        id: id++,
      });
    }
  }
  for (let i = 0; i < 4; i++) {
    specs.push({
      kind: "icmp",
      src: `198.18.2.${i + 1}`,
      dst: "198.19.2.1",
      sp: 0,
      dp: 0,
      id: id++,
    });
    specs.push({
      kind: "udp-fragment",
      src: "198.18.3.1",
      dst: `198.19.3.${i + 1}`,
      sp: 53,
      dp: 53,
      id: id++,
    });
    specs.push({ kind: "arp", src: "0.0.0.0", dst: "0.0.0.0", sp: 0, dp: 0, id: 0 });
  }
  return specs;
}

/** Sends `frames` on TX queue 0 of `dev`, 32 at a time, and lets the device finish. */
function sendFrames(sim: Sim82599, dev: IxgbeDevice, pool: Mempool, frames: Uint8Array[]): void {
  const bufs: PktBuf[] = new Array(32);
  for (let next = 0; next < frames.length;) {
    const n = pool.allocBatch(bufs, Math.min(32, frames.length - next));
    assert.ok(n > 0, "TX mempool exhausted");
    for (let i = 0; i < n; i++) {
      bufs[i].data.set(frames[next + i]);
      bufs[i].size = frames[next + i].length;
    }
    const sent = dev.txBatch(0, bufs, n);
    for (let i = sent; i < n; i++) pool.free(bufs[i]);
    next += sent;
    sim.settle();
  }
}

/** A received frame with the write-back the NIC gave it. */
interface Received {
  queue: number;
  frame: Uint8Array;
  /** Write-back dword 0 (RSS type in bits 3:0). */
  pktInfo: number;
  /** Write-back dword 1 (RSS hash with RXCSUM.PCSD). */
  dword1: number;
  /** What rxBatch put into the buffer: `PktBuf.rssHash`. */
  rssHash: number;
  /** What rxBatch put into the buffer: `PktBuf.rssType`. */
  rssType: number;
}

/**
 * Receives everything waiting on every RX queue of `dev`. The write-backs are
 * read from the ring memory first (rxBatch overwrites each descriptor with a
 * fresh buffer's address as it takes the frame), from the driver's next index
 * on while DD is set; rxBatch then hands out the frames in the same order.
 */
function receiveAll(dev: IxgbeDevice): Received[] {
  const got: Received[] = [];
  const bufs: PktBuf[] = new Array(64);
  const D = IXGBE_ADV_RX_DESC;
  for (const ring of dev.describeRings().filter((r) => r.kind === "ixgbe-rx")) {
    const desc = new Uint32Array(ring.memory, 0, ring.byteLength / 4);
    const wb: { pktInfo: number; dword1: number; length: number }[] = [];
    for (let i = ring.driverIndex(); wb.length < ring.size; i = (i + 1) % ring.size) {
      const w = 4 * i;
      if (!(Atomics.load(desc, w + D.WB_STATUS_ERROR) & IXGBE_RXDADV_STAT.DD)) break;
      wb.push({
        pktInfo: desc[w + IXGBE_RXDADV_RSS.WB_PKT_INFO],
        dword1: desc[w + IXGBE_RXDADV_RSS.WB_RSS_HASH],
        length: desc[w + D.WB_LENGTH] & 0xffff,
      });
    }
    let k = 0;
    for (;;) {
      const n = dev.rxBatch(ring.queue, bufs, 64);
      if (n === 0) break;
      for (let i = 0; i < n; i++, k++) {
        const frame = bufs[i].data.slice(0, bufs[i].size);
        assert.equal(frame.length, wb[k].length, "rxBatch and the ring disagree on the order");
        got.push({
          queue: ring.queue,
          frame,
          pktInfo: wb[k].pktInfo,
          dword1: wb[k].dword1,
          rssHash: bufs[i].rssHash,
          rssType: bufs[i].rssType,
        });
        bufs[i].pool.free(bufs[i]);
      }
    }
    assert.equal(k, wb.length, `queue ${ring.queue}: every written-back descriptor received`);
  }
  return got;
}

/** The key and table the NIC holds, read back from RSSRK[0..9] and RETA[0..31]. */
function readRss(port: SimPort): { key: Uint8Array; reta: Uint8Array } {
  const rssrk = Array.from({ length: 10 }, (_, n) => port.regs.read32(IXGBE_RSSRK(n)));
  const reta = Array.from({ length: 32 }, (_, n) => port.regs.read32(IXGBE_RETA(n)));
  return { key: rssKeyFromRegisters(rssrk), reta: rssRetaFromRegisters(reta) };
}

/** The simulator's own answer for `frame`: its parser and its Toeplitz under `key`. */
function simHash(frame: Uint8Array, key: Uint8Array): { type: number; hash: number } {
  const fields = SimRss.FIELD_IPV4 | SimRss.FIELD_TCP_IPV4 | SimRss.FIELD_UDP_IPV4;
  const what = SimRss.hashInput(frame, frame.length, fields, new Uint8Array(12));
  if (what === null) return { type: 0, hash: 0 };
  return { type: what.type, hash: SimRss.toeplitz(key, what.bytes) };
}

/** Checks every received frame against src/rss.ts and the simulator; returns frames per queue. */
function checkReceived(got: Received[], rss: { key: Uint8Array; reta: Uint8Array }): number[] {
  const perQueue = new Array(16).fill(0);
  const flowQueue = new Map<string, number>();
  for (const r of got) {
    const expect = rssClassify(rss.key, rss.reta, r.frame, FIELDS);
    const sim = simHash(r.frame, rss.key);
    const what = `frame of type ${expect.type} on queue ${r.queue}`;
    assert.equal(r.dword1 >>> 0, expect.hash, `${what}: written-back hash vs src/rss.ts`);
    assert.equal(expect.hash, sim.hash, `${what}: src/rss.ts vs the simulator's Toeplitz`);
    assert.equal(r.pktInfo & IXGBE_RXDADV_RSS.RSSTYPE_MASK, expect.type, `${what}: RSS type`);
    // What the application sees: the same hash (signed in the buffer) and type.
    assert.equal(r.rssHash >>> 0, expect.hash, `${what}: PktBuf.rssHash`);
    assert.equal(r.rssHash, expect.hash | 0, `${what}: PktBuf.rssHash is the signed 32 bits`);
    assert.equal(r.rssType, expect.type, `${what}: PktBuf.rssType`);
    assert.equal(sim.type, expect.type);
    if (expect.type === RSS_TYPE.NONE) {
      assert.equal(r.queue, 0, "a frame RSS does not hash goes to queue 0");
    } else {
      assert.equal(r.queue, rss.reta[expect.hash & 0x7f], `${what}: queue = RETA[hash & 127]`);
    }
    // One flow, one queue: the same headers always land on the same queue.
    const flow = [r.frame[23], ...r.frame.subarray(26, 38)].join(","); // protocol, addresses, ports
    const before = flowQueue.get(flow);
    if (before !== undefined) assert.equal(r.queue, before, "a flow changed queues");
    flowQueue.set(flow, r.queue);
    perQueue[r.queue]++;
  }
  return perQueue;
}

for (const queues of [2, 4]) {
  Deno.test(`RSS on sim82599: ixgbe with ${queues} RX queues, hash and queue per frame`, async (t) => {
    const sim = await createSim82599({ ports: 2, wiring: "cable" });
    try {
      const [a, b] = sim.ports;
      const devA = attach(a);
      const devB = attach(b, { rxQueues: queues });
      const rss = readRss(b);

      await t.step("bring-up programmed RSSRK, RETA, RXCSUM.PCSD and MRQC", () => {
        assert.deepEqual(rss.key, RSS_DEFAULT_KEY);
        assert.equal(b.regs.read32(IXGBE_RSSRK(0)), 0xda565a6d, "key byte 0 in bits 7:0");
        assert.deepEqual(rss.reta, rssRetaFor(queues));
        const M = IXGBE_MRQC_BITS;
        assert.equal(
          b.regs.read32(IXGBE_MRQC),
          M.MRQE_RSS | M.RSS_FIELD_IPV4 | M.RSS_FIELD_IPV4_TCP | M.RSS_FIELD_IPV4_UDP,
        );
        assert.ok(b.regs.read32(IXGBE_RXCSUM) & IXGBE_RXCSUM_BITS.PCSD, "RXCSUM.PCSD");
        assert.equal(a.regs.read32(IXGBE_MRQC), 0, "one RX queue: no RSS");
      });

      await t.step("every frame: written-back hash = src/rss.ts = simulator, queue = RETA", () => {
        const specs = traffic(80, 16);
        const pool = Mempool.create(a.dma, { numEntries: 1024 });
        sendFrames(sim, devA, pool, specs.map((s) => buildFrame(s, b.mac)));
        const got = receiveAll(devB);
        assert.equal(got.length, specs.length, "every frame arrived");
        const perQueue = checkReceived(got, rss);
        for (let q = 0; q < queues; q++) assert.ok(perQueue[q] > 0, `queue ${q} got no traffic`);
        const kinds = new Set(got.map((r) => r.pktInfo & 0xf));
        assert.deepEqual(
          [...kinds].sort(),
          [RSS_TYPE.NONE, RSS_TYPE.TCP_IPV4, RSS_TYPE.IPV4, RSS_TYPE.UDP_IPV4].sort(),
        );
        assert.deepEqual(sim.violations(), []);
      });

      await t.step("without RXCSUM.PCSD the NIC writes back the IP id, not the hash", () => {
        // 8.2.3.7.5 asks for receive off while RXCSUM changes.
        const rxctrl = b.regs.read32(IXGBE_RXCTRL);
        b.regs.write32(IXGBE_RXCTRL, rxctrl & ~IXGBE_RXCTRL_RXEN);
        b.regs.write32(
          IXGBE_RXCSUM,
          b.regs.read32(IXGBE_RXCSUM) & ~IXGBE_RXCSUM_BITS.PCSD,
        );
        b.regs.write32(IXGBE_RXCTRL, rxctrl);
        const specs = traffic(8, 0).filter((s) => s.kind === "udp");
        const pool = Mempool.create(a.dma, { numEntries: 64 });
        sendFrames(sim, devA, pool, specs.map((s) => buildFrame(s, b.mac)));
        const got = receiveAll(devB);
        assert.equal(got.length, specs.length);
        for (const r of got) {
          const expect = rssClassify(rss.key, rss.reta, r.frame, FIELDS);
          assert.equal(r.queue, expect.queue, "RSS still picks the queue");
          assert.equal(r.pktInfo & 0xf, RSS_TYPE.NONE, "no RSS type without PCSD");
          assert.equal(r.dword1, (r.frame[18] << 8) | r.frame[19], "dword 1 = IP id");
          assert.notEqual(r.dword1, expect.hash);
          assert.equal(r.rssType, RSS_TYPE.NONE, "PktBuf.rssType without PCSD");
          assert.equal(r.rssHash, 0, "PktBuf.rssHash is 0, not the IP id, without PCSD");
        }
        b.regs.write32(IXGBE_RXCTRL, rxctrl & ~IXGBE_RXCTRL_RXEN);
        b.regs.write32(IXGBE_RXCSUM, b.regs.read32(IXGBE_RXCSUM) | IXGBE_RXCSUM_BITS.PCSD);
        b.regs.write32(IXGBE_RXCTRL, rxctrl);
        assert.deepEqual(sim.violations(), []);
      });

      await t.step("disabling a queue RETA still names is a violation (4.6.7.1)", () => {
        const last = queues - 1;
        // Right: first take the queue out of the table, then disable it.
        rssRetaRegisters(rssRetaFor(last)).forEach((w, n) => b.regs.write32(IXGBE_RETA(n), w));
        b.regs.write32(
          IXGBE_RXDCTL(last),
          b.regs.read32(IXGBE_RXDCTL(last)) & ~IXGBE_RXDCTL_ENABLE,
        );
        assert.deepEqual(sim.violations(), []);
        // Wrong: queue 0 is still in the table.
        b.regs.write32(IXGBE_RXDCTL(0), b.regs.read32(IXGBE_RXDCTL(0)) & ~IXGBE_RXDCTL_ENABLE);
        const v = sim.violations();
        assert.equal(v.length, 1, JSON.stringify(v));
        assert.equal(v[0].register, "RXDCTL(0)");
        assert.equal(v[0].section, "4.6.7.1");
      });
    } finally {
      sim.stop();
    }
  });
}

Deno.test("RSS on sim82599: MRQC modes the model does not implement are reported", async () => {
  const sim = await createSim82599({ ports: 1, wiring: "loopback" });
  try {
    const [p] = sim.ports;
    const dev = attach(p);
    assert.deepEqual(sim.violations(), []);
    p.regs.write32(IXGBE_MRQC, 0x8); // MRQE 1000b: virtualisation, 64 pools
    p.regs.write32(IXGBE_MRQC, IXGBE_MRQC_BITS.MRQE_RSS | 0x00100000); // + IPv6 hash type
    const v = sim.violations();
    assert.equal(v.length, 2, JSON.stringify(v));
    assert.ok(v.every((x) => x.register === "MRQC" && x.section === "8.2.3.7.12"));
    dev.close();
  } finally {
    sim.stop();
  }
});
