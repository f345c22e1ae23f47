/**
 * Lab 1 checker: config-space decoding on made-up config spaces (an 82599, a
 * legacy virtio NIC, a SATA controller), then MAC and link state through
 * BAR0 of a software 82599 port, with the link up and down.
 *
 * @module
 */

import { createSim82599 } from "../sim82599/mod.ts";
import { formatMac } from "../../src/device.ts";
import { must } from "./checklist.ts";
import type { ConfigHeader, ParseConfigFn, ReadLinkSpeedFn, ReadMacFn } from "./contract.ts";
import { attachReference } from "./harness.ts";
import type { Lab } from "./lab.ts";

/** A 64-byte config header with the given fields (little-endian, as on the bus). */
function config(
  f: { vendor: number; device: number; command: number; classCode: number; bar0: number },
): Uint8Array {
  const bytes = new Uint8Array(64);
  const v = new DataView(bytes.buffer);
  v.setUint16(0x00, f.vendor, true);
  v.setUint16(0x02, f.device, true);
  v.setUint16(0x04, f.command, true);
  v.setUint32(0x08, f.classCode << 8, true); // revision 0, then prog-if, subclass, base class
  v.setUint32(0x10, f.bar0, true);
  return bytes;
}

const CASES: { name: string; bytes: Uint8Array; want: ConfigHeader }[] = [
  {
    name: "an 82599 (8086:10fb)",
    bytes: config({
      vendor: 0x8086,
      device: 0x10fb,
      command: 0x0406,
      classCode: 0x020000,
      bar0: 0xf7c0000c,
    }),
    want: {
      vendorId: 0x8086,
      deviceId: 0x10fb,
      baseClass: 2,
      busMaster: true,
      bar0Address: 0xf7c00000,
      bar0Io: false,
    },
  },
  {
    name: "a legacy virtio NIC (1af4:1000)",
    bytes: config({
      vendor: 0x1af4,
      device: 0x1000,
      command: 0x0003,
      classCode: 0x020000,
      bar0: 0x0000c041,
    }),
    want: {
      vendorId: 0x1af4,
      deviceId: 0x1000,
      baseClass: 2,
      busMaster: false,
      bar0Address: 0xc040,
      bar0Io: true,
    },
  },
  {
    name: "a SATA controller (8086:2922)",
    bytes: config({
      vendor: 0x8086,
      device: 0x2922,
      command: 0x0407,
      classCode: 0x010601,
      bar0: 0x0000d001,
    }),
    want: {
      vendorId: 0x8086,
      deviceId: 0x2922,
      baseClass: 1,
      busMaster: true,
      bar0Address: 0xd000,
      bar0Io: true,
    },
  },
];

const hex = (n: number) => `0x${n.toString(16)}`;

/** Lab 1: PCI and BARs. */
export const lab1: Lab = {
  number: 1,
  title: "PCI and BARs: IDs, class, BAR0, MAC and link",
  reference: "tools/lab/solutions/lab1_pci.ts",
  functions: ["parseConfig", "readMac", "readLinkSpeed"],
  async run(impl, list) {
    const parseConfig = impl.parseConfig as ParseConfigFn;
    const readMac = impl.readMac as ReadMacFn;
    const readLinkSpeed = impl.readLinkSpeed as ReadLinkSpeedFn;
    const check = (field: keyof ConfigHeader, what: string, show = hex) =>
      list.check(`parseConfig reads the ${what}`, () => {
        for (const c of CASES) {
          const got = parseConfig(c.bytes)[field];
          const want = c.want[field];
          const fmt = (x: unknown) => typeof x === "number" ? show(x) : String(x);
          must(got === want, `for ${c.name} you read ${fmt(got)}; expected ${fmt(want)}`);
        }
      });
    await check("vendorId", "vendor ID (offset 0x00, little-endian)");
    await check("deviceId", "device ID (offset 0x02)");
    await check("baseClass", "base class (offset 0x0b; 0x02 = network)");
    await check("busMaster", "Bus Master Enable bit (command register 0x04, bit 2)");
    await check("bar0Io", "kind of BAR0 (bit 0: 1 = I/O, 0 = memory)");
    await check("bar0Address", "address in BAR0 without its flag bits");

    const sim = await createSim82599({ ports: 2, wiring: "cable" });
    try {
      const [a, b] = sim.ports;
      attachReference(a);
      attachReference(b);
      await list.check("readMac returns the MAC address in RAL/RAH(0)", () => {
        for (const p of [a, b]) {
          const mac = readMac(p.regs);
          must(mac instanceof Uint8Array && mac.length === 6, "readMac must return 6 bytes");
          must(
            formatMac(mac) === formatMac(p.mac),
            `${p.name}: you read ${formatMac(mac)}; the EEPROM says ${formatMac(p.mac)}`,
          );
        }
      });
      await list.check("readLinkSpeed says 10000 while the link is up", () => {
        const speed = readLinkSpeed(a.regs);
        must(speed === 10000, `you read ${speed} Mbit/s; LINKS reports link up at 10 Gbit/s`);
      });
    } finally {
      sim.stop();
    }
    const unplugged = await createSim82599({ ports: 1, wiring: "none" });
    try {
      const [p] = unplugged.ports;
      attachReference(p, 20);
      await list.check("readLinkSpeed says 0 while the link is down (no cable)", () => {
        const speed = readLinkSpeed(p.regs);
        must(speed === 0, `you read ${speed} Mbit/s without a cable; LINKS.UP is 0`);
      });
    } finally {
      unplugged.stop();
    }
  },
};
