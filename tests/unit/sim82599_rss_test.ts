/**
 * The software 82599's own RSS (tools/sim82599/rss.ts), checked on its own:
 * the simulator is the referee for the driver and src/rss.ts, so it is
 * tested against the published vectors, not against src/rss.ts.
 */

import assert from "node:assert/strict";
import {
  FIELD_IPV4,
  FIELD_TCP_IPV4,
  FIELD_UDP_IPV4,
  hashInput,
  MRQC,
  RETA0,
  RSS_TYPE,
  RSSRK0,
  RssUnit,
  RXCSUM,
  RXCSUM_PCSD,
  type Steering,
  toeplitz,
} from "../../tools/sim82599/rss.ts";
import { BAR_SIZE } from "../../tools/sim82599/registers.ts";

/**
 * The standard key of Microsoft's "Verifying the RSS Hash Calculation"
 * (learn.microsoft.com/windows-hardware/drivers/network/verifying-the-rss-hash-calculation),
 * printed again as 82599 datasheet 7.1.2.8.3 "RSS Verification Suite".
 */
const KEY = Uint8Array.from(
  ("6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa")
    .match(/../g)!.map((h) => parseInt(h, 16)),
);

/** The IPv4 rows of that table, written source -> destination. */
const VECTORS = [
  ["66.9.149.187", 2794, "161.142.100.80", 1766, 0x323e8fc2, 0x51ccc178],
  ["199.92.111.2", 14230, "65.69.140.83", 4739, 0xd718262a, 0xc626b0ea],
  ["24.19.198.95", 12898, "12.22.207.184", 38024, 0xd2d0a5de, 0x5c2b394a],
  ["38.27.205.30", 48228, "209.142.163.6", 2217, 0x82989176, 0xafc7327f],
  ["153.39.163.191", 44251, "202.188.127.2", 1303, 0x5d1809c5, 0x10e828a2],
].map(([src, sp, dst, dp, ip, tcp]) => ({
  src: src as string,
  sp: sp as number,
  dst: dst as string,
  dp: dp as number,
  ip: ip as number,
  tcp: tcp as number,
}));

const hex = (n: number) => "0x" + (n >>> 0).toString(16).padStart(8, "0");
const ip = (a: string) => a.split(".").map(Number);

/** An Ethernet + IPv4 + L4 frame, byte by byte. */
function frame(
  v: { src: string; dst: string; sp: number; dp: number },
  opts: { proto?: number; ethertype?: number; fragment?: number; vlan?: boolean; id?: number } = {},
): Uint8Array {
  const f = new Uint8Array(80);
  f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]);
  let l3 = 14;
  if (opts.vlan) {
    f.set([0x81, 0x00, 0x00, 0x07], 12);
    l3 = 18;
  }
  const et = opts.ethertype ?? 0x0800;
  f[l3 - 2] = et >> 8;
  f[l3 - 1] = et & 0xff;
  f[l3] = 0x45;
  f[l3 + 4] = (opts.id ?? 0) >> 8;
  f[l3 + 5] = (opts.id ?? 0) & 0xff;
  f[l3 + 6] = (opts.fragment ?? 0) >> 8;
  f[l3 + 7] = (opts.fragment ?? 0) & 0xff;
  f[l3 + 8] = 64;
  f[l3 + 9] = opts.proto ?? 6;
  f.set(ip(v.src), l3 + 12);
  f.set(ip(v.dst), l3 + 16);
  f.set([v.sp >> 8, v.sp & 0xff, v.dp >> 8, v.dp & 0xff], l3 + 20);
  return f;
}

Deno.test("sim82599 Toeplitz: Microsoft's verification vectors", async (t) => {
  await t.step("IPv4: source, destination", () => {
    for (const v of VECTORS) {
      assert.equal(hex(toeplitz(KEY, Uint8Array.from([...ip(v.src), ...ip(v.dst)]))), hex(v.ip));
    }
  });
  await t.step("IPv4/TCP: source, destination, source port, destination port", () => {
    for (const v of VECTORS) {
      const input = Uint8Array.from([
        ...ip(v.src),
        ...ip(v.dst),
        v.sp >> 8,
        v.sp & 0xff,
        v.dp >> 8,
        v.dp & 0xff,
      ]);
      assert.equal(hex(toeplitz(KEY, input)), hex(v.tcp));
    }
  });
  await t.step("one input bit n gives key bits n..n+31", () => {
    const bits = [...KEY].map((b) => b.toString(2).padStart(8, "0")).join("");
    for (const n of [0, 1, 7, 8, 9, 31, 95, 36 * 8 - 1]) {
      const input = new Uint8Array(36);
      input[n >> 3] = 0x80 >> (n & 7);
      assert.equal(hex(toeplitz(KEY, input)), hex(parseInt(bits.slice(n, n + 32), 2)), `bit ${n}`);
    }
  });
});

