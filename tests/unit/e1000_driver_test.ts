import assert from "node:assert/strict";
import { E1000Device } from "../../drivers/e1000/e1000.ts";
import {
  E1000_CTRL,
  E1000_CTRL_BITS,
  E1000_EERD,
  E1000_EERD_BITS,
  E1000_GPRC,
  E1000_GPTC,
  E1000_RAH,
  E1000_RAL,
  E1000_RCTL,
  E1000_RCTL_BITS,
} from "../../drivers/e1000/constants.ts";
import { InstantE1000Device } from "../../tools/devices/instant_e1000.ts";
import { DeviceStats } from "../../src/stats.ts";
import { IxyError } from "../../src/error.ts";

/** An instant 82540EM whose reset leaves RAL/RAH(0) empty, with the MAC only in its EEPROM (EERD). */
class EepromOnlyDevice extends InstantE1000Device {
  readonly eeprom = [0x1102, 0x3322, 0x5544]; // MAC 02:11:22:33:44:55, low byte first
  override write32(offset: number, value: number): void {
    super.write32(offset, value);
    if (offset === E1000_CTRL && (value & E1000_CTRL_BITS.RST) !== 0) {
      // After a reset: no valid receive address until the driver writes one.
      this.regs[E1000_RAL(0) >>> 2] = 0;
      this.regs[E1000_RAH(0) >>> 2] = 0;
    }
    if (offset === E1000_EERD && (value & E1000_EERD_BITS.START) !== 0) {
      const addr = (value >>> E1000_EERD_BITS.ADDR_SHIFT) & 0xff;
      this.regs[E1000_EERD >>> 2] = (value | E1000_EERD_BITS.DONE |
        (this.eeprom[addr] << E1000_EERD_BITS.DATA_SHIFT)) >>> 0;
    }
  }
}

Deno.test("e1000: the MAC comes from the EEPROM (EERD) when RAH(0) is not valid", () => {
  const dev = new EepromOnlyDevice();
  const drv = E1000Device.attach(dev, dev.dma, { name: "t", linkTimeoutMs: 0 });
  assert.deepEqual([...drv.getMacAddress()], [0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
  drv.close();
});

Deno.test("e1000: promiscuous mode is RCTL.UPE and MPE, receive stays on", () => {
  const dev = new InstantE1000Device();
  const drv = E1000Device.attach(dev, dev.dma, { name: "t", linkTimeoutMs: 0 });
  const bits = E1000_RCTL_BITS.UPE | E1000_RCTL_BITS.MPE;
  assert.equal(dev.read32(E1000_RCTL) & bits, bits, "on by default, as ixy");
  drv.setPromisc(false);
  assert.equal(dev.read32(E1000_RCTL) & bits, 0);
  assert.ok(dev.read32(E1000_RCTL) & E1000_RCTL_BITS.EN);
  drv.close();
});

Deno.test("e1000: the counters of the last moments survive close()'s reset", () => {
  const dev = new InstantE1000Device();
  const drv = E1000Device.attach(dev, dev.dma, { name: "t", linkTimeoutMs: 0 });
  dev.regs[E1000_GPRC >>> 2] = 7;
  dev.regs[E1000_GPTC >>> 2] = 9;
  drv.close(); // the instant device's reset zeroes every register
  const stats = new DeviceStats();
  drv.readStats(stats);
  assert.deepEqual([stats.rxPackets, stats.txPackets], [7, 9]);
  drv.readStats(stats);
  assert.deepEqual([stats.rxPackets, stats.txPackets], [7, 9], "counted once");
  drv.close(); // a second close does nothing
});

Deno.test("e1000: one queue per direction and power-of-two rings, else a clear error", () => {
  const dev = new InstantE1000Device();
  assert.throws(
    () => E1000Device.attach(dev, dev.dma, { name: "t", rxQueues: 2, linkTimeoutMs: 0 }),
    (e: unknown) => e instanceof IxyError && /one\s+queue per direction/.test(e.message),
  );
  assert.throws(
    () => E1000Device.attach(dev, dev.dma, { name: "t", rxRingSize: 100, linkTimeoutMs: 0 }),
    (e: unknown) => e instanceof IxyError && /power of two from 8 to 4096/.test(e.message),
  );
});
