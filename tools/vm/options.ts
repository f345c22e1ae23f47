/**
 * Options of the lab VM: their defaults, their checks, and the parsing of the
 * command line of `deno task vm` (with node:util's parseArgs).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { EXIT_TIMEOUT, EXIT_USAGE, EXIT_VM_FAILURE, VmError } from "./errors.ts";
import {
  IOMMU_NIC_ADDRESS,
  IOMMU_NIC_SLOT,
  MAX_NICS,
  MAX_NICS_IOMMU,
  NIC_MODELS,
  type NicModel,
  nicSlots,
} from "./qemu.ts";

/** How the NICs are connected on the host side. */
export type NicBackendKind = "hub" | "udp";

/** Options of the lab VM; every field is optional and has a default. */
export interface VmOptions {
  /** Virtual CPUs (default 2). */
  readonly cpus?: number;
  /** Guest RAM in MiB (default 1024). */
  readonly memoryMiB?: number;
  /** 2 MiB huge pages reserved at boot (default 256, i.e. 512 MiB). */
  readonly hugepages?: number;
  /** Number of virtio NICs (default 2; at most 16). */
  readonly nics?: number;
  /** `hub`: QEMU hubs (default); `udp`: pairs of UDP sockets on 127.0.0.1. */
  readonly nicBackend?: NicBackendKind;
  /** With `hub`: the hub of each NIC (NIC i on hub `hubs[i]`; default all on hub 0). */
  readonly hubs?: readonly number[];
  /** With `udp`: the first UDP port (NIC i listens on base+i); default: free ports are picked. */
  readonly udpBasePort?: number;
  /** Seconds before QEMU is killed and the run fails (default 600). */
  readonly timeoutSeconds?: number;
  /** Also show the kernel console (boot messages) on stderr (default false). */
  readonly verbose?: boolean;
  /** Host directory the command starts in (default: the current directory). */
  readonly cwd?: string;
  /** Extra environment variables for the command. */
  readonly env?: Readonly<Record<string, string>>;
  /** Copy the command's output to our stdout as it comes (default false). */
  readonly stream?: boolean;
  /** Called with each chunk of the command's output as it comes. */
  readonly onOutput?: (chunk: Uint8Array) => void;
  /** Where progress messages of the setup go (kernel download, initramfs build). */
  readonly log?: (message: string) => void;
  /** Aborting it kills QEMU; runInVm then rejects. */
  readonly signal?: AbortSignal;
  /**
   * More QEMU `-device` values, e.g. `e1000,addr=0x1e,romfile=` for a NIC our
   * drivers do not support (tests of the "unsupported NIC" error).
   */
  readonly extraDevices?: readonly string[];
  /**
   * A q35 machine with QEMU's emulated Intel IOMMU, `intel_iommu=on`, and an
   * e1000 NIC on hub 0 whose DMA the IOMMU translates (default false). For
   * VFIO: see tools/vm/qemu.ts and src/vfio.ts.
   */
  readonly iommu?: boolean;
  /**
   * Modern virtio 1.x NICs (`disable-legacy=on,iommu_platform=on`, PCI ID
   * 1af4:1041) instead of legacy ones (default false). With {@link iommu}
   * their DMA goes through the IOMMU, so VFIO works without root; without
   * it, the driver's modern transport can be tried as root (sysfs BARs).
   */
  readonly modernNics?: boolean;
  /**
   * The model of each NIC, e.g. `["e1000", "e1000", "virtio", "virtio"]`
   * (default: all `virtio`). Without {@link nics}, its length is the number
   * of NICs. Slots: see `nicSlots` in tools/vm/qemu.ts (`vmNicAddress(i,
   * models)` gives NIC i's address).
   */
  readonly nicModels?: readonly NicModel[];
  /**
   * A host file for QEMU's `-d guest_errors,unimp` log (see `readQemuLog` in
   * tools/vm/qemu.ts): what the guest did that QEMU's device models reject.
   */
  readonly qemuLog?: string;
}

/** Default values of the numeric options. */
export const DEFAULTS = {
  cpus: 2,
  memoryMiB: 1024,
  hugepages: 256,
  nics: 2,
  nicBackend: "hub" as NicBackendKind,
  timeoutSeconds: 600,
} as const;

/** Memory the guest needs besides the huge pages: kernel, page cache and a Deno process. */
export const MIN_FREE_MIB = 384;

