import assert from "node:assert/strict";
import { pagemapToPhys } from "../../src/memory.ts";
import { IxyError } from "../../src/error.ts";

const PRESENT = 1n << 63n;
const virt = 0x7f12_3456_7abc;

Deno.test("pagemapToPhys: frame number × 4 KiB + offset, flag bits 55-62 ignored", () => {
  const softDirtyExclusive = (1n << 55n) | (1n << 56n);
  assert.equal(
    pagemapToPhys(PRESENT | softDirtyExclusive | 0x12_3456n, virt),
    0x12_3456_000 + 0xabc,
  );
});

Deno.test("pagemapToPhys refuses a page that is not present (a swap entry, not a frame)", () => {
  const swapped = (1n << 62n) | 0x12_3456n; // bits 0-54: swap type and offset
  assert.throws(() => pagemapToPhys(swapped, virt), (e: unknown) => {
    assert.ok(e instanceof IxyError);
    assert.match(e.message, /0x7f1234567abc: .* not present in RAM/);
    return true;
  });
});

Deno.test("pagemapToPhys refuses frame 0 (an unprivileged reader) and says what to do", () => {
  assert.throws(() => pagemapToPhys(PRESENT, virt), (e: unknown) => {
    assert.ok(e instanceof IxyError);
    assert.match(e.message, /frame number 0.*Run as root \(sudo\), or bind the NIC to vfio-pci/);
    return true;
  });
});
