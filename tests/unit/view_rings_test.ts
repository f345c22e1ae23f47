/**
 * tools/view/rings.ts decodes an 82599 receive write-back (7.1.6.2) with
 * the datasheet's layout: dword 0 holds the packet info (RSS Type in bits
 * 3:0, Packet Type in bits 16:4, header info above), dword 1 the RSS hash
 * (or, without RXCSUM.PCSD, IP identification and fragment checksum) — the
 * order of Linux's union ixgbe_adv_rx_desc (lower.lo_dword.hs_rss.pkt_info,
 * then lower.hi_dword.rss).
 */

import assert from "node:assert/strict";
import { RingReader } from "../../tools/view/rings.ts";

Deno.test("view: an ixgbe RX write-back shows the RSS type from dword 0, the hash from dword 1", () => {
  const size = 8;
  const buffer = new SharedArrayBuffer(size * 16);
  const words = new Uint32Array(buffer);
  // Descriptor 3 written back: UdpIPv4 (RSS type 7), hash 0x51ccc178, DD | EOP, 60 bytes.
  words.set([0x00000007, 0x51ccc178, 0x3, 60], 3 * 4);
  const reader = new RingReader({
    port: 0,
    kind: "ixgbe-rx",
    queue: 0,
    size,
    physAddr: 0x1_0000_0000,
    memory: { kind: "shared", buffer, offset: 0, length: buffer.byteLength },
  });
  const fields = reader.decode(3).fields;
  const byBits = new Map(fields.map((f) => [f.bits, f]));
  const dword0 = byBits.get("31:0");
  const dword1 = byBits.get("63:32");
  assert.ok(dword0 && dword1, JSON.stringify(fields));
  assert.match(dword0.name, /Packet Info|RSS Type/);
  assert.equal(dword0.value, "0x00000007");
  assert.match(dword0.note ?? "", /RSS Type 0x7/);
  assert.match(dword1.name, /RSS Hash/);
  assert.equal(dword1.value, "0x51ccc178");
});
