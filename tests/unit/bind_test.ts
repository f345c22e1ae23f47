/**
 * tools/bind.ts against a stand-in for sysfs: which devices it takes and which
 * it refuses, and that a refusal changes nothing (issue: bind took any PCI
 * function, so `bind <host bridge>` gave the host bridge to vfio-pci and
 * `bind <storage controller> --unbind` pulled the disk from under mounted
 * file systems).
 *
 * The stand-in ({@link FakeSysfs}) replaces the few `Deno` functions that
 * src/pci.ts, src/vfio.ts and tools/bind.ts use to read and write sysfs, and
 * plays the kernel's part: writing `driver/unbind`, `driver_override` and
 * `drivers_probe` moves the device between drivers as Linux would. Every path
 * it does not know is "not found", so nothing here reaches the real sysfs
 * (and the addresses, on bus 0x7f, are ones no machine of ours has). The same
 * checks run for real in the lab VM: tests/vm/bind_test.ts.
 */

import assert from "node:assert/strict";
import { bind, type BindOptions } from "../../tools/bind.ts";
import { IxyError } from "../../src/error.ts";

/** One PCI function of the stand-in. */
interface FakeDevice {
  vendorId: number;
  deviceId: number;
  /** Base class: 0x01 storage, 0x02 network, 0x06 bridge. */
  baseClass: number;
  /** The kernel driver that takes it when probed without driver_override. */
  kernelDriver?: string;
  /** The driver bound now. */
  driver?: string;
  /** Contents of `driver_override`. */
  override?: string;
  /** Its IOMMU group. */
  group: number;
  /** Its network interfaces while its kernel driver has it: name, up or down. */
  interfaces: { name: string; up: boolean }[];
}

const DEVICES = "/sys/bus/pci/devices/";

/** The part of sysfs (and /dev/vfio) that bind reads and writes, in memory. */
class FakeSysfs {
  readonly devices: Map<string, FakeDevice>;
  /** Every write, as `path <- text`, in order. */
  readonly writes: string[] = [];
  /** Every program started (`modprobe vfio-pci`, `id -u NAME`). */
  readonly commands: string[] = [];
  /** What the tool printed on stdout and stderr. */
  readonly out: string[] = [];
  readonly err: string[] = [];

  constructor(devices: Record<string, FakeDevice>) {
    this.devices = new Map(Object.entries(devices));
  }

  /** Runs `fn` with the `Deno` file functions and console replaced by this stand-in. */
  async around<T>(fn: () => Promise<T>): Promise<T> {
    const d = Deno as unknown as Record<string, unknown>;
    const names = [
      "readFileSync",
      "readTextFileSync",
      "readLinkSync",
      "readDirSync",
      "writeTextFileSync",
      "statSync",
      "chownSync",
      "chmodSync",
      "Command",
    ];
    const saved = names.map((n) => d[n]);
    const savedConsole = { log: console.log, error: console.error };
    d.readFileSync = (p: string) => this.#config(p);
    d.readTextFileSync = (p: string) => this.#flags(p);
    d.readLinkSync = (p: string) => this.#link(p);
    d.readDirSync = (p: string) => this.#dir(p).map((name) => ({ name }));
    d.writeTextFileSync = (p: string, text: string) => this.#write(p, text);
    d.statSync = (p: string) => this.#stat(p);
    d.chownSync = (p: string, uid: number, gid: number) =>
      this.writes.push(`chown ${p} ${uid}:${gid}`);
    d.chmodSync = (p: string, mode: number) => this.writes.push(`chmod ${p} ${mode.toString(8)}`);
    const commands = this.commands;
    d.Command = class {
      constructor(program: string, options: { args: string[] }) {
        commands.push([program, ...options.args].join(" "));
      }
      output() {
        return Promise.resolve({ success: true, code: 0, stdout: new TextEncoder().encode("0\n") });
      }
    };
    console.log = (...a: unknown[]) => this.out.push(a.join(" "));
    console.error = (...a: unknown[]) => this.err.push(a.join(" "));
    try {
      return await fn();
    } finally {
      names.forEach((n, i) => d[n] = saved[i]);
      console.log = savedConsole.log;
      console.error = savedConsole.error;
    }
  }

