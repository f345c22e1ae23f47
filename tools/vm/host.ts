/**
 * Everything the lab VM needs from the host machine: where its cache lives,
 * which programs it runs (QEMU, busybox, cpio, kmod, apt) and how to run them.
 *
 * The lab VM never changes the host's own system (no /boot, no /lib/modules):
 * all it keeps is under `$XDG_CACHE_HOME/ixy-ts` (default `~/.cache/ixy-ts`).
 *
 * @module
 */

import { VmError } from "./errors.ts";
import {
  applyInstallPlan,
  BACKPORTS,
  describePlan,
  type HostFacts,
  type InstallPlan,
  type InstallSystem,
  manualInstallMessage,
  parseIndexTargets,
  parseOsRelease,
  planInstall,
  QEMU_PACKAGE,
} from "./install.ts";

/** The Debian packages that provide the host programs the lab VM uses. */
export const HOST_PACKAGES: readonly string[] = [
  "qemu-system-x86",
  "busybox-static",
  "cpio",
  "kmod",
];

/** Absolute paths of the host programs the lab VM uses. */
export interface HostTools {
  /** QEMU's PC emulator, `qemu-system-x86_64`. */
  readonly qemu: string;
  /** A statically linked busybox (it has to run inside the initramfs, with no libc there). */
  readonly busybox: string;
  /** GNU cpio, to pack the initramfs. */
  readonly cpio: string;
  /** kmod's `modprobe`, to list the modules the initramfs must load, in order. */
  readonly modprobe: string;
  /** kmod's `depmod`, to index the modules of the downloaded kernel. */
  readonly depmod: string;
}

/** Directories searched for programs besides `$PATH` (sbin is often missing for non-root). */
const EXTRA_BIN_DIRS = [
  "/usr/local/sbin",
  "/usr/local/bin",
  "/usr/sbin",
  "/usr/bin",
  "/sbin",
  "/bin",
];

/**
 * The lab VM's cache directory: `$XDG_CACHE_HOME/ixy-ts`, or `~/.cache/ixy-ts`.
 *
 * @returns an absolute path (it may not exist yet)
 */
export function cacheRoot(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg && xdg.startsWith("/")) return `${xdg}/ixy-ts`;
  const home = Deno.env.get("HOME");
  if (!home) {
    throw new VmError(
      "Cannot find a cache directory for the lab VM: neither XDG_CACHE_HOME nor HOME is set. " +
        "Set one of them, e.g. export XDG_CACHE_HOME=$PWD/.cache",
    );
  }
  return `${home}/.cache/ixy-ts`;
}

/** @returns true when this process runs as root (uid 0). */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/**
 * Looks a program up in `$PATH` and the usual sbin/bin directories.
 *
 * @param name program name, e.g. `"cpio"`
 * @returns its absolute path, or undefined if there is no executable file of that name
 */
export function findExecutable(name: string): string | undefined {
  const pathDirs = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d.startsWith("/"));
  for (const dir of [...pathDirs, ...EXTRA_BIN_DIRS]) {
    const candidate = `${dir}/${name}`;
    try {
      const info = Deno.statSync(candidate);
      if (info.isFile && ((info.mode ?? 0o755) & 0o111) !== 0) return candidate;
    } catch {
      // not there: try the next directory
    }
  }
  return undefined;
}

/**
 * Tells whether an ELF executable is statically linked, i.e. has no `PT_INTERP`
 * program header (the header that names the dynamic loader, ld-linux.so).
 *
 * @param elf the first bytes of the file (the ELF and program headers; 64 KiB is plenty)
 * @returns true for a static 64-bit little-endian ELF, false otherwise
 */
export function isStaticElf(elf: Uint8Array): boolean {
  const isElf = elf[0] === 0x7f && elf[1] === 0x45 && elf[2] === 0x4c && elf[3] === 0x46;
  // EI_CLASS 2 = 64-bit, EI_DATA 1 = little-endian: what x86-64 uses.
  if (elf.length < 64 || !isElf || elf[4] !== 2 || elf[5] !== 1) return false;
  const view = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const phoff = Number(view.getBigUint64(0x20, true)); // where the program headers start
  const phentsize = view.getUint16(0x36, true); // size of one program header
  const phnum = view.getUint16(0x38, true); // how many there are
  const PT_INTERP = 3;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > elf.length) return false; // headers beyond what we read: be conservative
    if (view.getUint32(at, true) === PT_INTERP) return false;
  }
  return true;
}

/** Where Debian's packages put busybox. */
const BUSYBOX_PATHS = ["/bin/busybox", "/usr/bin/busybox"];

/** @returns the path of a statically linked busybox, or undefined if there is none */
function findStaticBusybox(): string | undefined {
  for (const path of BUSYBOX_PATHS) {
    try {
      const file = Deno.openSync(path);
      try {
        const head = new Uint8Array(65536);
        const n = file.readSync(head) ?? 0;
        if (isStaticElf(head.subarray(0, n))) return path;
      } finally {
        file.close();
      }
    } catch {
      // missing or unreadable: try the next one
    }
  }
  return undefined;
}

