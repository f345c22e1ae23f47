/**
 * igb programs RSS with more than one receive queue (drivers/igb/rss.ts, on
 * drivers/ixgbe/rss.ts's setupRss): the bring-up on an instant 82576
 * (tools/devices/instant_igb.ts, a register file) leaves the key, the table,
 * RXCSUM.PCSD and MRQC as the 82576 and QEMU's igb model want them. Whether
 * QEMU then spreads the flows and writes the hash back is
 * tests/vm/igb_rss_test.ts's question.
 */

import assert from "node:assert/strict";
import { IgbDevice } from "../../drivers/igb/igb.ts";
import { IGB_RSS_MAP } from "../../drivers/igb/rss.ts";
import { IXGBE_RSS_MAP } from "../../drivers/ixgbe/rss.ts";
import * as C from "../../drivers/igb/constants.ts";
import { InstantIgbDevice } from "../../tools/devices/instant_igb.ts";
import {
  RSS_DEFAULT_KEY,
  rssKeyFromRegisters,
  rssRetaFor,
  rssRetaFromRegisters,
} from "../../src/rss.ts";

Deno.test("igb RSS registers: offsets and MRQC as Linux's e1000_regs.h and QEMU's igb", () => {
  // Linux e1000_regs.h: E1000_MRQC 0x05818, E1000_RETA(i) 0x05C00 + 4i,
  // E1000_RSSRK(i) 0x05C80 + 4i, E1000_RXCSUM 0x05000; E1000_RXCSUM_PCSD 0x2000.
  assert.equal(C.IGB_MRQC, 0x05818);
  assert.equal(C.IGB_RETA(31), 0x05c7c);
  assert.equal(C.IGB_RSSRK(9), 0x05ca4);
  assert.equal(C.IGB_RXCSUM, 0x05000);
  assert.equal(C.IGB_RXCSUM_BITS.PCSD, 0x2000);
  const mrqc = IGB_RSS_MAP.mrqc.value;
  // QEMU (hw/net/igb_core.c): igb_rss_enabled wants (MRQC & 3) == 2, the
  // receive filter switches on MRQC & 7 == E1000_MRQC_ENABLE_RSS_MQ (2).
  assert.equal(mrqc & 3, 2);
  assert.equal(mrqc & 7, 2);
  // The hash types: the 82599's bits (Linux E1000_MRQC_RSS_FIELD_IPV4_TCP
  // 0x10000, _IPV4 0x20000, _IPV4_UDP 0x400000), nothing for IPv6.
  assert.equal(mrqc & 0xffff0000, 0x00430000);
  assert.equal(IXGBE_RSS_MAP.mrqc.value & 0xffff0000, mrqc & 0xffff0000, "same field bits");
});

for (const queues of [2, 4, 16]) {
  Deno.test(`igb bring-up with ${queues} RX queues programs RSS (key, RETA, PCSD, MRQC)`, () => {
    const dev = new InstantIgbDevice();
    const drv = IgbDevice.attach(dev, dev.dma, {
      name: "rss-igb",
      linkTimeoutMs: 0,
      rxQueues: queues,
    });
    try {
      const rssrk = Array.from({ length: 10 }, (_, n) => dev.read32(C.IGB_RSSRK(n)));
      const reta = Array.from({ length: 32 }, (_, n) => dev.read32(C.IGB_RETA(n)));
      assert.deepEqual(rssKeyFromRegisters(rssrk), RSS_DEFAULT_KEY);
      assert.equal(rssrk[0], 0xda565a6d, "key byte 0 in bits 7:0");
      assert.deepEqual(rssRetaFromRegisters(reta), rssRetaFor(queues));
      assert.ok(dev.read32(C.IGB_RXCSUM) & C.IGB_RXCSUM_BITS.PCSD, "RXCSUM.PCSD");
      assert.equal(dev.read32(C.IGB_MRQC), IGB_RSS_MAP.mrqc.value);
      assert.equal(drv.numRxQueues, queues);
    } finally {
      drv.close();
    }
  });
}

Deno.test("igb bring-up with one RX queue leaves RSS off (MRQC 0)", () => {
  const dev = new InstantIgbDevice();
  const drv = IgbDevice.attach(dev, dev.dma, { name: "one-queue-igb", linkTimeoutMs: 0 });
  try {
    assert.equal(dev.read32(C.IGB_MRQC), 0);
    assert.equal(dev.read32(C.IGB_RXCSUM) & C.IGB_RXCSUM_BITS.PCSD, 0);
  } finally {
    drv.close();
  }
});