  /** The device whose sysfs directory `path` is in, and the rest of the path. */
  #device(path: string): [string, FakeDevice, string] {
    if (path.startsWith(DEVICES)) {
      const [address, ...rest] = path.slice(DEVICES.length).split("/");
      const dev = this.devices.get(address);
      if (dev) return [address, dev, rest.join("/")];
    }
    throw new Deno.errors.NotFound(`fake sysfs: no ${path}`);
  }

  #config(path: string): Uint8Array {
    const [, dev, file] = this.#device(path);
    if (file !== "config") throw new Deno.errors.NotFound(path);
    const config = new Uint8Array(256);
    const view = new DataView(config.buffer);
    view.setUint16(0x00, dev.vendorId, true);
    view.setUint16(0x02, dev.deviceId, true);
    config[0x0b] = dev.baseClass;
    return config;
  }

  #link(path: string): string {
    const [, dev, file] = this.#device(path);
    if (file === "driver" && dev.driver !== undefined) {
      return `../../../bus/pci/drivers/${dev.driver}`;
    }
    if (file === "iommu_group") return `../../../kernel/iommu_groups/${dev.group}`;
    throw new Deno.errors.NotFound(path);
  }

  /** The interfaces of `dev` that exist now: only while its kernel driver has it. */
  #interfaces(dev: FakeDevice) {
    return dev.driver !== undefined && dev.driver === dev.kernelDriver ? dev.interfaces : [];
  }

  #dir(path: string): string[] {
    const group = /^\/sys\/kernel\/iommu_groups\/(\d+)\/devices$/.exec(path);
    if (group) {
      return [...this.devices].filter(([, d]) => d.group === Number(group[1])).map(([a]) => a);
    }
    const [, dev, file] = this.#device(path);
    if (file === "") return ["config", "driver_override"];
    const names = this.#interfaces(dev).map((i) => i.name);
    if (file === "net" && names.length > 0) return names;
    throw new Deno.errors.NotFound(path);
  }

  #flags(path: string): string {
    const m = /^\/sys\/class\/net\/([^/]+)\/flags$/.exec(path);
    for (const dev of this.devices.values()) {
      const i = this.#interfaces(dev).find((i) => i.name === m?.[1]);
      if (i) return i.up ? "0x1003\n" : "0x1002\n";
    }
    throw new Deno.errors.NotFound(path);
  }

  #stat(path: string): unknown {
    const m = /^\/dev\/vfio\/(\d+)$/.exec(path);
    const open = [...this.devices.values()].some((d) =>
      d.group === Number(m?.[1]) && d.driver === "vfio-pci"
    );
    if (!open) throw new Deno.errors.NotFound(path);
    return {};
  }

  /** A write, and what the kernel does about it. */
  #write(path: string, text: string): void {
    this.writes.push(`${path} <- ${JSON.stringify(text)}`);
    if (path === "/sys/bus/pci/drivers_probe") {
      const dev = this.devices.get(text.trim());
      if (dev === undefined) throw new Deno.errors.NotFound(path);
      // Only the override may take the device; without one, its own driver.
      if (dev.driver === undefined) dev.driver = dev.override ?? dev.kernelDriver;
      for (const i of this.#interfaces(dev)) i.up = false;
      return;
    }
    const bindTo = /^\/sys\/bus\/pci\/drivers\/([^/]+)\/bind$/.exec(path);
    if (bindTo) {
      const dev = this.devices.get(text.trim());
      if (dev === undefined || dev.driver !== undefined) throw new Deno.errors.NotFound(path);
      dev.driver = bindTo[1];
      return;
    }
    const [address, dev, file] = this.#device(path);
    if (file === "driver/unbind" && dev.driver !== undefined && text.trim() === address) {
      dev.driver = undefined;
    } else if (file === "driver_override") {
      dev.override = text.trim() === "" ? undefined : text.trim();
    } else {
      throw new Deno.errors.NotFound(path);
    }
  }
}

const SATA = "0000:7f:1f.2";
const HOST_BRIDGE = "0000:7f:00.0";
const E1000 = "0000:7f:03.0";
const RTL8139 = "0000:7f:04.0";

/** A machine: a SATA controller with its driver, a host bridge, two NICs. */
function machine(): FakeSysfs {
  return new FakeSysfs({
    [HOST_BRIDGE]: {
      vendorId: 0x8086,
      deviceId: 0x29c0,
      baseClass: 0x06,
      group: 0,
      interfaces: [],
    },
    [SATA]: {
      vendorId: 0x8086,
      deviceId: 0x2922,
      baseClass: 0x01,
      kernelDriver: "ahci",
      driver: "ahci",
      group: 1,
      interfaces: [],
    },
    [E1000]: {
      vendorId: 0x8086,
      deviceId: 0x100e,
      baseClass: 0x02,
      kernelDriver: "e1000",
      driver: "e1000",
      group: 2,
      interfaces: [{ name: "eth7", up: false }],
    },
    [RTL8139]: { vendorId: 0x10ec, deviceId: 0x8139, baseClass: 0x02, group: 3, interfaces: [] },
  });
}

/** Runs bind on `sys`; returns the error it threw (undefined if none). */
async function run(sys: FakeSysfs, address: string, options: BindOptions = {}) {
  return await sys.around(async () => {
    try {
      await bind(address, options);
      return undefined;
    } catch (e) {
      return e;
    }
  });
}

/** Asserts a one-line IxyError matching `pattern`, and that nothing was written or started. */
function assertRefused(sys: FakeSysfs, error: unknown, pattern: RegExp): void {
  assert.ok(error instanceof IxyError, `expected a refusal, got ${error}; writes: ${sys.writes}`);
  assert.match(error.message, pattern);
  assert.doesNotMatch(error.message, /\n/, "one line");
  assert.deepEqual(sys.writes, [], "a refusal writes nothing");
  assert.deepEqual(sys.commands, [], "a refusal starts nothing (not even modprobe)");
}

