/**
 * The QEMU command line of the lab VM, built by a pure function so that it can
 * be read, tested and explained flag by flag.
 *
 * The machine: an emulated PC (TCG, no KVM) with no disk, no display, no
 * default devices. It boots the Debian kernel directly (no boot loader), sees
 * the host's files through two 9p shares and has N virtio NICs wired to QEMU
 * hubs or UDP sockets on 127.0.0.1, never to the host's network.
 *
 * @module
 */

/** The most NICs: PCI slots 0x10..0x1f on bus 0. */
export const MAX_NICS = 16;

/** PCI slot of NIC 0; NIC i sits in slot `FIRST_NIC_SLOT + i`. */
export const FIRST_NIC_SLOT = 0x10;

/**
 * With {@link QemuSpec.iommu}: the most virtio NICs (slots 0x10..0x1d), since
 * q35 keeps slot 0x1f for its ISA bridge and {@link IOMMU_NIC_SLOT} is 0x1e.
 */
export const MAX_NICS_IOMMU = 14;

/**
 * With {@link QemuSpec.iommu}: the slot of an Intel e1000 (82540EM) NIC on
 * hub 0. QEMU's legacy virtio NICs (the default; see {@link QemuSpec.modernNics}) bypass the IOMMU (a legacy device cannot
 * offer VIRTIO_F_ACCESS_PLATFORM, virtio 1.1 section 6.1, and QEMU refuses
 * `iommu_platform=on` for it), so this NIC is the one whose DMA the IOMMU
 * really translates — for tests that an unmapped address faults.
 */
export const IOMMU_NIC_SLOT = 0x1e;

/** The PCI address of the e1000 of {@link IOMMU_NIC_SLOT}: `0000:00:1e.0`. */
export const IOMMU_NIC_ADDRESS = "0000:00:1e.0";

/** The MAC address of the e1000 of {@link IOMMU_NIC_SLOT}. */
export const IOMMU_NIC_MAC = "02:69:78:79:01:00";

/** PCI slots of the two 9p devices (fixed, so they never move the NICs). */
export const NINEP_SLOTS = { hostroot: 0x08, ixyrun: 0x09 } as const;

/**
 * The PCI address the guest sees for NIC `i` (domain:bus:slot.function), the
 * name of its directory in /sys/bus/pci/devices and what our driver takes.
 *
 * @param index NIC number, from 0
 * @returns e.g. `0000:00:10.0` for NIC 0, `0000:00:11.0` for NIC 1
 */
export function vmNicAddress(index: number): string {
  checkNicIndex(index);
  return `0000:00:${(FIRST_NIC_SLOT + index).toString(16).padStart(2, "0")}.0`;
}

/**
 * The fixed MAC address of NIC `i`: `02:69:78:79:00:ii`. The first byte 0x02
 * marks a locally administered unicast address (never sold to a vendor); the
 * next three spell "ixy" in ASCII.
 *
 * @param index NIC number, from 0
 * @returns e.g. `02:69:78:79:00:00` for NIC 0
 */
export function vmNicMac(index: number): string {
  checkNicIndex(index);
  return `02:69:78:79:00:${index.toString(16).padStart(2, "0")}`;
}

function checkNicIndex(index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_NICS) {
    throw new RangeError(`NIC index must be an integer from 0 to ${MAX_NICS - 1}, got ${index}`);
  }
}

/** What one NIC is plugged into on the host side. */
export type NicBackend =
  /** A port of QEMU hub `hub`: every frame sent is copied to all other ports of that hub. */
  | { readonly kind: "hub"; readonly hub: number }
  /** A UDP socket: frames go to 127.0.0.1:`remotePort`, come in on 127.0.0.1:`localPort`. */
  | { readonly kind: "udp"; readonly localPort: number; readonly remotePort: number };

/**
 * Ports for the UDP back end: NICs are cabled in pairs (0↔1, 2↔3, ...). NIC i
 * listens on `base + i` and sends to its partner `base + (i XOR 1)`. With an
 * odd count the last NIC's partner port is free for a host program to use.
 *
 * @param nics number of NICs
 * @param basePort first UDP port
 * @returns one UDP back end per NIC
 */
export function udpPairBackends(nics: number, basePort: number): NicBackend[] {
  return Array.from({ length: nics }, (_, i) => ({
    kind: "udp" as const,
    localPort: basePort + i,
    remotePort: basePort + (i ^ 1),
  }));
}

