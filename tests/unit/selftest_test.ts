/**
 * tools/selftest.ts and drivers/e1000/selftest.ts without a NIC: the 8254x
 * EEPROM checksum rule, the registers step against a register-level double
 * of the 82540EM (EERD and MDIC answer, the rest reads back what was
 * written) with a planted fault, PHY loopback on and off, the loopback
 * frames and the report's text and JSON shape.
 */

import assert from "node:assert/strict";
import type { RegisterSpace } from "../../src/mmio.ts";
import {
  E1000_EERD,
  E1000_EERD_BITS,
  E1000_MDIC,
  E1000_MDIC_BITS,
  E1000_RAH,
  E1000_RAL,
} from "../../drivers/e1000/constants.ts";
import {
  disablePhyLoopback,
  eepromChecksum,
  enablePhyLoopback,
  phyLoopbackOn,
  readPhy,
} from "../../drivers/e1000/selftest.ts";
import {
  e1000RegistersStep,
  formatReport,
  frameMismatch,
  loopbackFrame,
  overall,
  selftest,
  STEPS,
} from "../../tools/selftest.ts";

/** An EEPROM image as QEMU builds one: MAC 52:54:00:12:34:56, word 0x3F makes the sum 0xBABA. */
function eeprom(): number[] {
  const words = new Array(0x40).fill(0);
  words[0] = 0x5452;
  words[1] = 0x1200;
  words[2] = 0x5634;
  words[0x0a] = 0x640c; // anything: the checksum covers every word
  const sum = words.slice(0, 0x3f).reduce((a, w) => (a + w) & 0xffff, 0);
  words[0x3f] = (0xbaba - sum) & 0xffff;
  return words;
}

/**
 * A register double of the 82540EM: EERD reads `words` (13.4.4), MDIC reads
 * and writes the registers of PHY address 1 (13.4.7; another address sets
 * ERROR), everything else keeps what was written.
 */
class FakeE1000 implements RegisterSpace {
  regs = new Map<number, number>();
  phy = new Map<number, number>([[0, 0x1140]]); // auto-negotiation on, full duplex
  constructor(readonly words: number[]) {
    this.regs.set(E1000_RAL(0), (words[0] | (words[1] << 16)) >>> 0);
    this.regs.set(E1000_RAH(0), (words[2] | 0x80000000) >>> 0);
  }
  read32(offset: number): number {
    return this.regs.get(offset) ?? 0;
  }
  write32(offset: number, value: number): void {
    if (offset === E1000_EERD && (value & E1000_EERD_BITS.START) !== 0) {
      const addr = (value >>> E1000_EERD_BITS.ADDR_SHIFT) & 0xff;
      value = ((this.words[addr] << E1000_EERD_BITS.DATA_SHIFT) | E1000_EERD_BITS.DONE) >>> 0;
    } else if (offset === E1000_MDIC) {
      const B = E1000_MDIC_BITS;
      const reg = (value >>> B.REGADD_SHIFT) & 0x1f;
      if (((value >>> B.PHYADD_SHIFT) & 0x1f) !== 1) value |= B.ERROR;
      else if ((value & B.OP_READ) !== 0) value = (value & ~0xffff) | (this.phy.get(reg) ?? 0);
      else this.phy.set(reg, value & 0xffff);
      value = (value | B.READY) >>> 0;
    }
    this.regs.set(offset, value >>> 0);
  }
}

Deno.test("e1000 EEPROM checksum: words 0x00..0x3F add up to 0xBABA", () => {
  const words = eeprom();
  assert.deepEqual(eepromChecksum(words), { sum: 0xbaba, ok: true });
  words[5] ^= 0x0100;
  assert.deepEqual(eepromChecksum(words), { sum: 0xbbba, ok: false });
  assert.throws(() => eepromChecksum(words.slice(1)), /covers 64 words, got 63/);
});

