/**
 * The guest kernel: Debian's own `linux-image-amd64` kernel, unpacked into
 * our cache without installing it (the host's /boot and /lib/modules stay
 * untouched).
 *
 * The steps, done once per kernel version:
 *   1. `apt-cache depends linux-image-amd64` names the real package behind the
 *      meta-package, e.g. `linux-image-6.1.0-56-amd64` (version `6.1.0-56-amd64`).
 *   2. `apt-get download <package>` fetches the .deb into a scratch directory.
 *   3. `dpkg-deb -x` unpacks it: `boot/vmlinuz-<version>` and `lib/modules/<version>/`.
 *   4. `depmod -b <dir> <version>` writes modules.dep & co., so that `modprobe`
 *      (on the host to plan the initramfs, in the guest to load drivers) works.
 *   5. The directory is renamed into place: `~/.cache/ixy-ts/kernel/<version>/`.
 *
 * @module
 */

import { VmError } from "./errors.ts";
import { cacheRoot, errorText, type HostTools, isRoot, pathExists, runTool } from "./host.ts";
import { ensureVmlinux } from "./vmlinux.ts";

/** The Debian meta-package that always depends on the current kernel image. */
export const KERNEL_META_PACKAGE = "linux-image-amd64";

/** Marker file written last: a kernel directory without it is incomplete. */
const COMPLETE_MARKER = ".ixy-complete";

/** A kernel unpacked in the cache, ready to boot. */
export interface Kernel {
  /** The kernel release, as `uname -r` prints it in the guest, e.g. `6.1.0-56-amd64`. */
  readonly version: string;
  /** The directory the .deb was unpacked into (`<cache>/kernel/<version>`). */
  readonly root: string;
  /** The compressed kernel image as Debian ships it (a bzImage). */
  readonly vmlinuz: string;
  /** What QEMU boots (`-kernel`): the unpacked `boot/vmlinux-<version>` if usable, else vmlinuz. */
  readonly bootImage: string;
  /** The kernel's module directory, with modules.dep (`<root>/lib/modules/<version>`). */
  readonly modulesDir: string;
}

/** Options of {@link ensureKernel}. */
export interface EnsureKernelOptions {
  /** The host programs (needs `depmod`). */
  readonly tools: Pick<HostTools, "depmod">;
  /** Where progress messages go (default: nowhere). */
  readonly log?: (message: string) => void;
}

/**
 * Reads the output of `apt-cache depends linux-image-amd64` and returns the
 * name of the kernel image package it depends on.
 *
 * @param aptCacheOutput stdout of apt-cache
 * @returns e.g. `linux-image-6.1.0-56-amd64`, or undefined if there is none
 */
export function parseKernelDependency(aptCacheOutput: string): string | undefined {
  for (const line of aptCacheOutput.split("\n")) {
    const match = /^\s*Depends:\s*(linux-image-[0-9][^\s<>]*)\s*$/.exec(line);
    if (match) return match[1];
  }
  return undefined;
}

/**
 * Makes sure Debian's current kernel is unpacked and indexed in the cache;
 * does the work only the first time (safe to call from parallel processes).
 *
 * @param options the host programs and a progress callback
 * @returns where the kernel image and its modules are
 */
export async function ensureKernel(options: EnsureKernelOptions): Promise<Kernel> {
  const kernel = await ensurePackage(options);
  const bootImage = await ensureVmlinux({
    vmlinuz: kernel.vmlinuz,
    vmlinux: `${kernel.root}/boot/vmlinux-${kernel.version}`,
    log: options.log,
  });
  return { ...kernel, bootImage };
}

