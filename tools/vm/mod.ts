/**
 * The lab VM of ixy.ts, for tests and tools: a QEMU virtual machine (pure
 * emulation, no KVM) with Debian's kernel and virtio NICs, in which a user-space
 * driver can take real (emulated) PCI devices without touching the host.
 *
 * ```ts
 * import { runInVm, vmNicAddress } from "../tools/vm/mod.ts";
 * const result = await runInVm(`$IXY_DENO run -A --no-check app.ts ${vmNicAddress(0)}`);
 * console.log(result.code, result.output);
 * ```
 *
 * The CLI on top of this is tools/vm/main.ts (`deno task vm --help`).
 *
 * @module
 */

export { runInVm, type VmResult } from "./run_vm.ts";
export { DEFAULTS, type NicBackendKind, type VmOptions } from "./options.ts";
export {
  IOMMU_NIC_ADDRESS,
  IOMMU_NIC_MAC,
  MAX_NICS,
  MAX_NICS_IOMMU,
  NIC_MODELS,
  type NicModel,
  nicSlots,
  readQemuLog,
  vmNicAddress,
  vmNicMac,
} from "./qemu.ts";
export { ensureKernel, type EnsureKernelOptions, type Kernel } from "./kernel.ts";
export { ensureInitramfs, type EnsureInitramfsOptions } from "./initramfs.ts";
export { ensureHostTools, type EnsureHostToolsOptions, type HostTools, QEMU_ENV } from "./host.ts";
export { EXIT_TIMEOUT, EXIT_USAGE, EXIT_VM_FAILURE, VmError } from "./errors.ts";
export { type SetupResult, setupVm } from "./setup.ts";
export {
  DEVICE_MIN_QEMU,
  type QemuInfo,
  type QemuRequirement,
  qemuVersion,
  requireQemu,
} from "./qemu_version.ts";