/** Result of {@link runTool}. */
export interface ToolOutput {
  /** Everything the program wrote to stdout, as text. */
  readonly stdout: string;
  /** Everything the program wrote to stdout, as bytes (for binary output). */
  readonly stdoutBytes: Uint8Array;
  /** Everything the program wrote to stderr, as text. */
  readonly stderr: string;
}

/** Options of {@link runTool}. */
export interface RunToolOptions {
  /** Working directory of the program. */
  readonly cwd?: string;
  /** Extra environment variables. */
  readonly env?: Record<string, string>;
  /** Bytes to write to the program's stdin. */
  readonly stdin?: Uint8Array;
  /** What we were trying to do, for the error message ("download the kernel"). */
  readonly purpose: string;
}

/**
 * Runs a host program to completion and returns its output; fails with a
 * {@link VmError} that quotes the program's stderr when it exits non-zero.
 *
 * @param program absolute path or name of the program
 * @param args its arguments
 * @param options working directory, environment, stdin and purpose
 * @returns the program's stdout and stderr
 */
export async function runTool(
  program: string,
  args: readonly string[],
  options: RunToolOptions,
): Promise<ToolOutput> {
  const command = new Deno.Command(program, {
    args: [...args],
    cwd: options.cwd,
    env: options.env,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  });
  let child: Deno.ChildProcess;
  try {
    child = command.spawn();
  } catch (error) {
    throw new VmError(
      `Cannot ${options.purpose}: could not start ${program} (${errorText(error)}).`,
    );
  }
  // Feed stdin while output() drains stdout: writing all of stdin first could
  // deadlock once the program blocks on a full stdout pipe.
  const feeding = options.stdin ? feed(child.stdin, options.stdin) : Promise.resolve();
  const [stdoutBytes, stderrBytes, status] = await Promise.all([
    new Response(child.stdout).bytes(),
    new Response(child.stderr).bytes(),
    child.status,
    feeding,
  ]);
  const decoder = new TextDecoder();
  const stdout = decoder.decode(stdoutBytes);
  const stderr = decoder.decode(stderrBytes);
  if (!status.success) {
    throw new VmError(
      `Cannot ${options.purpose}: \`${[program, ...args].join(" ")}\` failed with exit code ` +
        `${status.code}.\n${stderr.trim()}`,
    );
  }
  return { stdout, stdoutBytes, stderr };
}

/** Writes `data` to a program's stdin and closes it. */
async function feed(stdin: WritableStream<Uint8Array>, data: Uint8Array): Promise<void> {
  const writer = stdin.getWriter();
  try {
    await writer.write(data);
    await writer.close();
  } catch {
    // the program exited without reading everything; its exit code tells why
  }
}

/** @returns the message of any thrown value */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Names a QEMU to use instead of the one on PATH (e.g. one built from source):
 * `IXY_VM_QEMU=/opt/qemu/bin/qemu-system-x86_64`. Then nothing is installed for QEMU.
 */
export const QEMU_ENV = "IXY_VM_QEMU";

/** Options of {@link ensureHostTools}. */
export interface EnsureHostToolsOptions {
  /** Where progress messages go (default: nowhere). */
  readonly log?: (message: string) => void;
}

/**
 * Finds the host programs the lab VM needs. When some are missing and we are
 * root on a machine with apt, installs them (QEMU from bookworm-backports on
 * Debian 12; see install.ts), saying what and showing apt's progress;
 * otherwise fails with a message that gives the one command to run as root.
 *
 * @param options where to report progress
 * @returns the paths of all the programs
 */
export async function ensureHostTools(options: EnsureHostToolsOptions = {}): Promise<HostTools> {
  let found = lookUpTools();
  if (found.tools) return found.tools;
  const missing = found.missingPrograms.join(", ");
  const plan = planInstall(await probeHost(), found.missingPackages);
  if (!plan.automatic) {
    throw new VmError(manualInstallMessage(plan, `Cannot boot the lab VM: ${missing} not found`));
  }
  await installPackages(plan, `The lab VM needs ${missing}`, options.log);
  found = lookUpTools();
  if (found.tools) return found.tools;
  throw new VmError(
    `Cannot boot the lab VM: ${found.missingPrograms.join(", ")} still not found after ` +
      `installing ${plan.packages.join(" ")}. Install by hand: ${plan.command}`,
  );
}

/**
 * Carries out an automatic install plan on this machine, announcing it first.
 *
 * @param plan an {@link InstallPlan.automatic} plan
 * @param why what needs the packages, for the announcement
 * @param log where progress goes (apt's own output goes to stderr)
 */
export async function installPackages(
  plan: InstallPlan,
  why: string,
  log: (message: string) => void = (m) => console.error(m),
): Promise<void> {
  log(`${why}: ${describePlan(plan)} (running as root; apt's output follows)`);
  await applyInstallPlan(plan, HOST_INSTALL_SYSTEM, log);
  log(`Installed ${plan.packages.join(" ")}`);
}

