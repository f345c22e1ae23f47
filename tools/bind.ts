/**
 * bind: hand a PCI device to vfio-pci and its IOMMU group to a user, so
 * that user can drive the NIC without root (src/vfio.ts). Run it as root:
 *
 *     deno task bind 0000:00:10.0 --user alice
 *     deno task bind 0000:00:10.0 --unbind      # back to its kernel driver
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
import { parsePciAddress, PciDevice } from "../src/pci.ts";
import { iommuGroupDevices, iommuGroupOf } from "../src/vfio.ts";

const HELP = `Usage: deno task bind <pci-address> [--user NAME] [--unbind]

Binds the device to vfio-pci (VFIO: user-space drivers behind the IOMMU) and
makes /dev/vfio/<group> belong to NAME, so that NAME can run pktgen, fwd, ...
without root. Needs root and an active IOMMU (intel_iommu=on; the lab VM:
deno task vm --iommu).

Options:
  --user NAME    owner of /dev/vfio/<group> (default: root)
  --unbind       undo: clear driver_override and let the kernel's driver
                 take the device back
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

/** What {@link bind} is asked to do. */
export interface BindOptions {
  /** Owner of /dev/vfio/<group> (default: root). */
  user?: string;
  /** Undo instead: give the device back to its kernel driver. */
  unbind?: boolean;
}

/**
 * Binds the device at `address` to vfio-pci and gives its group to
 * `options.user`, or with `options.unbind` gives it back to the kernel.
 * Throws an {@link IxyError} (one line, what to do) on what we foresee.
 */
export async function bind(pciAddress: string, options: BindOptions = {}): Promise<void> {
  const address = parsePciAddress(pciAddress);
  const pci = PciDevice.open(address);
  const path = pci.path;

  if (options.unbind) {
    if (pci.driver !== undefined) pci.unbindDriver();
    writeSysfs(`${path}/driver_override`, "\n", "clear driver_override");
    writeSysfs("/sys/bus/pci/drivers_probe", address, "let the kernel pick a driver");
    console.log(`bind: ${address} is now bound to ${pci.driver ?? "no driver"}`);
    return;
  }

  const group = iommuGroupOf(address);
  if (group === undefined) {
    throw new IxyError(
      `${address} has no IOMMU group: the IOMMU is off or absent. Enable VT-d/AMD-Vi in the ` +
        `firmware and boot with intel_iommu=on (the lab VM: deno task vm --iommu).`,
    );
  }
  const owner = options.user === undefined ? undefined : await userIds(options.user);

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
    let driver: string | undefined;
    try {
      driver = Deno.readLinkSync(`/sys/bus/pci/devices/${other}/driver`).split("/").pop();
    } catch { /* none */ }
    if (driver !== undefined && driver !== "vfio-pci") {
      console.error(
        `bind: warning: ${other} shares IOMMU group ${group} and is bound to ${driver}: the ` +
          `group is not viable until it is bound to vfio-pci too (deno task bind ${other}).`,
      );
    }
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      user: { type: "string" },
      unbind: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return console.log(HELP);
  if (positionals.length !== 1) throw new IxyError(`Expected one PCI address.\n${HELP}`);
  await bind(positionals[0], { user: values.user, unbind: values.unbind });
}

if (import.meta.main) runApp(main);