Deno.test("sim82599 RSS parser: hash types, priority, fragments, non-IP", () => {
  const all = FIELD_IPV4 | FIELD_TCP_IPV4 | FIELD_UDP_IPV4;
  const out = new Uint8Array(12);
  const v = VECTORS[0];
  assert.equal(hashInput(frame(v), 80, all, out)?.type, RSS_TYPE.TCP_IPV4);
  assert.equal(hashInput(frame(v, { proto: 17 }), 80, all, out)?.type, RSS_TYPE.UDP_IPV4);
  assert.equal(hashInput(frame(v, { proto: 17 }), 80, FIELD_IPV4, out)?.type, RSS_TYPE.IPV4);
  assert.equal(hashInput(frame(v, { proto: 1 }), 80, all, out)?.type, RSS_TYPE.IPV4);
  assert.equal(hashInput(frame(v, { fragment: 0x2000 }), 80, all, out)?.type, RSS_TYPE.IPV4);
  assert.equal(hashInput(frame(v, { fragment: 0x0010 }), 80, all, out)?.type, RSS_TYPE.IPV4);
  assert.equal(hashInput(frame(v, { fragment: 0x4000 }), 80, all, out)?.type, RSS_TYPE.TCP_IPV4);
  assert.equal(hashInput(frame(v, { vlan: true }), 80, all, out)?.type, RSS_TYPE.TCP_IPV4);
  assert.equal(hashInput(frame(v, { ethertype: 0x0806 }), 80, all, out), null);
  assert.equal(hashInput(frame(v, { ethertype: 0x86dd }), 80, all, out), null);
  assert.equal(hashInput(frame(v), 80, FIELD_UDP_IPV4, out), null, "TCP, only UDP enabled");
  assert.equal(hashInput(frame(v), 14 + 20 + 19, all, out)?.type, RSS_TYPE.IPV4, "cut TCP header");
});

Deno.test("sim82599 RSS unit: reads MRQC, RSSRK, RETA, RXCSUM from the registers", () => {
  const regs = new Uint32Array(BAR_SIZE / 4);
  for (let n = 0; n < 10; n++) {
    const b = KEY.subarray(4 * n, 4 * n + 4);
    regs[(RSSRK0 >> 2) + n] = (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
  }
  assert.equal(hex(regs[RSSRK0 >> 2]), "0xda565a6d");
  // RETA: entry i = queue (i * 5) % 16, 4 entries a register, entry 4n in bits 7:0.
  for (let n = 0; n < 32; n++) {
    let w = 0;
    for (let i = 0; i < 4; i++) w |= (((4 * n + i) * 5) % 16) << (8 * i);
    regs[(RETA0 >> 2) + n] = w >>> 0;
  }
  const unit = new RssUnit(regs);
  const s: Steering = { queue: -1, wb0: -1, wb1: -1 };
  const v = VECTORS[1];
  const tcp = frame(v, { id: 0x1234 });

  // MRQC = 0: no RSS. Everything to queue 0; PCSD clear: dword 1 = IP id.
  assert.deepEqual(unit.steer(tcp, 80, s), { queue: 0, wb0: 0, wb1: 0x1234 });
  regs[MRQC >> 2] = 0x1 | FIELD_IPV4 | FIELD_TCP_IPV4 | FIELD_UDP_IPV4;
  // RSS on, PCSD clear: the queue follows the hash, the hash is not written back.
  const q = ((v.tcp & 0x7f) * 5) % 16;
  assert.deepEqual(unit.steer(tcp, 80, s), { queue: q, wb0: 0, wb1: 0x1234 });
  regs[RXCSUM >> 2] = RXCSUM_PCSD;
  assert.deepEqual(unit.steer(tcp, 80, s), { queue: q, wb0: RSS_TYPE.TCP_IPV4, wb1: v.tcp });
  // UDP hashes the same 12 bytes as TCP.
  assert.deepEqual(unit.steer(frame(v, { proto: 17 }), 80, s), {
    queue: q,
    wb0: RSS_TYPE.UDP_IPV4,
    wb1: v.tcp,
  });
  // Not hashed: queue 0, type 0, hash 0, whatever RETA[0] says.
  regs[RETA0 >> 2] = 0x0a0a0a0a;
  assert.deepEqual(unit.steer(frame(v, { ethertype: 0x0806 }), 80, s), {
    queue: 0,
    wb0: 0,
    wb1: 0,
  });
  assert.equal(unit.retaNames(0x0a), true);
  assert.equal(unit.retaNames(0x0e) || unit.retaNames(0x0f), true);
});
