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
 * The NIC models the lab VM can give a NIC (QEMU's `-device` names, except
 * `virtio`, which is `virtio-net-pci`):
 *
 * - `virtio`: virtio-net, legacy or (with {@link QemuSpec.modernNics}) modern;
 *   the kernel's virtio_net drives it at boot.
 * - `e1000`: Intel 82540EM (8086:100e), QEMU's default NIC; `e1000-82545em`:
 *   Intel 82545EM (8086:100f). The kernel's e1000 driver is not loaded at
 *   boot (`modprobe e1000` to make the kernel a peer on such a NIC).
 * - `igb`: Intel 82576 (8086:10c9, QEMU 8.0 or newer). QEMU models its SR-IOV:
 *   the PF reserves slots +16 and +17 of its own for its VFs, see {@link nicSlots}.
 * - `rtl8139`: Realtek RTL8139 (10ec:8139), a NIC none of our drivers takes
 *   (for the tests of the "unsupported NIC" error).
 */
export type NicModel = "virtio" | "e1000" | "e1000-82545em" | "igb" | "rtl8139";

/** Every {@link NicModel}, for checks and help texts. */
export const NIC_MODELS: readonly NicModel[] = [
  "virtio",
  "e1000",
  "e1000-82545em",
  "igb",
  "rtl8139",
];

/**
 * QEMU's igb (hw/net/igb.c) puts the VFs of a PF at slot `s` at device/function
 * numbers 0x80 + 2k above the PF's, k = 0..7: slots `s + 16` and `s + 17`. QEMU
 * reserves them when the PF is created, so no other device may sit there, and a
 * PF above slot 0x0e fails ("VF addr overflows": bus 0 has 32 slots).
 */
const IGB_VF_SLOT_OFFSETS = [16, 17] as const;

/** Slots an igb PF may take: below 0x0f (see above), not 0..2 (host/ISA bridges) nor the 9p slots. */
const IGB_PF_SLOTS = [0x03, 0x04, 0x05, 0x06, 0x07, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e] as const;

/**
 * The PCI slot of each NIC on bus 0, the one place that decides them. Without
 * igb NICs, NIC i sits in slot `0x10 + i` (0x10, 0x11, ...). An igb NIC takes
 * the lowest slot of {@link IGB_PF_SLOTS} whose two VF slots (+16, +17; see
 * {@link IGB_VF_SLOT_OFFSETS}) are still free, and every other NIC takes the
 * lowest free slot from 0x10 up, skipping the ones igb VFs hold. E.g.
 * `igb, igb, virtio` gives 0x03 (VFs 0x13, 0x14), 0x05 (VFs 0x15, 0x16), 0x10.
 *
 * @param models the model of each NIC, in NIC order
 * @param topSlot the highest slot NICs may use (0x1f; lower on q35, whose ISA
 *   bridge sits in 0x1f)
 * @returns the slot of each NIC
 * @throws RangeError when the NICs do not fit on bus 0
 */
export function nicSlots(models: readonly NicModel[], topSlot = 0x1f): number[] {
  const taken = new Set<number>();
  const slots: number[] = new Array(models.length);
  // igb first: their VF slots constrain where everything else can go.
  for (const [i, model] of models.entries()) {
    if (model !== "igb") continue;
    const pf = IGB_PF_SLOTS.find((slot) =>
      !taken.has(slot) &&
      IGB_VF_SLOT_OFFSETS.every((o) => slot + o <= topSlot && !taken.has(slot + o))
    );
    if (pf === undefined) {
      throw new RangeError(`NIC ${i}: no PCI slot left for another igb NIC (and its VFs)`);
    }
    slots[i] = pf;
    taken.add(pf);
    for (const o of IGB_VF_SLOT_OFFSETS) taken.add(pf + o);
  }
  let next = FIRST_NIC_SLOT;
  for (const [i, model] of models.entries()) {
    if (model === "igb") continue;
    while (taken.has(next)) next++;
    if (next > topSlot) {
      throw new RangeError(`NIC ${i}: no PCI slot left on bus 0 (slots 0x10..${hex(topSlot)})`);
    }
    slots[i] = next;
    taken.add(next);
  }
  return slots;
}

/**
 * The PCI address the guest sees for NIC `i` (domain:bus:slot.function), the
 * name of its directory in /sys/bus/pci/devices and what our driver takes.
 *
 * @param index NIC number, from 0
 * @param models the model of every NIC of the VM, as given to it (default:
 *   all virtio, where NIC i sits in slot 0x10+i); see {@link nicSlots}
 * @returns e.g. `0000:00:10.0` for NIC 0, `0000:00:11.0` for NIC 1
 */