/** True if `path` exists (anything `stat` can see; a dangling link is false). */
export function pathExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Finds out what {@link planInstall} needs to know about this machine. */
export async function probeHost(): Promise<HostFacts> {
  const readText = (path: string): string | undefined => {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return undefined;
    }
  };
  const apt = findExecutable("apt-get") !== undefined;
  let backportsEnabled = false;
  if (apt) {
    try {
      const out = await runTool(
        "apt-get",
        ["indextargets", "--no-release-info", "--format", "$(RELEASE) $(COMPONENT)"],
        { purpose: "list apt's sources" },
      );
      backportsEnabled = parseIndexTargets(out.stdout);
    } catch {
      // an apt too old to answer: we then assume no backports
    }
  }
  return {
    root: isRoot(),
    apt,
    os: parseOsRelease(readText("/etc/os-release") ?? readText("/usr/lib/os-release") ?? ""),
    backportsEnabled,
    backportsFileExists: pathExists(BACKPORTS.sourcePath),
    keyring: pathExists(BACKPORTS.keyring),
  };
}

/** The real machine, for {@link applyInstallPlan}. */
export const HOST_INSTALL_SYSTEM: InstallSystem = {
  async writeFile(path: string, text: string): Promise<void> {
    // Write next to it and rename: apt never sees half a file. The temporary
    // file sits one directory up, where apt does not look for sources.
    const dir = path.slice(0, path.lastIndexOf("/"));
    const scratch = await Deno.makeTempFile({ dir: `${dir}/..`, prefix: ".ixy-ts-" });
    try {
      await Deno.writeTextFile(scratch, text);
      await Deno.chmod(scratch, 0o644);
      await Deno.rename(scratch, path);
    } catch (error) {
      await Deno.remove(scratch).catch(() => {});
      throw new VmError(`Cannot write ${path}: ${errorText(error)}`);
    }
  },
  async removeFile(path: string): Promise<void> {
    await Deno.remove(path).catch(() => {});
  },
  async run(argv: readonly string[]): Promise<void> {
    await runShowingOutput(argv, `run ${argv.slice(0, 2).join(" ")}`);
  },
};

/**
 * Runs a program and copies its output (stdout and stderr) to our stderr as
 * it comes, so apt's progress shows without mixing into a command's stdout.
 *
 * @param argv program and arguments
 * @param purpose what we were trying to do, for the error message
 */
async function runShowingOutput(argv: readonly string[], purpose: string): Promise<void> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    throw new VmError(`Cannot ${purpose}: could not start ${argv[0]} (${errorText(error)}).`);
  }
  const copy = async (from: ReadableStream<Uint8Array>): Promise<void> => {
    for await (const chunk of from) {
      let at = 0;
      while (at < chunk.length) at += await Deno.stderr.write(chunk.subarray(at));
    }
  };
  const [status] = await Promise.all([child.status, copy(child.stdout), copy(child.stderr)]);
  if (!status.success) {
    throw new VmError(
      `Cannot ${purpose}: \`${argv.join(" ")}\` failed with exit code ${status.code} ` +
        "(its output is above).",
    );
  }
}

/** What {@link lookUpTools} found. */
interface LookUp {
  tools?: HostTools;
  missingPrograms: string[];
  missingPackages: string[];
}

/** Looks every needed program up, collecting what is missing. */
function lookUpTools(): LookUp {
  const missingPrograms: string[] = [];
  const missingPackages: string[] = [];
  const need = (found: string | undefined, program: string, pkg: string): string => {
    if (found) return found;
    missingPrograms.push(program);
    if (!missingPackages.includes(pkg)) missingPackages.push(pkg);
    return "";
  };
  const tools: HostTools = {
    qemu: need(findQemu(), "qemu-system-x86_64", QEMU_PACKAGE),
    busybox: need(findStaticBusybox(), "a static busybox", "busybox-static"),
    cpio: need(findExecutable("cpio"), "cpio", "cpio"),
    modprobe: need(findExecutable("modprobe"), "modprobe", "kmod"),
    depmod: need(findExecutable("depmod"), "depmod", "kmod"),
  };
  if (missingPrograms.length === 0) return { tools, missingPrograms, missingPackages };
  // Not needed, but worth taking along when apt runs anyway: without xz the
  // kernel is not unpacked once (vmlinux.ts) and every boot is ~2 s slower.
  if (!findExecutable("xz")) missingPackages.push("xz-utils");
  return { missingPrograms, missingPackages };
}

/**
 * QEMU's PC emulator: the one {@link QEMU_ENV} names, else the one on PATH.
 *
 * @returns its path, or undefined when there is none on PATH
 */
function findQemu(): string | undefined {
  const override = Deno.env.get(QEMU_ENV);
  if (override === undefined || override === "") return findExecutable("qemu-system-x86_64");
  try {
    const info = Deno.statSync(override);
    if (info.isFile && ((info.mode ?? 0o755) & 0o111) !== 0) return override;
  } catch {
    // reported below
  }
  throw new VmError(
    `Cannot boot the lab VM: ${QEMU_ENV}=${override} is not an executable program. ` +
      `Point ${QEMU_ENV} at a qemu-system-x86_64, or unset it to use the one on PATH.`,
  );
}
