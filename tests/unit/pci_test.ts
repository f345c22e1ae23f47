import assert from "node:assert/strict";
import { parsePciAddress, PciDevice } from "../../src/pci.ts";
import { IxyError } from "../../src/error.ts";

Deno.test("parsePciAddress", async (t) => {
  await t.step("accepts and normalises long and short forms", () => {
    assert.equal(parsePciAddress("0000:00:10.0"), "0000:00:10.0");
    assert.equal(parsePciAddress("0000:3B:00.1"), "0000:3b:00.1");
    assert.equal(parsePciAddress("  00:04.0 "), "0000:00:04.0");
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
