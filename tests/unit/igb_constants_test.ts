import assert from "node:assert/strict";
import * as C from "../../drivers/igb/constants.ts";
import { eitrForRate, IGB_MSIX_MAP } from "../../drivers/igb/interrupts.ts";
import { IXGBE_MSIX_MAP } from "../../drivers/ixgbe/interrupts.ts";
import { IXGBE_ADV_TX_DESC, IXGBE_ADVTXD, IXGBE_TDT } from "../../drivers/ixgbe/constants.ts";

// Spot checks against Linux's igb e1000_regs.h / e1000_defines.h and QEMU's
// hw/net/igb_regs.h (the model our lab-VM tests run on).
Deno.test("igb register offsets", async (t) => {
  await t.step("per-queue receive registers, queues 0-15 (0xC000 + 0x40n)", () => {
    assert.equal(C.IGB_RDBAL(0), 0x0c000);
    assert.equal(C.IGB_RDBAH(1), 0x0c044);
    assert.equal(C.IGB_SRRCTL(0), 0x0c00c);
    assert.equal(C.IGB_RDT(15), 0x0c018 + 15 * 0x40);
    assert.equal(C.IGB_RXDCTL(2), 0x0c0a8);
    assert.equal(C.IGB_RQDPC(3), 0x0c0f0);
  });
  await t.step("transmit, receive addresses, statistics and single registers", () => {
    assert.equal(C.IGB_TDBAL(0), 0x0e000);
    assert.equal(C.IGB_TXDCTL(2), 0x0e0a8);
    assert.equal(C.IGB_RAL(0), 0x05400);
    assert.equal(C.IGB_RAH(16), 0x054e4);
    assert.equal(C.IGB_GORCL, 0x04088);
    assert.equal(C.IGB_GOTCH, 0x04094);
    assert.equal(C.IGB_EICR, 0x01580);
    assert.equal(C.IGB_GPIE, 0x01514);
    assert.equal(C.IGB_EITR(9), 0x016a4);
    assert.ok(C.IGB_DEVICE_IDS.includes(0x10c9));
  });
  await t.step("bits that moved from the 82599", () => {
    assert.equal(C.IGB_SRRCTL_BITS.DROP_EN, 0x80000000);
    assert.equal(C.IGB_RCTL_BITS.SECRC, 1 << 26);
    assert.equal(C.IGB_RXDCTL_ENABLE, 1 << 25);
  });
  await t.step("IVAR: queues q and q+8 share register q & 7 (Linux igb_assign_vector)", () => {
    assert.equal(C.IGB_IVAR(C.IGB_IVAR_INDEX(3)), 0x0170c);
    assert.equal(C.IGB_IVAR_SHIFT(3, false), 0);
    assert.equal(C.IGB_IVAR_SHIFT(3, true), 8);
    assert.equal(C.IGB_IVAR(C.IGB_IVAR_INDEX(11)), 0x0170c);
    assert.equal(C.IGB_IVAR_SHIFT(11, false), 16);
    assert.equal(C.IGB_IVAR_SHIFT(11, true), 24);
  });
  await t.step("the register maps IxgbeInterrupts programs: IVAR packing per chip", () => {
    // 82576: RX queue q in IVAR0[q & 7], bits 7:0 (q < 8) or 23:16 (q >= 8).
    assert.equal(IGB_MSIX_MAP.ivar.register(11), 0x0170c);
    assert.equal(IGB_MSIX_MAP.ivar.shift(11), 16);
    assert.equal(IGB_MSIX_MAP.ivar.shift(3), 0);
    // 82599: RX queue q in IVAR[q >> 1], bits 7:0 (even q) or 23:16 (odd q).
    assert.equal(IXGBE_MSIX_MAP.ivar.register(3), 0x00904);
    assert.equal(IXGBE_MSIX_MAP.ivar.shift(3), 16);
    assert.deepEqual(IGB_MSIX_MAP.causes, {
      eicr: 0x01580,
      eims: 0x01524,
      eimc: 0x01528,
      eiac: 0x0152c,
    });
    assert.equal(IGB_MSIX_MAP.gpie.msix, IXGBE_MSIX_MAP.gpie.msix); // Multiple_MSIX | PBA_support
    assert.equal(IGB_MSIX_MAP.eitrForRate(100_000), 0x028);
  });
  await t.step("EITR interval in microseconds at bit 2", () => {
    assert.equal(eitrForRate(100_000), 0x028);
    assert.equal(eitrForRate(20_000), 0x0c8);
    assert.equal(eitrForRate(0), 0);
  });
});

// drivers/igb/igb.ts sends with drivers/ixgbe/tx.ts's descriptor code: every
// field and bit it writes must mean the same on the 82576 (82576 datasheet
// 7.2.2.3, 82599 datasheet 7.2.3.2.4; Linux igb E1000_ADVTXD_* and
// E1000_TXD_STAT_DD). Only the tail register moved.
Deno.test("the 82576's advanced transmit data descriptor is the 82599's", () => {
  assert.deepEqual(C.IGB_ADV_TX_DESC, IXGBE_ADV_TX_DESC);
  for (const name of Object.keys(C.IGB_ADVTXD) as (keyof typeof C.IGB_ADVTXD)[]) {
    assert.equal(C.IGB_ADVTXD[name], IXGBE_ADVTXD[name], name);
  }
  // The values Linux's igb (e1000_82575.h, e1000_defines.h) uses.
  assert.equal(C.IGB_ADVTXD.DTYP_DATA, 0x00300000);
  assert.equal(C.IGB_ADVTXD.DCMD_EOP, 0x01000000);
  assert.equal(C.IGB_ADVTXD.DCMD_IFCS, 0x02000000);
  assert.equal(C.IGB_ADVTXD.DCMD_RS, 0x08000000);
  assert.equal(C.IGB_ADVTXD.DCMD_DEXT, 0x20000000);
  assert.equal(C.IGB_ADVTXD.PAYLEN_SHIFT, 14);
  assert.equal(C.IGB_ADVTXD.STAT_DD, 0x00000001);
  assert.equal(C.IGB_TDT(1), 0x0e058);
  assert.equal(IXGBE_TDT(1), 0x06058);
});