/** The VM settings after defaults and checks. */
export interface ResolvedVmOptions {
  /** Virtual CPUs. */
  readonly cpus: number;
  /** Guest RAM in MiB. */
  readonly memoryMiB: number;
  /** 2 MiB huge pages. */
  readonly hugepages: number;
  /** Number of NICs. */
  readonly nics: number;
  /** NIC back end. */
  readonly nicBackend: NicBackendKind;
  /** Hub of each NIC (only for `hub`; one entry per NIC). */
  readonly hubs: readonly number[];
  /** First UDP port, or undefined to pick free ones (only for `udp`). */
  readonly udpBasePort: number | undefined;
  /** Timeout in seconds. */
  readonly timeoutSeconds: number;
  /** Show the kernel console. */
  readonly verbose: boolean;
  /** q35 + intel-iommu + e1000 (see {@link VmOptions.iommu}). */
  readonly iommu: boolean;
  /** Modern virtio NICs (see {@link VmOptions.modernNics}). */
  readonly modernNics: boolean;
  /** The model of each NIC (one per NIC). */
  readonly nicModels: readonly NicModel[];
  /** QEMU's guest-error log file, if one was asked for. */
  readonly qemuLog: string | undefined;
}

/**
 * Applies defaults and checks the options; a bad one is a {@link VmError}
 * with exit code 2 that names the option and the allowed values.
 *
 * @param options the options as given
 * @returns complete, valid settings
 */
export function resolveVmOptions(options: VmOptions = {}): ResolvedVmOptions {
  const cpus = options.cpus ?? DEFAULTS.cpus;
  const memoryMiB = options.memoryMiB ?? DEFAULTS.memoryMiB;
  const hugepages = options.hugepages ?? DEFAULTS.hugepages;
  const nics = options.nics ?? options.nicModels?.length ?? DEFAULTS.nics;
  const nicBackend = options.nicBackend ?? DEFAULTS.nicBackend;
  const timeoutSeconds = options.timeoutSeconds ?? DEFAULTS.timeoutSeconds;
  checkInteger("cpus", cpus, 1, 64);
  checkInteger("memory", memoryMiB, 256, 1 << 20);
  checkInteger("hugepages", hugepages, 0, 1 << 19);
  const iommu = options.iommu ?? false;
  checkInteger("nics", nics, 0, iommu ? MAX_NICS_IOMMU : MAX_NICS);
  if (nicBackend !== "hub" && nicBackend !== "udp") {
    throw usage(`--nic-backend must be "hub" or "udp", got "${nicBackend}"`);
  }
  if (!(timeoutSeconds > 0) || !Number.isFinite(timeoutSeconds)) {
    throw usage(`--timeout must be a positive number of seconds, got ${timeoutSeconds}`);
  }
  if (memoryMiB - 2 * hugepages < MIN_FREE_MIB) {
    throw usage(
      `--hugepages ${hugepages} (${2 * hugepages} MiB) leaves less than ${MIN_FREE_MIB} MiB ` +
        `of the ${memoryMiB} MiB guest RAM for everything else: raise --memory or lower --hugepages`,
    );
  }
  let hubs: number[] = Array.from({ length: nics }, () => 0);
  if (options.hubs !== undefined) {
    if (nicBackend !== "hub") throw usage("--hubs only applies to --nic-backend hub");
    if (options.hubs.length !== nics) {
      throw usage(`--hubs needs one hub number per NIC (${nics}), got ${options.hubs.length}`);
    }
    for (const hub of options.hubs) checkInteger("hubs", hub, 0, 1 << 16);
    hubs = [...options.hubs];
  }
  const nicModels: NicModel[] = Array.from({ length: nics }, () => "virtio");
  if (options.nicModels !== undefined) {
    if (options.nicModels.length !== nics) {
      throw usage(
        `--nic-models needs one model per NIC (${nics}), got ${options.nicModels.length}`,
      );
    }
    for (const model of options.nicModels) {
      if (!NIC_MODELS.includes(model)) {
        throw usage(`--nic-models: unknown model "${model}", use one of ${NIC_MODELS.join(", ")}`);
      }
    }
    nicModels.splice(0, nics, ...options.nicModels);
    try {
      nicSlots(nicModels, iommu ? IOMMU_NIC_SLOT - 1 : 0x1f);
    } catch (error) {
      throw usage(`--nic-models: ${(error as Error).message}`);
    }
  }
  if (options.udpBasePort !== undefined) {
    if (nicBackend !== "udp") throw usage("--udp-port only applies to --nic-backend udp");
    checkInteger("udp-port", options.udpBasePort, 1024, 65535 - MAX_NICS);
  }
  return {
    cpus,
    memoryMiB,
    hugepages,
    nics,
    nicBackend,
    hubs,
    udpBasePort: options.udpBasePort,
    timeoutSeconds,
    verbose: options.verbose ?? false,
    iommu,
    modernNics: options.modernNics ?? false,
    nicModels,
    qemuLog: options.qemuLog,
  };
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw usage(`--${name} must be a whole number from ${min} to ${max}, got ${value}`);
  }
}