Deno.test("selftest registers step: PASS on a good EEPROM, FAIL on a planted fault", async (t) => {
  await t.step("a good EEPROM passes", () => {
    const r = e1000RegistersStep(new FakeE1000(eeprom()));
    assert.equal(r.status, "PASS", r.reason);
    assert.equal(r.values.eepromSum, "0xbaba");
    assert.equal(r.values.ral0, "0x12005452"); // 52:54:00:12
  });
  await t.step("a wrong checksum word fails with the sum in the reason", () => {
    const words = eeprom();
    words[0x3f] = (words[0x3f] + 1) & 0xffff;
    const r = e1000RegistersStep(new FakeE1000(words));
    assert.equal(r.status, "FAIL");
    assert.equal(r.reason, "EEPROM words 0x00..0x3F add up to 0xbabb, not 0xbaba");
  });
  await t.step("a MAC in RAL(0) that is not the EEPROM's fails", () => {
    const dev = new FakeE1000(eeprom());
    dev.regs.set(E1000_RAL(0), 0x11111111);
    const r = e1000RegistersStep(dev);
    assert.equal(r.status, "FAIL");
    assert.match(r.reason, /RAL\(0\) 0x11111111 is not the MAC/);
  });
  await t.step("an EEPROM that never answers fails with one line, not a hang", () => {
    const dev = new FakeE1000(eeprom());
    dev.write32 = () => {}; // EERD.DONE never comes
    const r = e1000RegistersStep(dev);
    assert.equal(r.status, "FAIL");
    assert.match(r.reason, /Timed out waiting for EEPROM read of word 0 \(EERD\.DONE\)/);
  });
});

Deno.test("e1000 PHY loopback: bit 14 of PCTRL on, then PCTRL and CTRL as before", () => {
  const dev = new FakeE1000(eeprom());
  dev.regs.set(0, 0x00140240); // CTRL: SLU, ASDE and what QEMU shows
  const before = enablePhyLoopback(dev);
  assert.deepEqual(before, { phyCtrl: 0x1140, ctrl: 0x00140240 });
  assert.equal(phyLoopbackOn(dev), true);
  assert.equal(readPhy(dev, 0), 0x4140, "loopback, 1000 Mbit/s, full duplex, no autoneg");
  assert.equal(dev.read32(0) & 0x1b21, 0x1a01, "CTRL.FRCSPD, FRCDPX, SPEED 10b, FD; no ASDE");
  disablePhyLoopback(dev, before);
  assert.equal(phyLoopbackOn(dev), false);
  assert.equal(readPhy(dev, 0), 0x1140);
  assert.equal(dev.read32(0), 0x00140240);
});

Deno.test("selftest loopback frames: byte-exact match, and why not", () => {
  const mac = Uint8Array.of(2, 0, 0, 0, 0, 1);
  for (const size of [60, 1514]) {
    const f = loopbackFrame(mac, 7, size);
    assert.equal(f.length, size);
    assert.equal(frameMismatch(f, mac, 7, size), undefined);
  }
  const f = loopbackFrame(mac, 7, 128);
  f[100] ^= 1;
  assert.match(frameMismatch(f, mac, 7, 128)!, /byte 100 differs.*checksum wrong/);
  assert.match(
    frameMismatch(loopbackFrame(mac, 8, 128), mac, 7, 128)!,
    /frame 7 expected, frame 8 came/,
  );
  assert.match(frameMismatch(f.subarray(0, 64), mac, 7, 128)!, /64 bytes back, 128 sent/);
});

Deno.test("selftest report: every step in order, text and JSON", () => {
  // No such device: identify fails, every later step is skipped with the reason.
  const report = selftest("0000:00:1f.7", { frames: 1, force: false, rebind: false });
  assert.deepEqual(report.steps.map((s) => s.step), [...STEPS]);
  assert.equal(report.steps[0].status, "FAIL");
  assert.match(report.steps[0].reason, /No PCI device 0000:00:1f\.7/);
  for (const s of report.steps.slice(1)) {
    assert.equal(s.status, "SKIP");
    assert.equal(s.reason, "the device was not identified (step 1)");
  }
  assert.equal(report.result, "FAIL");
  const json = JSON.parse(JSON.stringify(report));
  assert.deepEqual(Object.keys(json).sort(), [
    "device",
    "machine",
    "result",
    "startedAt",
    "steps",
    "tool",
    "version",
  ]);
  assert.deepEqual(Object.keys(json.machine).sort(), ["arch", "deno", "hostname", "kernel"]);
  assert.deepEqual(Object.keys(json.steps[0]).sort(), ["ms", "reason", "status", "step", "values"]);
  const text = formatReport(report);
  assert.match(text, /^ixy\.ts selftest \S+ on 0000:00:1f\.7, /);
  assert.match(text, /^1\. identify +FAIL +No PCI device/m);
  assert.match(text, /^6\. teardown +SKIP +the device was not identified/m);
  assert.match(text, /^result: FAIL$/m);
  assert.equal(overall(report.steps.slice(1)), "PASS", "SKIPs alone do not fail");
});
