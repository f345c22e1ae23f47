/**
 * bind: hand a NIC to vfio-pci and its IOMMU group to a user, so that user
 * can drive the NIC without root (src/vfio.ts). Run it as root:
 *
 *     deno task bind 0000:00:10.0 --user alice
 *     deno task bind 0000:00:10.0 --unbind      # back to its kernel driver
 *
 * Step 0, before anything is written, is to identify the device as
 * `ixyInit` does (drivers/mod.ts): bind takes network controllers (PCI class
 * 0x02) only, never a disk controller or a bridge, and not a NIC whose kernel
 * interface is up (unless `--force`). `--unbind` gives back only a device
 * that is bound to vfio-pci. A NIC that no driver of ixy.ts supports is
 * bound with a warning: vfio-pci takes any device, and the user may have
 * their own driver for it.
 *
 * Steps (Documentation/driver-api/vfio.rst, "VFIO Usage Example"; sysfs
 * files: Documentation/ABI/testing/sysfs-bus-pci):
 *
 * 1. `modprobe vfio-pci` (also loads vfio and vfio_iommu_type1);
 * 2. unbind the current driver (`driver/unbind`);
 * 3. `driver_override` = vfio-pci: only vfio-pci may take the device now;
 * 4. `drivers_probe`: the kernel binds it — /dev/vfio/<group> appears;
 * 5. chown /dev/vfio/<group> to the user (mode 0600).
 *
 * A group is the unit of isolation: the user gets every device in it, so all
 * of them must be bound to vfio-pci (or have no driver) for the group to be
 * viable. The tool lists the group's devices and warns about the rest.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { IxyError } from "../src/error.ts";
import { runApp } from "./lib/app.ts";
import { parsePciAddress, PCI_CLASS_NETWORK, PciDevice } from "../src/pci.ts";
import { iommuGroupDevices, iommuGroupOf } from "../src/vfio.ts";
import { findDriver } from "../drivers/mod.ts";

const HELP = `Usage: deno task bind <pci-address> [--user NAME] [--force] [--unbind]

Binds a NIC to vfio-pci (VFIO: user-space drivers behind the IOMMU) and
makes /dev/vfio/<group> belong to NAME, so that NAME can run pktgen, fwd, ...
without root. Needs root and an active IOMMU (intel_iommu=on; the lab VM:
deno task vm --iommu).

Only network controllers (PCI class 0x02) are taken: any other device (a
disk controller, a bridge, ...) is refused before anything changes. A NIC
none of ixy.ts's drivers supports is bound with a warning (vfio-pci takes
any device; ixy's apps will refuse it).

Options:
  --user NAME    owner of /dev/vfio/<group> (default: root)
  --force        take the NIC even though a kernel interface of it is up
                 (whoever uses that interface, e.g. an ssh session, loses it)
  --unbind       undo: give a NIC that is bound to vfio-pci back to its
                 kernel driver (clears driver_override); a device bound to
                 anything else is refused
  -h, --help     show this help

The user also needs hugepages (root: echo 512 > /proc/sys/vm/nr_hugepages;
ixy.ts maps them anonymously, no hugetlbfs permissions needed) and enough
locked memory for the pages VFIO pins (ulimit -l; e.g. in
/etc/security/limits.conf: NAME - memlock unlimited).`;

/** Writes `text` to a sysfs file with a clear error. */
function writeSysfs(path: string, text: string, what: string): void {
  try {
    Deno.writeTextFileSync(path, text);
  } catch (e) {
    const reason = e instanceof Deno.errors.PermissionDenied ? "permission denied, run as root" : (
      e as Error
    ).message;
    throw new IxyError(`Cannot ${what} (${path}): ${reason}.`);
  }
}

/** uid and gid of a user, from `id` (works with /etc/passwd, LDAP, ...). */
async function userIds(name: string): Promise<{ uid: number; gid: number }> {
  const id = async (flag: string): Promise<number> => {
    const out = await new Deno.Command("id", { args: [flag, name], stderr: "null" }).output();
    if (!out.success) throw new IxyError(`Unknown user "${name}" (id ${flag} ${name} failed).`);
    return Number(new TextDecoder().decode(out.stdout).trim());
  };
  return { uid: await id("-u"), gid: await id("-g") };
}