function usage(message: string): VmError {
  return new VmError(`${message}. See: deno task vm --help`, EXIT_USAGE);
}

/** What the command line asks for. */
export type CliRequest =
  /** Print the help text. */
  | { readonly kind: "help" }
  /** Only download the kernel and build the initramfs. */
  | { readonly kind: "setup"; readonly verbose: boolean }
  /** Boot and run `command`. */
  | { readonly kind: "run"; readonly command: string; readonly options: VmOptions };

/** The text of `deno task vm --help`. */
export const HELP: string = `Usage: deno task vm [options] -- <command>

Boots a small QEMU virtual machine (software emulation, no KVM needed) with
Debian's kernel, runs <command> in it with /bin/sh, streams its output here
and exits with its exit code. The guest sees the host's files read-only at
the same paths and starts in the current directory; /tmp is a RAM disk.

Inside the guest: PATH includes Deno's directory, IXY_VM=1, IXY_DENO=<deno
binary>, HOME=/tmp, DENO_DIR=/tmp/deno-dir (empty). Use
  deno run -A --no-check script.ts
there: --no-check skips type checking, which is slow under emulation.

The NICs: N virtio-net NICs (legacy interface, I/O-port BAR0) at PCI
0000:00:10.0, 0000:00:11.0, ... (NIC i in slot 0x10+i) with MACs
02:69:78:79:00:ii, driven by the kernel as eth0, eth1, ... until a driver
unbinds them (other models: --nic-models). They are never connected to the
host's network.

Options:
  --cpus N           virtual CPUs (default ${DEFAULTS.cpus})
  --memory MIB       guest RAM in MiB (default ${DEFAULTS.memoryMiB})
  --hugepages N      2 MiB huge pages reserved at boot, mounted at
                     /dev/hugepages (default ${DEFAULTS.hugepages})
  --nics N           number of NICs, 0 to ${MAX_NICS} (default ${DEFAULTS.nics})
  --nic-backend K    hub: NICs plug into QEMU-internal hubs (default); a frame
                          sent by one NIC reaches all other NICs on its hub.
                     udp: NICs are cabled in pairs (0-1, 2-3, ...) over UDP
                          sockets on 127.0.0.1; NIC i listens on port base+i.
  --hubs H0,H1,...   hub of each NIC, e.g. 0,0,1,1 puts NICs 0,1 on hub 0 and
                     NICs 2,3 on hub 1 (default: all on hub 0)
  --udp-port BASE    first UDP port for --nic-backend udp (default: free ports)
  --env KEY=VALUE    extra environment variable for the command (repeatable)
  --timeout S        kill the VM and fail after S seconds (default ${DEFAULTS.timeoutSeconds})
  --iommu            a q35 machine with QEMU's Intel IOMMU (intel_iommu=on) for
                     VFIO, at most ${MAX_NICS_IOMMU} NICs, plus an e1000 NIC at
                     ${IOMMU_NIC_ADDRESS} on hub 0 whose DMA the IOMMU translates
                     (the legacy virtio NICs bypass it). Load VFIO in the
                     guest with: modprobe vfio-pci
  --nic-models M0,M1,...
                     the model of each NIC (default: all virtio), one of
                     ${NIC_MODELS.join(", ")}; sets --nics if that is not given.
                     e1000: Intel 82540EM (8086:100e), e1000-82545em: 82545EM
                     (8086:100f), igb: Intel 82576 (QEMU 8.0 or newer),
                     rtl8139: Realtek (no ixy.ts driver). The kernel drives
                     only the virtio NICs at boot (modprobe e1000 / igb for
                     the others). An igb NIC sits in a slot below 0x10 (QEMU
                     keeps the slots 16 and 17 above it for its VFs) and the
                     others skip those slots: vmNicAddress(i, models) in
                     tools/vm/mod.ts says where each one is.
  --qemu-log FILE    QEMU logs guest errors (-d guest_errors,unimp) to FILE:
                     the guest's driver did something the device model calls
                     wrong. Empty or missing file = none.
  --modern-nics      modern virtio 1.x NICs (1af4:1041, disable-legacy=on,
                     iommu_platform=on) instead of legacy ones: with --iommu
                     their DMA goes through the IOMMU, so VFIO needs no root
  --verbose          also show the guest's kernel console on stderr
  --setup            only fetch the kernel and build the initramfs, then exit
  --help             show this text

Exit code: the command's; ${EXIT_USAGE} for bad options, ${EXIT_TIMEOUT} on timeout, ${EXIT_VM_FAILURE} when the VM
itself failed (the tail of the kernel console is printed).

Examples:
  deno task vm -- 'uname -r; ip link'
  deno task vm --nics 4 --hubs 0,0,1,1 -- '$IXY_DENO run -A --no-check app.ts'
`;

