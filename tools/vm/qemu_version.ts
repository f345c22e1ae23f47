/**
 * Which QEMU the lab VM runs, and {@link requireQemu} for what needs a newer one.
 *
 * Most of the lab VM works with any QEMU since 7.2 (Debian 12's own): virtio,
 * e1000, the IOMMU. Some device models came later — igb (Intel 82576) in QEMU
 * 8.0 — and a task that uses one says so up front, with the way to get it,
 * instead of QEMU failing later with "'igb' is not a valid device model name".
 *
 * @module
 */

import { VmError } from "./errors.ts";
import { ensureHostTools, errorText, installPackages, probeHost, QEMU_ENV } from "./host.ts";
import { BACKPORTS, planInstall, QEMU_PACKAGE } from "./install.ts";

/** A QEMU binary and its version. */
export interface QemuInfo {
  /** Path of `qemu-system-x86_64`. */
  readonly path: string;
  /** Its version, e.g. `10.0.2`. */
  readonly version: string;
}

/**
 * Reads the version from the output of `qemu-system-x86_64 --version`, e.g.
 * "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)".
 *
 * @param output the program's stdout
 * @returns e.g. `10.0.2`, or undefined if the text has no version
 */
export function parseQemuVersion(output: string): string | undefined {
  return /QEMU emulator version (\d+\.\d+(?:\.\d+)?)/.exec(output)?.[1];
}

/**
 * Compares dotted version numbers part by part (missing parts count as 0).
 *
 * @param version e.g. `7.2.19`
 * @param min e.g. `8.0`
 * @returns true if `version` >= `min`
 */
export function versionAtLeast(version: string, min: string): boolean {
  const a = version.split(".").map(Number);
  const b = min.split(".").map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/** Versions already asked, by path (asking costs a process start). */
const known = new Map<string, string>();

/**
 * Asks a QEMU binary for its version.
 *
 * @param path path of `qemu-system-x86_64`
 * @returns e.g. `10.0.2`
 */
export async function qemuVersion(path: string): Promise<string> {
  const cached = known.get(path);
  if (cached !== undefined) return cached;
  let output: string;
  try {
    const out = await new Deno.Command(path, { args: ["--version"], stdin: "null" }).output();
    output = new TextDecoder().decode(out.stdout);
  } catch (error) {
    throw new VmError(`Cannot run ${path} --version: ${errorText(error)}`);
  }
  const version = parseQemuVersion(output);
  if (version === undefined) {
    throw new VmError(
      `Cannot tell which QEMU ${path} is: \`${path} --version\` printed ` +
        `${JSON.stringify(output.trim().split("\n")[0] ?? "")}.`,
    );
  }
  known.set(path, version);
  return version;
}

/** What a task needs from QEMU. */
export interface QemuRequirement {
  /** The oldest QEMU that will do, e.g. `8.0`. */
  readonly min: string;
  /** What needs it, e.g. `-device igb`. */
  readonly why: string;
  /** Where progress messages go (an install as root). */
  readonly log?: (message: string) => void;
}

/**
 * Makes sure the lab VM's QEMU is at least `min`. As root on Debian 12 with
 * apt, an older QEMU is replaced by bookworm-backports' (saying so first);
 * otherwise fails with a {@link VmError} that names the QEMU needed and the
 * command that gets it.
 *
 * ```ts
 * await requireQemu({ min: "8.0", why: "-device igb" });
 * ```
 *
 * @param need the version and what needs it
 * @returns the QEMU found, new enough
 */
export async function requireQemu(need: QemuRequirement): Promise<QemuInfo> {
  const { qemu } = await ensureHostTools({ log: need.log });
  const version = await qemuVersion(qemu);
  if (versionAtLeast(version, need.min)) return { path: qemu, version };
  const found = { path: qemu, version };
  const overridden = (Deno.env.get(QEMU_ENV) ?? "") !== "";
  const plan = overridden ? undefined : planInstall(await probeHost(), [QEMU_PACKAGE]);
  if (plan?.automatic && plan.fromBackports) {
    await installPackages(
      plan,
      `${need.why} needs QEMU ${need.min} or newer, found ${version}`,
      need.log,
    );
    known.delete(qemu);
    const now = await qemuVersion(qemu);
    if (versionAtLeast(now, need.min)) return { path: qemu, version: now };
    found.version = now;
  }
  throw new VmError(
    qemuTooOldMessage(need, found, {
      overridden,
      command: plan?.command,
      backports: plan?.fromBackports ?? false,
    }),
  );
}

/**
 * The message for a QEMU that is too old: which one is needed, which one is
 * there, and how to get a newer one.
 *
 * @param need the version and what needs it
 * @param found the QEMU there is
 * @param how `overridden`: it came from IXY_VM_QEMU; `command`: the install
 *   command (as root); `backports`: that command takes QEMU from bookworm-backports
 * @returns the message
 */
export function qemuTooOldMessage(
  need: Pick<QemuRequirement, "min" | "why">,
  found: QemuInfo,
  how: { overridden: boolean; command?: string; backports: boolean },
): string {
  const head = `${need.why} needs QEMU ${need.min} or newer, but ${found.path} is QEMU ` +
    `${found.version}.`;
  if (how.overridden) {
    return `${head} Point ${QEMU_ENV} at a newer qemu-system-x86_64, or unset it.`;
  }
  if (how.backports && how.command !== undefined) {
    return `${head} Debian 12's own QEMU is 7.2; its ${BACKPORTS.suite} has QEMU 10. ` +
      `Get it (as root), then try again:\n  sudo ${how.command}`;
  }
  return `${head} Install a newer QEMU (qemu-system-x86 from your distribution or its ` +
    `backports), or point ${QEMU_ENV} at one.`;
}

/**
 * QEMU device models that need a newer QEMU than Debian 12's 7.2, with the
 * release that added them (QEMU's changelog: igb, the Intel 82576, in 8.0).
 */
export const DEVICE_MIN_QEMU: Readonly<Record<string, string>> = { igb: "8.0" };

/**
 * Finds what a QEMU command line needs from QEMU: the newest minimum among
 * its `-device` models (see {@link DEVICE_MIN_QEMU}).
 *
 * @param args the arguments of qemu-system-x86_64
 * @returns the requirement, or undefined if any QEMU will do
 */
export function qemuRequirementOf(
  args: readonly string[],
): Pick<QemuRequirement, "min" | "why"> | undefined {
  let need: Pick<QemuRequirement, "min" | "why"> | undefined;
  for (let i = 0; i + 1 < args.length; i++) {
    if (args[i] !== "-device") continue;
    const model = args[i + 1].split(",")[0];
    const min = DEVICE_MIN_QEMU[model];
    if (min !== undefined && (need === undefined || !versionAtLeast(need.min, min))) {
      need = { min, why: `-device ${model}` };
    }
  }
  return need;
}