Deno.test("bind refuses a SATA controller and a host bridge, with and without --unbind", async (t) => {
  const cases: [string, string, RegExp][] = [
    [SATA, "ahci", /^0000:7f:1f\.2 is not a network controller \(PCI class 0x01, mass storage/],
    [HOST_BRIDGE, "none", /^0000:7f:00\.0 is not a network controller \(PCI class 0x06, bridge\)/],
  ];
  for (const [address, driver, pattern] of cases) {
    for (const unbind of [false, true]) {
      await t.step(`${address}${unbind ? " --unbind" : ""}`, async () => {
        const sys = machine();
        assertRefused(sys, await run(sys, address, { unbind }), pattern);
        assert.equal(sys.devices.get(address)!.driver ?? "none", driver, "still bound as before");
      });
    }
  }
});

Deno.test("bind --unbind refuses a device not bound to vfio-pci, naming its driver", async (t) => {
  await t.step("a NIC with its kernel driver", async () => {
    const sys = machine();
    assertRefused(
      sys,
      await run(sys, E1000, { unbind: true }),
      /^0000:7f:03\.0 is bound to e1000, not vfio-pci: /,
    );
    assert.equal(sys.devices.get(E1000)!.driver, "e1000");
  });
  await t.step("a NIC with no driver", async () => {
    const sys = machine();
    assertRefused(
      sys,
      await run(sys, RTL8139, { unbind: true }),
      /^0000:7f:04\.0 is bound to no driver, not vfio-pci: /,
    );
    assert.equal(sys.devices.get(RTL8139)!.driver, undefined);
  });
});

Deno.test("bind refuses a NIC whose kernel interface is up, unless --force", async (t) => {
  const sys = machine();
  sys.devices.get(E1000)!.interfaces[0].up = true;
  await t.step("without --force: refused, the kernel keeps it", async () => {
    assertRefused(
      sys,
      await run(sys, E1000),
      /^0000:7f:03\.0 is in use by the kernel as eth7 \(interface up\).*ip link set eth7 down.*--force/,
    );
    assert.equal(sys.devices.get(E1000)!.driver, "e1000");
  });
  await t.step("with --force: bound to vfio-pci", async () => {
    const error = await run(sys, E1000, { force: true });
    assert.equal(error, undefined, String(error));
    assert.equal(sys.devices.get(E1000)!.driver, "vfio-pci");
  });
});

Deno.test("bind takes a NIC that is down to vfio-pci, and --unbind gives it back", async () => {
  const sys = machine();
  assert.equal(await run(sys, E1000, { user: "alice" }), undefined);
  const dev = sys.devices.get(E1000)!;
  assert.equal(dev.driver, "vfio-pci");
  assert.ok(sys.writes.includes("chown /dev/vfio/2 0:0"), sys.writes.join("\n"));
  assert.equal(await run(sys, E1000, { unbind: true }), undefined);
  assert.equal(dev.driver, "e1000");
  assert.equal(dev.override, undefined, "driver_override cleared");
});

Deno.test("bind takes a NIC ixy.ts has no driver for, with a warning", async () => {
  const sys = machine();
  assert.equal(await run(sys, RTL8139), undefined);
  assert.equal(sys.devices.get(RTL8139)!.driver, "vfio-pci");
  assert.ok(
    sys.err.some((line) => /^bind: warning: 0000:7f:04\.0 \(10ec:8139\) .*no driver/.test(line)),
    sys.err.join("\n"),
  );
});

Deno.test("bind refuses a non-NIC that an older bind left with vfio-pci, saying how to undo it", async () => {
  const sys = machine();
  sys.devices.get(HOST_BRIDGE)!.driver = "vfio-pci";
  sys.devices.get(HOST_BRIDGE)!.override = "vfio-pci";
  assertRefused(
    sys,
    await run(sys, HOST_BRIDGE, { unbind: true }),
    /^0000:7f:00\.0 is not a network controller .* bound to vfio-pci .*echo 0000:7f:00\.0 > \/sys\/bus\/pci\/drivers\/vfio-pci\/unbind/,
  );
  assert.equal(sys.devices.get(HOST_BRIDGE)!.driver, "vfio-pci");
});

Deno.test("bind does not advise binding a non-NIC that shares the NIC's IOMMU group", async () => {
  const sys = machine();
  sys.devices.get(E1000)!.group = sys.devices.get(SATA)!.group;
  assert.equal(await run(sys, E1000), undefined);
  assert.equal(sys.devices.get(E1000)!.driver, "vfio-pci");
  assert.equal(sys.devices.get(SATA)!.driver, "ahci", "the SATA controller was not touched");
  const warning = sys.err.find((line) => line.includes(SATA));
  assert.match(warning ?? "", /shares IOMMU group 1 and is bound to ahci.*bind takes NICs only/);
  assert.doesNotMatch(warning ?? "", /deno task bind/);
});
