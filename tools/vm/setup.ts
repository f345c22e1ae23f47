/**
 * Provisioning without booting: find (or, as root, install) the host programs,
 * fetch the kernel, build the initramfs. `deno task vm --setup` runs this;
 * running it ahead of time keeps the first test run from paying for it.
 *
 * @module
 */

import { ensureHostTools, type HostTools } from "./host.ts";
import { ensureInitramfs } from "./initramfs.ts";
import { ensureKernel, type Kernel } from "./kernel.ts";
import { type QemuInfo, qemuVersion } from "./qemu_version.ts";

/** What {@link setupVm} prepared. */
export interface SetupResult {
  /** The host programs. */
  readonly tools: HostTools;
  /** QEMU and its version. */
  readonly qemu: QemuInfo;
  /** The unpacked guest kernel. */
  readonly kernel: Kernel;
  /** The initramfs archive. */
  readonly initramfs: string;
}

/**
 * Prepares everything the lab VM needs; fast when all is already there.
 *
 * @param options where progress messages go
 * @returns the programs, kernel and initramfs found or made
 */
export async function setupVm(
  options: { readonly log?: (message: string) => void } = {},
): Promise<SetupResult> {
  const tools = await ensureHostTools(options);
  const qemu = { path: tools.qemu, version: await qemuVersion(tools.qemu) };
  const kernel = await ensureKernel({ tools, log: options.log });
  const initramfs = await ensureInitramfs({ kernel, tools, log: options.log });
  return { tools, qemu, kernel, initramfs };
}