/**
 * Parses the arguments of `deno task vm`. Everything after `--` is the
 * command (words are joined with spaces, like ssh does); without `--`, the
 * words that are not options are.
 *
 * @param args the arguments, e.g. `Deno.args`
 * @returns what to do
 */
export function parseCliArgs(args: readonly string[]): CliRequest {
  const dashDash = args.indexOf("--");
  const optionArgs = dashDash === -1 ? [...args] : args.slice(0, dashDash);
  let parsed;
  try {
    parsed = parseArgs({
      args: optionArgs,
      allowPositionals: true,
      strict: true,
      options: {
        cpus: { type: "string" },
        memory: { type: "string" },
        hugepages: { type: "string" },
        nics: { type: "string" },
        "nic-backend": { type: "string" },
        hubs: { type: "string" },
        "udp-port": { type: "string" },
        env: { type: "string", multiple: true },
        timeout: { type: "string" },
        verbose: { type: "boolean" },
        iommu: { type: "boolean" },
        "modern-nics": { type: "boolean" },
        "nic-models": { type: "string" },
        "qemu-log": { type: "string" },
        setup: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    // parseArgs' messages are clear but long; keep the first sentence.
    const text = error instanceof Error ? error.message.split(". ")[0] : String(error);
    throw usage(text.replace(/\.$/, ""));
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: "help" };
  if (values.setup) return { kind: "setup", verbose: values.verbose ?? false };
  const words = dashDash === -1 ? positionals : [...positionals, ...args.slice(dashDash + 1)];
  const command = words.join(" ");
  if (command.trim() === "") throw usage("no command given; put it after --");
  const nicBackend = values["nic-backend"];
  if (nicBackend !== undefined && nicBackend !== "hub" && nicBackend !== "udp") {
    throw usage(`--nic-backend must be "hub" or "udp", got "${nicBackend}"`);
  }
  const options: VmOptions = {
    cpus: number("cpus", values.cpus),
    memoryMiB: number("memory", values.memory),
    hugepages: number("hugepages", values.hugepages),
    nics: number("nics", values.nics),
    nicBackend,
    hubs: values.hubs === undefined
      ? undefined
      : values.hubs.split(",").map((h) => number("hubs", h.trim()) ?? NaN),
    udpBasePort: number("udp-port", values["udp-port"]),
    timeoutSeconds: number("timeout", values.timeout, true),
    verbose: values.verbose ?? false,
    iommu: values.iommu ?? false,
    modernNics: values["modern-nics"] ?? false,
    nicModels: values["nic-models"]?.split(",").map((m) => m.trim() as NicModel),
    qemuLog: values["qemu-log"],
    env: parseEnv(values.env ?? []),
  };
  resolveVmOptions(options); // report bad values now, before any work
  return { kind: "run", command, options };
}

/** Parses a number option: whole numbers only, unless `decimal`. */
function number(name: string, text: string | undefined, decimal = false): number | undefined {
  if (text === undefined) return undefined;
  const pattern = decimal ? /^\d+(\.\d+)?$/ : /^\d+$/;
  if (!pattern.test(text)) {
    throw usage(`--${name} must be a ${decimal ? "" : "whole "}number, got "${text}"`);
  }
  return Number(text);
}

/** Parses `KEY=VALUE` words into an object. */
function parseEnv(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(pair);
    if (!match) throw usage(`--env wants KEY=VALUE, got "${pair}"`);
    env[match[1]] = match[2];
  }
  return env;
}
