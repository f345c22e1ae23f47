import assert from "node:assert/strict";
import * as C from "../../drivers/ixgbe/constants.ts";

// Spot checks against the 82599 datasheet's register summary (8.2.2) and
// Linux's ixgbe_type.h, including the queue ranges where the address jumps.
Deno.test("ixgbe register offsets", async (t) => {
  await t.step("per-queue receive registers, queues 0-63 and 64-127", () => {
    assert.equal(C.IXGBE_RDBAL(0), 0x01000);
    assert.equal(C.IXGBE_RDBAL(1), 0x01040);
    assert.equal(C.IXGBE_RDT(63), 0x01018 + 63 * 0x40);
    assert.equal(C.IXGBE_RDBAL(64), 0x0d000);
    assert.equal(C.IXGBE_RXDCTL(65), 0x0d068);
  });
  await t.step("aliased registers: SRRCTL, DCA_RXCTRL, RAL/RAH", () => {
    assert.equal(C.IXGBE_SRRCTL(0), 0x02100);
    assert.equal(C.IXGBE_SRRCTL(15), 0x0213c);
    assert.equal(C.IXGBE_SRRCTL(16), 0x01414);
    assert.equal(C.IXGBE_DCA_RXCTRL(0), 0x02200);
    assert.equal(C.IXGBE_DCA_RXCTRL(16), 0x0140c);
    assert.equal(C.IXGBE_RAL(0), 0x05400);
    assert.equal(C.IXGBE_RAH(16), 0x0a284);
  });
  await t.step("transmit, statistics and single registers", () => {
    assert.equal(C.IXGBE_TDBAL(0), 0x06000);
    assert.equal(C.IXGBE_TXDCTL(2), 0x060a8);
    assert.equal(C.IXGBE_MPC(7), 0x03fbc);
    assert.equal(C.IXGBE_QPRDC(1), 0x01470);
    assert.equal(C.IXGBE_EEC, 0x10010);
    assert.equal(C.IXGBE_LINKS, 0x042a4);
    assert.equal(C.IXGBE_AUTOC_BITS.LMS_10G_SERIAL, 0x6000);
    assert.ok(C.IXGBE_DEVICE_IDS.includes(0x10fb));
  });
  await t.step("RSS: MRQC, RSSRK, RETA, RXCSUM (8.2.3.7.12/14/15/5, ixgbe_type.h)", () => {
    assert.equal(C.IXGBE_MRQC, 0x0ec80);
    assert.equal(C.IXGBE_RSSRK(0), 0x0eb80);
    assert.equal(C.IXGBE_RSSRK(9), 0x0eba4);
    assert.equal(C.IXGBE_RETA(0), 0x0eb00);
    assert.equal(C.IXGBE_RETA(31), 0x0eb7c);
    assert.equal(C.IXGBE_RXCSUM, 0x05000);
    assert.equal(C.IXGBE_RXCSUM_BITS.PCSD, 0x2000);
    assert.equal(C.IXGBE_MRQC_BITS.RSS_FIELD_IPV4_UDP, 0x00400000);
  });
});