/** Everything {@link qemuArgs} needs to know. */
export interface QemuSpec {
  /** The kernel image (`vmlinuz`). */
  readonly kernel: string;
  /** The initramfs archive. */
  readonly initramfs: string;
  /** The kernel command line, see {@link kernelCommandLine}. */
  readonly append: string;
  /** Number of virtual CPUs. */
  readonly cpus: number;
  /** Guest RAM in MiB. */
  readonly memoryMiB: number;
  /** The per-run host directory shared (writable) as 9p tag `ixyrun`. */
  readonly runDir: string;
  /** One back end per NIC; NIC i gets `backends[i]`. */
  readonly nics: readonly NicBackend[];
  /** More `-device` values (not connected to any network). */
  readonly extraDevices?: readonly string[];
  /**
   * An emulated Intel IOMMU (VT-d) on a q35 machine, and the e1000 NIC of
   * {@link IOMMU_NIC_SLOT}; the kernel needs `intel_iommu=on` (see
   * {@link kernelCommandLine}). Default false: the i440FX PC without IOMMU.
   */
  readonly iommu?: boolean;
  /**
   * Modern virtio 1.x NICs (`disable-legacy=on,iommu_platform=on`, PCI ID
   * 1af4:1041) instead of legacy ones: registers in a memory BAR described by
   * virtio capabilities (virtio 1.1 section 4.1.4), and VIRTIO_F_ACCESS_PLATFORM
   * offered, so with {@link iommu} their DMA goes through the IOMMU (section
   * 6.1) and VFIO can hand them to a normal user. Default false.
   */
  readonly modernNics?: boolean;
}

/**
 * Builds the arguments of `qemu-system-x86_64` (without the program name).
 *
 * The guest's serial ports: ttyS0 (kernel console) goes to QEMU's stderr and
 * ttyS1 (the command's output) to QEMU's stdout; the caller pipes both.
 *
 * @param spec kernel, initramfs, sizes, run directory and NICs
 * @returns the argument list
 */
export function qemuArgs(spec: QemuSpec): string[] {
  const args: string[] = [];
  // One flag and its value per call, so that each line reads like the shell.
  const add = (...words: string[]): void => {
    args.push(...words);
  };
  // Name shown in `ps` and in QEMU's messages.
  add("-name", "ixy-lab-vm");
  // The classic i440FX PC: plain PCI bus 0, slots 0x03..0x1f free for us.
  // i8042=off drops the PS/2 controller (saves the kernel probing it).
  // With an IOMMU: q35 instead, the PC that QEMU's intel-iommu needs (see
  // IOMMU_DEVICE); its split irqchip is what interrupt remapping requires, and
  // smbus/sata off keep slot 0x1f to the ISA bridge alone.
  add(
    "-machine",
    spec.iommu ? "q35,kernel-irqchip=split,i8042=off,smbus=off,sata=off" : "pc,i8042=off",
  );
  // TCG: QEMU translates x86 code itself (no KVM), one host thread per vCPU.
  add("-accel", "tcg");
  // The emulated CPU with every feature TCG can emulate (SSE4, AVX2, ...).
  add("-cpu", "max");
  add("-smp", String(spec.cpus));
  add("-m", `${spec.memoryMiB}M`);
  // No default devices (no VGA, no default NIC wired to the host's network,
  // no floppy or CD-ROM, no monitor), no config files, no window.
  add("-nodefaults", "-no-user-config", "-display", "none");
  // A guest reboot ends QEMU instead (with panic=-1, a kernel panic does too).
  add("-no-reboot");
  // Boot Linux directly: QEMU loads kernel and initramfs into RAM itself (no
  // boot loader). An ELF vmlinux boots through its PVH entry point, a bzImage
  // through QEMU's linuxboot ROM.
  add("-kernel", spec.kernel);
  add("-initrd", spec.initramfs);
  add("-append", spec.append);
  // Serial port 1 (ttyS0, the kernel console) -> QEMU's stderr.
  add("-chardev", "file,id=console,path=/dev/stderr");
  add("-serial", "chardev:console");
  // Serial port 2 (ttyS1, the command's output) -> QEMU's stdout.
  // signal=off: a ^C byte is just a byte, not a reason for QEMU to quit.
  add("-chardev", "stdio,id=output,signal=off");
  add("-serial", "chardev:output");
  // The host's / as 9p share "hostroot", read-only. security_model=none:
  // files keep the host's owners and modes, and QEMU does not try to map
  // them. multidevs=remap keeps inode numbers unique although / spans
  // several host file systems.
  // The IOMMU comes before every PCI device: one created earlier would not see it.
  if (spec.iommu) add("-device", IOMMU_DEVICE);
  add("-fsdev", "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap");
  add(
    "-device",
    `virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot,addr=${hex(NINEP_SLOTS.hostroot)}`,
  );
  // The per-run directory as 9p share "ixyrun", writable.
  // (A comma in a QEMU option value is written as two commas.)
  add("-fsdev", `local,id=ixyrun,path=${spec.runDir.replaceAll(",", ",,")},security_model=none`);
  add("-device", `virtio-9p-pci,fsdev=ixyrun,mount_tag=ixyrun,addr=${hex(NINEP_SLOTS.ixyrun)}`);
  for (const [i, backend] of spec.nics.entries()) {
    add("-netdev", netdev(i, backend));
    // A transitional virtio NIC with the legacy interface only
    // (disable-modern=on): registers in I/O-port BAR0. Or, with modernNics, a
    // virtio 1.x NIC without the legacy interface (disable-legacy=on, PCI ID
    // 1af4:1041; registers in memory BAR4) whose DMA follows the platform's
    // IOMMU (iommu_platform=on: it offers VIRTIO_F_ACCESS_PLATFORM; with
    // intel-iommu that alone routes its DMA through the IOMMU, ats=on would
    // only add a device IOTLB). The kernel's virtio_net drives both kinds.
    // Fixed slot and MAC so tests know them; romfile= skips the PXE boot ROM.
    add(
      "-device",
      `virtio-net-pci,netdev=net${i},mac=${vmNicMac(i)},addr=${hex(FIRST_NIC_SLOT + i)}` +
        (spec.modernNics
          ? ",disable-legacy=on,disable-modern=off,iommu_platform=on"
          : ",disable-modern=on") +
        ",romfile=",
    );
  }
  for (const device of spec.extraDevices ?? []) add("-device", device);
  if (spec.iommu) {
    // The e1000 on hub 0 whose DMA the IOMMU translates (IOMMU_NIC_SLOT).
    add("-netdev", "hubport,id=iommunic,hubid=0");
    add(
      "-device",
      `e1000,netdev=iommunic,mac=${IOMMU_NIC_MAC},addr=${hex(IOMMU_NIC_SLOT)},romfile=`,
    );
  }
  return args;
}

