/**
 * Lab 1 in the lab VM (`deno task lab 1 --vm`): the student's `parseConfig`
 * on the configuration spaces of the real (emulated) PCI devices of the
 * guest — host bridge, ISA and IDE bridges, virtio 9p, the virtio NICs and an
 * e1000 with a memory BAR0 — compared with referees we did not write:
 *
 * - the kernel's reading of each device, in sysfs: `vendor`, `device`,
 *   `class` and the first line of `resource` (BAR0's start and flags);
 * - `od`, reading the command register (offset 0x04) for Bus Master Enable,
 *   once with the kernel's virtio-pci driving 0000:00:10.0 (it set the bit,
 *   pci_set_master) and once after unbinding it (pci_disable_device clears it).
 *
 * It runs as root inside the guest, in the checkers' worker (worker.ts).
 * There is no 82599 in the VM (QEMU has no model of it), so `readMac` and
 * `readLinkSpeed` are checked on the software 82599 only.
 *
 * @module
 */

import { must } from "./checklist.ts";
import type { ConfigHeader, ParseConfigFn } from "./contract.ts";
import type { Lab } from "./lab.ts";

/** The NIC whose Bus Master Enable bit the check turns off and on (tools/vm: NIC 0). */
export const VM_NIC = "0000:00:10.0";
/** A device the lab VM of `--vm` gets besides its NICs: an e1000, whose BAR0 is a memory BAR. */
export const VM_LAB1_EXTRA_DEVICE = "e1000,addr=0x1e,romfile=";

const SYSFS = "/sys/bus/pci/devices";

// Flag bits of a line of sysfs `resource` (include/linux/ioport.h).
const IORESOURCE_IO = 0x100;
const IORESOURCE_MEM = 0x200;
/** Set on the legacy addresses the kernel gives an IDE controller in compatibility mode: BAR0 reads 0. */
const IORESOURCE_PCI_FIXED = 0x10;

/** One device as the referees see it, and its config space as the student gets it. */
interface Snapshot {
  /** PCI address, and a note on its state ("virtio-pci unbound"). */
  name: string;
  /** The first 64 bytes of sysfs `config`. */
  config: Uint8Array;
  vendor: number;
  device: number;
  /** sysfs `class`: base class in bits 23:16. */
  classCode: number;
  /** BAR0 per sysfs `resource` (undefined: no BAR0, or one the kernel fixed). */
  bar0?: { start: number; io: boolean };
  /** The command register as `od` read it. */
  command: number;
}

const hex = (n: number) => `0x${n.toString(16)}`;

function readHex(path: string): number {
  return Number(Deno.readTextFileSync(path).trim());
}

/** The command register (config offset 0x04, 16 bits) of each device, read by `od`. */
function commandRegisters(addresses: string[]): Map<string, number> {
  const script = `for d; do printf '%s ' "$d"; od -An -tx2 -j4 -N2 ${SYSFS}/$d/config; done`;
  const out = new Deno.Command("sh", { args: ["-c", script, "sh", ...addresses] }).outputSync();
  if (!out.success) throw new Error(`od failed: ${new TextDecoder().decode(out.stderr)}`);
  const map = new Map<string, number>();
  for (const line of new TextDecoder().decode(out.stdout).trim().split("\n")) {
    const [address, word] = line.trim().split(/\s+/);
    map.set(address, parseInt(word, 16));
  }
  return map;
}

/** Reads every PCI device of the guest (or only `only`), tagging names with `state`. */
function snapshot(only?: string, state = ""): Snapshot[] {
  const addresses = only !== undefined
    ? [only]
    : [...Deno.readDirSync(SYSFS)].map((e) => e.name).sort();
  const commands = commandRegisters(addresses);
  return addresses.map((address) => {
    const dir = `${SYSFS}/${address}`;
    const [start, , flags] = Deno.readTextFileSync(`${dir}/resource`).split("\n")[0].trim()
      .split(/\s+/).map((w) => Number(BigInt(w)));
    const kind = flags & (IORESOURCE_IO | IORESOURCE_MEM);
    const vendor = readHex(`${dir}/vendor`);
    const device = readHex(`${dir}/device`);
    return {
      name: `${address} (${vendor.toString(16)}:${device.toString(16).padStart(4, "0")}${state})`,
      config: Deno.readFileSync(`${dir}/config`).slice(0, 64),
      vendor,
      device,
      classCode: readHex(`${dir}/class`),
      // A 64-bit memory BAR0 keeps the low half of its address here; the high half is BAR1.
      bar0: kind === 0 || (flags & IORESOURCE_PCI_FIXED) !== 0
        ? undefined
        : { start: start % 2 ** 32, io: kind === IORESOURCE_IO },
      command: commands.get(address) ?? NaN,
    };
  });
}

/** Writes `address` to a sysfs file of the PCI driver core (bind/unbind). */
function driverCore(path: string, address: string): void {
  Deno.writeTextFileSync(path, address);
}

/** Lab 1 in the lab VM: parseConfig on real config spaces. */
export const lab1Vm: Lab = {
  number: 1,
  title: "PCI and BARs, in the lab VM: real config spaces",
  reference: "tools/lab/solutions/lab1_pci.ts",
  functions: ["parseConfig", "readMac", "readLinkSpeed"],
  async run(impl, list) {
    const parseConfig = impl.parseConfig as ParseConfigFn;
    // Every device as booted, then NIC 0 again without its kernel driver.
    const devices = snapshot();
    const driver = `${SYSFS}/${VM_NIC}/driver`;
    const bound = Deno.realPathSync(driver);
    driverCore(`${driver}/unbind`, VM_NIC);
    try {
      devices.push(...snapshot(VM_NIC, ", virtio-pci unbound"));
    } finally {
      driverCore(`${bound}/bind`, VM_NIC);
    }
    list.note(`${devices.length} config spaces: ${devices.map((d) => d.name).join(", ")}`);

    /** Runs parseConfig on every device and compares one field with the referee's value. */
    const check = (
      what: string,
      field: keyof ConfigHeader,
      referee: (d: Snapshot) => number | boolean | undefined,
      source: string,
    ) =>
      list.check(`parseConfig reads the ${what} of each PCI device in the VM (${source})`, () => {
        for (const d of devices) {
          const want = referee(d);
          if (want === undefined) continue;
          const got = parseConfig(d.config)[field];
          const show = (x: unknown) => typeof x === "number" ? hex(x) : String(x);
          must(got === want, `for ${d.name} you read ${show(got)}; expected ${show(want)}`);
        }
      });
    await check("vendor ID", "vendorId", (d) => d.vendor, "sysfs `vendor`");
    await check("device ID", "deviceId", (d) => d.device, "sysfs `device`");
    await check("base class", "baseClass", (d) => d.classCode >>> 16, "sysfs `class` >> 16");
    await check(
      "Bus Master Enable bit, set and clear",
      "busMaster",
      (d) => (d.command & 0x4) !== 0,
      "bit 2 of the command register, as `od` reads it",
    );
    await check("kind of BAR0", "bar0Io", (d) => d.bar0?.io, "I/O or memory in sysfs `resource`");
    await check("address in BAR0", "bar0Address", (d) => d.bar0?.start, "sysfs `resource`");
  },
};