export function vmNicAddress(index: number, models?: readonly NicModel[]): string {
  checkNicIndex(index);
  const slot = models === undefined ? FIRST_NIC_SLOT + index : nicSlots(models)[index];
  if (slot === undefined) {
    throw new RangeError(`NIC index ${index} is past the ${models?.length} NICs given`);
  }
  return `0000:00:${slot.toString(16).padStart(2, "0")}.0`;
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
  /**
   * The model of each NIC (one per entry of {@link nics}; default all
   * `virtio`). Slots follow {@link nicSlots}.
   */
  readonly nicModels?: readonly NicModel[];
  /**
   * A host file for QEMU's own log of what the guest did wrong: `-d
   * guest_errors,unimp` (a driver touching registers or descriptors in a way
   * the device model rejects, or using a feature the model lacks) goes there.
   * Tests read it with {@link readQemuLog} and expect no line.
   */
  readonly qemuLog?: string;
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
  const models = spec.nicModels ?? spec.nics.map(() => "virtio" as const);
  if (models.length !== spec.nics.length) {
    throw new RangeError(`nicModels has ${models.length} entries for ${spec.nics.length} NICs`);
  }
  // q35 (the IOMMU machine) keeps slot 0x1f for its ISA bridge and 0x1e for
  // its e1000 (IOMMU_NIC_SLOT).
  const slots = nicSlots(models, spec.iommu ? IOMMU_NIC_SLOT - 1 : 0x1f);
  for (const [i, backend] of spec.nics.entries()) {
    add("-netdev", netdev(i, backend));
    add("-device", nicDevice(models[i], i, slots[i], spec.modernNics ?? false));
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
  if (spec.qemuLog !== undefined) {
    // QEMU's log: guest_errors = the guest did something the device model
    // calls wrong (e.g. a register written with a reserved value, DMA from a
    // bad address); unimp = it used something the model does not implement.
    add("-d", "guest_errors,unimp", "-D", spec.qemuLog);
  }
  return args;
}

/**
 * The `-device` value of NIC `i`: fixed slot and MAC so tests know them;
 * `romfile=` skips the PXE boot ROM (nothing boots from the network here).
 */
function nicDevice(model: NicModel, i: number, slot: number, modern: boolean): string {
  const common = `netdev=net${i},mac=${vmNicMac(i)},addr=${hex(slot)}`;
  switch (model) {
    case "virtio":
      // A transitional virtio NIC with the legacy interface only
      // (disable-modern=on): registers in I/O-port BAR0. Or, with modernNics, a
      // virtio 1.x NIC without the legacy interface (disable-legacy=on, PCI ID
      // 1af4:1041; registers in memory BAR4) whose DMA follows the platform's
      // IOMMU (iommu_platform=on: it offers VIRTIO_F_ACCESS_PLATFORM; with
      // intel-iommu that alone routes its DMA through the IOMMU, ats=on would
      // only add a device IOTLB). The kernel's virtio_net drives both kinds.
      return `virtio-net-pci,${common}` +
        (modern
          ? ",disable-legacy=on,disable-modern=off,iommu_platform=on"
          : ",disable-modern=on") +
        ",romfile=";
    case "e1000":
    case "e1000-82545em":
    case "igb":
    case "rtl8139":
      // QEMU's models of Intel 82540EM / 82545EM / 82576 and Realtek RTL8139.
      return `${model},${common},romfile=`;
  }
}

/**
 * The lines of a QEMU log written with {@link QemuSpec.qemuLog}: each one a
 * guest error or an unimplemented feature the guest used. A missing file
 * (QEMU logged nothing and never created it) is no lines.
 *
 * @param path the log file
 * @returns its non-empty lines
 */
export function readQemuLog(path: string): string[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return text.split("\n").filter((line) => line.trim() !== "");
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
    // Keep time with the TSC. TCG's `-cpu max` is an AMD without constant_tsc,
    // so with 2 CPUs the kernel would mark the TSC unstable at boot ("TSCs
    // unsynchronized") and use the HPET, whose reads cost 4-5x more under TCG
    // (clock_gettime 1.5-2.3 us instead of 0.4-0.5 us). It also turns off
    // the clocksource watchdog, so a wrong TSC rate would go unnoticed:
    // run_vm.ts checks the guest's clock against the host's (guest_clock.ts).
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