/** Waits up to 2 s for a path to appear (devtmpfs creates nodes asynchronously). */
async function waitFor(path: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    try {
      Deno.statSync(path);
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return false;
}

/**
 * Throws unless `pci` is a network controller, as `ixyInit` does. A device
 * that is not, yet is bound to vfio-pci (by an older bind, which took any
 * device), gets the commands that give it back by hand.
 */
function requireNic(pci: PciDevice): void {
  try {
    pci.requireNetworkController();
  } catch (e) {
    if (!(e instanceof IxyError) || pci.driver !== "vfio-pci") throw e;
    const a = pci.address;
    throw new IxyError(
      `${e.message} It is bound to vfio-pci (by an older bind?); to give it back to the kernel: ` +
        `echo > ${pci.path}/driver_override; echo ${a} > /sys/bus/pci/drivers/vfio-pci/unbind; ` +
        `echo ${a} > /sys/bus/pci/drivers_probe`,
    );
  }
}

/** What {@link bind} is asked to do. */
export interface BindOptions {
  /** Owner of /dev/vfio/<group> (default: root). */
  user?: string;
  /** Undo instead: give a NIC bound to vfio-pci back to its kernel driver. */
  unbind?: boolean;
  /** Take the NIC even though a kernel interface of it is up. */
  force?: boolean;
}

/**
 * Binds the NIC at `pciAddress` to vfio-pci and gives its group to
 * `options.user`, or with `options.unbind` gives it back to the kernel.
 * Throws an {@link IxyError} (one line, what to do) on what we foresee;
 * every refusal comes before the first write.
 */
export async function bind(pciAddress: string, options: BindOptions = {}): Promise<void> {
  const address = parsePciAddress(pciAddress);
  const pci = PciDevice.open(address);
  const path = pci.path;
  requireNic(pci);

  if (options.unbind) {
    if (pci.driver !== "vfio-pci") {
      throw new IxyError(
        `${address} is bound to ${pci.driver ?? "no driver"}, not vfio-pci: --unbind only ` +
          `gives back a NIC that bind gave to vfio-pci. Nothing changed.`,
      );
    }
    pci.unbindDriver();
    writeSysfs(`${path}/driver_override`, "\n", "clear driver_override");
    writeSysfs("/sys/bus/pci/drivers_probe", address, "let the kernel pick a driver");
    console.log(`bind: ${address} is now bound to ${pci.driver ?? "no driver"}`);
    return;
  }

  if (!options.force) pci.requireInterfacesDown();
  const group = iommuGroupOf(address);
  if (group === undefined) {
    throw new IxyError(
      `${address} has no IOMMU group: the IOMMU is off or absent. Enable VT-d/AMD-Vi in the ` +
        `firmware and boot with intel_iommu=on (the lab VM: deno task vm --iommu).`,
    );
  }
  const owner = options.user === undefined ? undefined : await userIds(options.user);
  if (findDriver(pci.vendorId, pci.deviceId) === undefined) {
    console.error(
      `bind: warning: ${address} (${pci.ids}) is a NIC ixy.ts has no driver for: binding it ` +
        `anyway (vfio-pci takes any device), but ixy's apps will refuse it.`,
    );
  }

  const modprobe = await new Deno.Command("modprobe", { args: ["vfio-pci"] }).output()
    .catch(() => undefined);
  if (!modprobe?.success) {
    console.error("bind: warning: modprobe vfio-pci failed; trying anyway");
  }
  if (pci.driver !== "vfio-pci") {
    if (pci.driver !== undefined) pci.unbindDriver();
    writeSysfs(`${path}/driver_override`, "vfio-pci", "set driver_override");
    writeSysfs("/sys/bus/pci/drivers_probe", address, "bind vfio-pci");
  }
  if (pci.driver !== "vfio-pci") {
    throw new IxyError(
      `vfio-pci did not take ${address} (driver now: ${pci.driver ?? "none"}). ` +
        `See the kernel log: dmesg | tail`,
    );
  }
  const node = `/dev/vfio/${group}`;
  if (!await waitFor(node)) throw new IxyError(`${node} did not appear after binding ${address}.`);
  if (owner !== undefined) {
    Deno.chownSync(node, owner.uid, owner.gid);
    Deno.chmodSync(node, 0o600);
  }

  const others = iommuGroupDevices(group).filter((a) => a !== address);
  console.log(
    `bind: ${address} (${pci.ids}) -> vfio-pci, IOMMU group ${group}, ${node} owned by ` +
      `${options.user ?? "root"}`,
  );
  for (const other of others) {
    const dev = PciDevice.open(other);
    const driver = dev.driver;
    if (driver === undefined || driver === "vfio-pci") continue;
    // bind takes NICs only; anything else in the group is for its owner to decide.
    const fix = dev.baseClass === PCI_CLASS_NETWORK
      ? `deno task bind ${other}`
      : "bind takes NICs only: put the NIC in a slot whose IOMMU group it has to itself";
    console.error(
      `bind: warning: ${other} shares IOMMU group ${group} and is bound to ${driver}: the ` +
        `group is not viable until it is bound to vfio-pci too (${fix}).`,
    );
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      user: { type: "string" },
      unbind: { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return console.log(HELP);
  if (positionals.length !== 1) throw new IxyError(`Expected one PCI address.\n${HELP}`);
  await bind(positionals[0], { user: values.user, unbind: values.unbind, force: values.force });
}

if (import.meta.main) runApp(main);