/**
 * QEMU's emulated Intel VT-d: interrupt remapping on (VFIO wants the MSI-X of
 * a device in user space remapped), caching mode (the guest reports every
 * new mapping, so QEMU can follow them) and 48-bit IOVAs (the default 39
 * bits cannot hold the user-space addresses VFIO maps at IOVA = virtual).
 */
const IOMMU_DEVICE = "intel-iommu,intremap=on,caching-mode=on,aw-bits=48";

/** The `-netdev` value for NIC `i`. */
function netdev(i: number, backend: NicBackend): string {
  switch (backend.kind) {
    case "hub":
      // A port on a QEMU-internal hub: frames reach only the other ports of
      // the same hub, i.e. other NICs of this VM. Nothing leaves QEMU.
      return `hubport,id=net${i},hubid=${backend.hub}`;
    case "udp":
      // Each frame is one UDP datagram on 127.0.0.1 (loopback only).
      return `socket,id=net${i},udp=127.0.0.1:${backend.remotePort},` +
        `localaddr=127.0.0.1:${backend.localPort}`;
  }
}

/** Formats a PCI slot number as QEMU's `addr=` wants it, e.g. `0x10`. */
function hex(slot: number): string {
  return `0x${slot.toString(16).padStart(2, "0")}`;
}

/** Settings that go on the kernel command line. */
export interface KernelCommandLineSpec {
  /** Number of 2 MiB huge pages to reserve at boot. */
  readonly hugepages: number;
  /** Print all kernel messages (true) or only warnings and errors (false). */
  readonly verbose: boolean;
  /** Turn on the emulated Intel IOMMU (`intel_iommu=on`); default false. */
  readonly iommu?: boolean;
}

/**
 * Builds the kernel command line.
 *
 * @param spec huge pages and verbosity
 * @returns the `-append` string
 */
export function kernelCommandLine(spec: KernelCommandLineSpec): string {
  return [
    // Kernel messages on the first serial port.
    "console=ttyS0",
    // Quiet boots faster: every console line costs time under emulation.
    spec.verbose ? "" : "quiet",
    // Reserve huge pages now, while memory is not yet fragmented.
    "default_hugepagesz=2M",
    "hugepagesz=2M",
    `hugepages=${spec.hugepages}`,
    // Debian zeroes every page when it is allocated (a hardening): under TCG,
    // reserving 512 MiB of huge pages alone then takes 2 s. Pages handed to
    // programs are still zeroed (huge pages when first touched).
    "init_on_alloc=0",
    // On a panic reboot at once, which -no-reboot turns into QEMU exiting.
    "panic=-1",
    // No Spectre/Meltdown workarounds: costly under TCG, useless in a lab VM.
    "mitigations=off",
    // Trust the emulated TSC; skips a clock check that is slow under TCG.
    "tsc=reliable",
    // The IOMMU (QEMU's intel-iommu, see qemuArgs): Debian's kernel leaves it
    // off unless asked; VFIO needs it to isolate a device's DMA.
    spec.iommu ? "intel_iommu=on" : "",
    // With interrupt remapping the kernel tests the timer through the
    // remapped IO-APIC and panics when the (slow, emulated) timer misses its
    // window ("timer doesn't work through Interrupt-remapped IO-APIC"); the
    // usual VM setting skips that test.
    spec.iommu ? "no_timer_check" : "",
  ].filter((word) => word !== "").join(" ");
}