/** Downloads, unpacks and indexes the kernel package unless that was done before. */
async function ensurePackage(options: EnsureKernelOptions): Promise<Kernel> {
  const kernelsDir = `${cacheRoot()}/kernel`;
  const pkg = await findKernelPackage();
  if (pkg === undefined) {
    const cached = newestCachedKernel(kernelsDir);
    if (cached) return cached;
    throw new VmError(
      `Cannot find the guest kernel: apt-cache knows no package behind ${KERNEL_META_PACKAGE}. ` +
        "Run `apt-get update` as root, then try again.",
    );
  }
  const version = pkg.slice("linux-image-".length);
  const existing = completeKernel(kernelsDir, version);
  if (existing) return existing;

  options.log?.(`Fetching the guest kernel ${pkg} into ${kernelsDir}/${version}`);
  await Deno.mkdir(kernelsDir, { recursive: true });
  // Work in a scratch directory next to the final one and rename at the end:
  // a rename is atomic, so nobody ever sees a half-unpacked kernel.
  const scratch = await Deno.makeTempDir({ dir: kernelsDir, prefix: `.${version}.` });
  try {
    const purpose = `download the guest kernel ${pkg}`;
    await runTool("apt-get", ["download", pkg], { cwd: scratch, purpose });
    const deb = [...Deno.readDirSync(scratch)].find((e) => e.name.endsWith(".deb"));
    if (!deb) throw new VmError(`Cannot ${purpose}: apt-get download produced no .deb file.`);
    const root = `${scratch}/root`;
    await runTool("dpkg-deb", ["-x", `${scratch}/${deb.name}`, root], {
      purpose: `unpack ${deb.name}`,
    });
    await Deno.remove(`${scratch}/${deb.name}`); // 70 MB we no longer need
    linkUsrLibModules(root, version);
    await runTool(options.tools.depmod, ["-b", root, version], {
      purpose: `index the modules of kernel ${version}`,
    });
    checkKernelFiles(root, version);
    await Deno.writeTextFile(`${root}/${COMPLETE_MARKER}`, `${pkg}\n`);
    try {
      await Deno.rename(root, `${kernelsDir}/${version}`);
    } catch (error) {
      // Another process may have finished first; if so, use its copy.
      const theirs = completeKernel(kernelsDir, version);
      if (theirs) return theirs;
      // A leftover incomplete directory (e.g. an interrupted older run) is in the way.
      await Deno.remove(`${kernelsDir}/${version}`, { recursive: true }).catch(() => {});
      try {
        await Deno.rename(root, `${kernelsDir}/${version}`);
      } catch {
        throw new VmError(
          `Cannot store the guest kernel in ${kernelsDir}/${version}: ${errorText(error)}`,
        );
      }
    }
  } finally {
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
  const kernel = completeKernel(kernelsDir, version);
  if (!kernel) throw new VmError(`The guest kernel in ${kernelsDir}/${version} is incomplete.`);
  return kernel;
}

/** Asks apt which kernel package is current; runs `apt-get update` first if needed and allowed. */
async function findKernelPackage(): Promise<string | undefined> {
  const ask = async (): Promise<string | undefined> => {
    try {
      const out = await runTool("apt-cache", ["depends", KERNEL_META_PACKAGE], {
        purpose: "look up the guest kernel package",
      });
      return parseKernelDependency(out.stdout);
    } catch {
      return undefined; // no apt-cache, or no such package in the lists yet
    }
  };
  const pkg = await ask();
  if (pkg !== undefined || !isRoot()) return pkg;
  // As root we may refresh the package lists (a fresh container has none).
  await runTool("apt-get", ["update"], {
    env: { DEBIAN_FRONTEND: "noninteractive" },
    purpose: "update apt's package lists",
  }).catch(() => {});
  return await ask();
}

/** @returns the kernel if `<dir>/<version>` is complete, else undefined */
function completeKernel(kernelsDir: string, version: string): Kernel | undefined {
  const root = `${kernelsDir}/${version}`;
  try {
    Deno.statSync(`${root}/${COMPLETE_MARKER}`);
  } catch {
    return undefined;
  }
  return {
    version,
    root,
    vmlinuz: `${root}/boot/vmlinuz-${version}`,
    bootImage: `${root}/boot/vmlinuz-${version}`,
    modulesDir: `${root}/lib/modules/${version}`,
  };
}

/** @returns the complete cached kernel with the highest version, if any */
function newestCachedKernel(kernelsDir: string): Kernel | undefined {
  let names: string[];
  try {
    names = [...Deno.readDirSync(kernelsDir)].map((e) => e.name).filter((n) => !n.startsWith("."));
  } catch {
    return undefined;
  }
  names.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  for (const name of names.reverse()) {
    const kernel = completeKernel(kernelsDir, name);
    if (kernel) return kernel;
  }
  return undefined;
}

/**
 * Newer Debian packages ship modules under usr/lib/modules; depmod -b and our
 * paths expect lib/modules, so link one to the other when needed.
 */
function linkUsrLibModules(root: string, version: string): void {
  if (pathExists(`${root}/lib/modules/${version}`)) return;
  if (pathExists(`${root}/usr/lib/modules/${version}`)) {
    Deno.mkdirSync(`${root}/lib`, { recursive: true });
    Deno.symlinkSync("../usr/lib/modules", `${root}/lib/modules`);
  }
}

/** Fails unless the unpacked kernel has an image and an indexed module tree. */
function checkKernelFiles(root: string, version: string): void {
  for (const file of [`boot/vmlinuz-${version}`, `lib/modules/${version}/modules.dep`]) {
    try {
      Deno.statSync(`${root}/${file}`);
    } catch {
      throw new VmError(
        `The kernel package for ${version} has no ${file}; cannot boot it. ` +
          `Check that ${KERNEL_META_PACKAGE} is a normal Debian kernel.`,
      );
    }
  }
}
