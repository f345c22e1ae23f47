import assert from "node:assert/strict";
import {
  checkFrame,
  FRAME,
  FrameTemplate,
  onesSum,
  SequenceChecker,
} from "../../tools/lib/udp_frame.ts";

/** UDP checksum computed from scratch, independently of the template code. */
function udpChecksum(f: Uint8Array): number {
  const len = f.length - FRAME.UDP;
  const pseudo = new Uint8Array(12 + len);
  pseudo.set(f.subarray(26, 34), 0);
  pseudo[9] = 17;
  pseudo[10] = len >> 8;
  pseudo[11] = len & 0xff;
  pseudo.set(f.subarray(FRAME.UDP), 12);
  pseudo[12 + 6] = pseudo[12 + 7] = 0;
  const c = ~onesSum(pseudo, 0, pseudo.length) & 0xffff;
  return c === 0 ? 0xffff : c;
}

Deno.test("test frames", async (t) => {
  const tpl = new FrameTemplate({ size: 60 });
  await t.step("layout: Ethernet, IPv4 from 198.18.0.0/15, UDP", () => {
    const f = tpl.bytes;
    assert.equal(f.length, 60);
    assert.deepEqual([...f.subarray(0, 6)], [255, 255, 255, 255, 255, 255]);
    assert.deepEqual([...f.subarray(12, 14)], [0x08, 0x00]);
    assert.deepEqual([...f.subarray(26, 30)], [198, 18, 0, 1]);
    assert.deepEqual([...f.subarray(30, 34)], [198, 18, 0, 2]);
    assert.equal(onesSum(f, 14, 34), 0xffff, "IPv4 header checksum verifies");
  });
  await t.step("stamping keeps the UDP checksum right (incremental = full)", () => {
    const f = tpl.bytes.slice();
    for (const seq of [0, 1, 0xffff, 0x10000, 0x7fffffff, 0xfffffffe, 123456789]) {
      tpl.stamp(f, seq);
      assert.equal((f[40] << 8) | f[41], udpChecksum(f), `seq ${seq}`);
      assert.deepEqual(checkFrame(f), { ok: true, seq });
    }
  });
  await t.step("flows: source port 42 + seq mod flows, UDP checksum still right", () => {
    const many = new FrameTemplate({ size: 60, flows: 64 });
    const f = many.bytes.slice();
    for (const seq of [0, 1, 63, 64, 65, 1000, 0xfffffffe]) {
      many.stamp(f, seq);
      assert.equal((f[34] << 8) | f[35], 42 + (seq % 64), `seq ${seq}: source port`);
      assert.equal((f[40] << 8) | f[41], udpChecksum(f), `seq ${seq}`);
      assert.deepEqual(checkFrame(f), { ok: true, seq });
    }
    assert.throws(() => new FrameTemplate({ flows: 0 }), /flows/);
    assert.throws(() => new FrameTemplate({ flows: 1025 }), /flows/);
  });
  await t.step("detects corruption anywhere that matters", () => {
    for (const i of [15, 30, 36, 44, 48, 55]) {
      const f = tpl.bytes.slice();
      tpl.stamp(f, 7);
      f[i] ^= 0x10;
      assert.equal(checkFrame(f).ok, false, `byte ${i}`);
    }
  });
  await t.step("sequence checker counts duplicates, range and mismatches", () => {
    const c = new SequenceChecker(4, tpl);
    const f = tpl.bytes.slice();
    for (const seq of [0, 1, 1, 3, 9]) {
      tpl.stamp(f, seq);
      c.add(f);
    }
    const other = new FrameTemplate({ srcIp: "198.19.0.9" });
    const g = other.bytes.slice();
    other.stamp(g, 2);
    c.add(g);
    c.add(new Uint8Array(60));
    assert.equal(c.good, 6);
    assert.equal(c.bad, 1);
    assert.equal(c.duplicates, 1);
    assert.equal(c.outOfRange, 1);
    assert.equal(c.mismatched, 1);
    assert.equal(c.distinct, 4);
  });
});
