import assert from "node:assert/strict";
import { parsePciAddress, PciDevice } from "../../src/pci.ts";
import { IxyError } from "../../src/error.ts";

Deno.test("parsePciAddress", async (t) => {
  await t.step("accepts and normalises long and short forms", () => {
    assert.equal(parsePciAddress("0000:00:10.0"), "0000:00:10.0");
    assert.equal(parsePciAddress("0000:3B:00.1"), "0000:3b:00.1");
    assert.equal(parsePciAddress("  00:04.0 "), "0000:00:04.0");
  });
  await t.step("accepts domains beyond ffff as sysfs names them (VMD: 10000 up)", () => {
    assert.equal(parsePciAddress("10000:00:01.0"), "10000:00:01.0");
    assert.equal(parsePciAddress("FFFFFFFF:e1:1f.7"), "ffffffff:e1:1f.7");
    assert.equal(parsePciAddress("0001abcd:00:00.0"), "1abcd:00:00.0");
  });
  await t.step("rejects malformed addresses with a hint", () => {
    for (
      const bad of [
        "",
        "0000:00:10",
        "00:10.8",
        "0000:00:20.0",
        "zz:00.0",
        "0:0:0.0",
        "0000:000:10.0",
        "000:00:10.0",
        "100000000:00:01.0",
      ]
    ) {
      assert.throws(() => parsePciAddress(bad), (e: unknown) => {
        assert.ok(e instanceof IxyError);
        assert.match(e.message, /Malformed PCI address .*lspci -D/);
        return true;
      }, bad);
    }
  });
});

Deno.test("PciDevice.open reports a missing device", () => {
  assert.throws(() => PciDevice.open("0000:7f:1f.7"), /No PCI device 0000:7f:1f\.7: .*lspci -D/);
});

Deno.test("PciDevice.writeConfig: a short write is an error, not a silent success", () => {
  // A stand-in for sysfs: config space of an 82599 (8086:10fb, class 02),
  // and a config file whose write(2) takes only one byte.
  const config = new Uint8Array(256);
  config.set([0x86, 0x80, 0xfb, 0x10]);
  config[0x0b] = 0x02;
  const writes: number[] = [];
  const fakeFile = {
    seekSync: () => 0,
    readSync: (p: Uint8Array) => p.length,
    writeSync: (p: Uint8Array) => {
      writes.push(p.length);
      return 1;
    },
    close: () => {},
    [Symbol.dispose]: () => {},
  };
  const saved = { readFileSync: Deno.readFileSync, openSync: Deno.openSync };
  const d = Deno as unknown as Record<string, unknown>;
  d.readFileSync = () => config;
  d.openSync = () => fakeFile;
  try {
    const pci = PciDevice.open("0000:7f:1f.6");
    assert.equal(pci.ids, "8086:10fb");
    assert.throws(() => pci.writeConfig(0x04, 2, 0x0406), (e: unknown) => {
      assert.ok(e instanceof IxyError);
      assert.match(e.message, /config space of 0000:7f:1f\.6 at 0x4: only 1 of 2 bytes/);
      return true;
    });
    assert.deepEqual(writes, [2]);
  } finally {
    d.readFileSync = saved.readFileSync;
    d.openSync = saved.openSync;
  }
});
