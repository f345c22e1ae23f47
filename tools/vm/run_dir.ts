/**
 * The per-run directory: a host directory that QEMU shares with the guest as
 * the writable 9p share `ixyrun` (mounted at /run/ixy in the guest). It is how
 * the command gets in and its exit code gets out:
 *
 *   config       settings for /init (where the kernel modules are)
 *   run.sh       sets the environment, cds, then runs command.sh
 *   command.sh   the command, verbatim
 *   started      written by the guest: its uptime when the command started
 *   finished     written by the guest: its uptime when the command ended
 *   exit_code    written by the guest: the command's exit status
 *
 * The host's /tmp is hidden in the guest (a RAM disk covers it), so this
 * share is the one robust way in, however long or strange the command is.
 *
 * @module
 */

import { VmError } from "./errors.ts";
import type { Kernel } from "./kernel.ts";

/**
 * Quotes a string for the POSIX shell: inside single quotes nothing is
 * special, and a single quote itself is written as `'\''`.
 *
 * @param text any string
 * @returns a shell word that stands for exactly `text`
 */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** Host directories the guest covers with its own file systems. */
export const HIDDEN_IN_GUEST: readonly string[] = ["/tmp", "/run", "/proc", "/sys", "/dev"];
/** Of those, the ones whose subdirectories /init shows again (bind mount from the host). */
const REMOUNTED_IN_GUEST: readonly string[] = ["/tmp", "/run"];

/**
 * Fails when `cwd` is a directory the guest cannot see: /proc, /sys, /dev and
 * below, or /tmp and /run themselves (their subdirectories /init bind-mounts
 * from the host, so a clone in /tmp/x works).
 *
 * @param cwd an absolute host path
 */
export function checkGuestVisible(cwd: string): void {
  for (const hidden of HIDDEN_IN_GUEST) {
    const below = cwd.startsWith(`${hidden}/`);
    if (cwd === hidden || (below && !REMOUNTED_IN_GUEST.includes(hidden))) {
      throw new VmError(
        `Cannot run in the lab VM from ${cwd}: the guest covers the host's ${hidden} with ` +
          `its own file system. Run from another directory (e.g. the repository).`,
      );
    }
  }
}

/** What {@link guestEnvironment} needs. */
export interface GuestEnvironmentSpec {
  /** The host's PATH. */
  readonly hostPath: string;
  /** The Deno binary the guest should use (`Deno.execPath()`). */
  readonly deno: string;
  /** Set NO_COLOR=1 (output is not going to a terminal). */
  readonly noColor: boolean;
  /** Extra variables, applied last. */
  readonly extra?: Readonly<Record<string, string>>;
}

/**
 * The environment of the command in the guest.
 *
 * @param spec host PATH, Deno binary, colors and extra variables
 * @returns variable name → value
 */
export function guestEnvironment(spec: GuestEnvironmentSpec): Record<string, string> {
  const denoDir = spec.deno.slice(0, spec.deno.lastIndexOf("/")) || "/";
  const path = spec.hostPath.split(":").filter((d) => d !== "");
  // The guest runs as root: make sure root's tools (ip, modprobe) are found.
  for (const dir of [denoDir, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin"]) {
    if (!path.includes(dir)) path.push(dir);
  }
  for (const dir of ["/sbin", "/bin"]) if (!path.includes(dir)) path.push(dir);
  const env: Record<string, string> = {
    PATH: path.join(":"),
    HOME: "/tmp", // writable, unlike the host's home seen through 9p
    DENO_DIR: "/tmp/deno-dir", // Deno's cache, empty at each boot
    IXY_VM: "1", // tells programs they run in the lab VM
    IXY_DENO: spec.deno, // the Deno binary, same path as on the host
    LANG: "C.UTF-8",
  };
  if (spec.noColor) env.NO_COLOR = "1";
  return { ...env, ...spec.extra };
}

/**
 * The script the guest runs (in the new root, as root): exports the
 * environment, enters the working directory and runs the command with /bin/sh.
 *
 * With `denoCache`, Deno's cache (DENO_DIR) starts from that archive if it
 * exists, and is archived into the run directory when the command ends (see
 * {@link DENO_CACHE_ARCHIVE}): a Deno program's first start in the guest then
 * skips transpiling and compiling what an earlier boot already did, which
 * under TCG is about a second per start (measured: `pktgen --help` 2.7 s cold,
 * 1.2 s with a warm cache).
 *
 * @param env the environment, see {@link guestEnvironment}
 * @param cwd the host directory to start in (same path in the guest)
 * @param denoCache host path of an archive of an earlier guest's DENO_DIR
 * @returns the text of run.sh
 */
export function runScript(
  env: Readonly<Record<string, string>>,
  cwd: string,
  denoCache?: string,
): string {
  const lines = [
    "# run.sh of the ixy.ts lab VM (written by tools/vm/run_dir.ts).",
    "# Runs in the guest after chroot, as root; output goes to ttyS1 -> host stdout.",
  ];
  for (const [name, value] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new VmError(`Cannot pass environment variable "${name}" to the lab VM: bad name.`);
    }
    lines.push(`export ${name}=${shellQuote(value)}`);
  }
  lines.push(`cd ${shellQuote(cwd)} || exit 125`);
  if (denoCache === undefined) {
    lines.push("exec /bin/sh /run/ixy/command.sh");
    return lines.join("\n") + "\n";
  }
  const archive = shellQuote(denoCache);
  lines.push(
    `if [ -f ${archive} ]; then`,
    '  mkdir -p "$DENO_DIR" && tar -xf ' + archive + ' -C "$DENO_DIR" 2>/dev/null',
    "fi",
    "/bin/sh /run/ixy/command.sh",
    "code=$?",
    `tar -cf /run/ixy/${DENO_CACHE_ARCHIVE} -C "$DENO_DIR" . 2>/dev/null`,
    "exit $code",
  );
  return lines.join("\n") + "\n";
}

/** The guest's DENO_DIR, archived into the run directory after the command (see {@link runScript}). */
export const DENO_CACHE_ARCHIVE = "deno-dir.tar";

/**
 * The settings /init reads (see initramfs.ts).
 *
 * @param kernel the guest kernel (its module directory on the host)
 * @param modulesParent where the host's module directories would be, e.g. `/usr/lib/modules`
 * @returns the text of the config file
 */
export function initConfig(kernel: Kernel, modulesParent: string): string {
  return [
    `IXY_MODULES_SOURCE=${shellQuote(kernel.modulesDir)}`,
    `IXY_MODULES_PARENT=${shellQuote(modulesParent)}`,
  ].join("\n") + "\n";
}

/**
 * Where `/lib/modules` really is on the host: on a merged-/usr system /lib is
 * a link to usr/lib, and the guest's overlay must add the kernel's modules
 * under the real directory, not replace the link.
 *
 * @returns e.g. `/usr/lib/modules`
 */
export function hostModulesParent(): string {
  try {
    return `${Deno.realPathSync("/lib")}/modules`;
  } catch {
    return "/lib/modules";
  }
}

/** What {@link createRunDir} writes. */
export interface RunDirSpec {
  /** The command, run by /bin/sh in the guest. */
  readonly command: string;
  /** The host directory the command starts in. */
  readonly cwd: string;
  /** The command's environment. */
  readonly env: Readonly<Record<string, string>>;
  /** The guest kernel. */
  readonly kernel: Kernel;
  /** Host path of an archive of an earlier guest's DENO_DIR (see {@link runScript}). */
  readonly denoCache?: string;
}

/**
 * Creates and fills a fresh run directory (remove it after the run).
 *
 * @param spec command, working directory, environment and kernel
 * @returns the directory's path
 */
export async function createRunDir(spec: RunDirSpec): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ixy-vm-run-" });
  const config = initConfig(spec.kernel, hostModulesParent()) +
    `IXY_CWD=${shellQuote(spec.cwd)}\n`;
  await Deno.writeTextFile(`${dir}/config`, config);
  await Deno.writeTextFile(`${dir}/run.sh`, runScript(spec.env, spec.cwd, spec.denoCache));
  await Deno.writeTextFile(`${dir}/command.sh`, spec.command + "\n");
  return dir;
}

/** What the guest left in the run directory. */
export interface RunDirResult {
  /** The command's exit status, if the guest got to write it. */
  readonly exitCode: number | undefined;
  /** Guest uptime in seconds when the command started, if it did. */
  readonly startedAtUptime: number | undefined;
  /** Guest uptime in seconds when the command ended, if it did. */
  readonly finishedAtUptime: number | undefined;
}

/**
 * Reads what the guest wrote into the run directory.
 *
 * @param dir the run directory
 * @returns exit code and start time, each undefined if missing
 */
export async function readRunDir(dir: string): Promise<RunDirResult> {
  const read = async (name: string): Promise<string | undefined> => {
    try {
      return (await Deno.readTextFile(`${dir}/${name}`)).trim();
    } catch {
      return undefined;
    }
  };
  const code = await read("exit_code");
  return {
    exitCode: code !== undefined && /^\d+$/.test(code) ? Number(code) : undefined,
    startedAtUptime: parseUptime(await read("started")),
    finishedAtUptime: parseUptime(await read("finished")),
  };
}

/**
 * Reads a copy of the guest's `/proc/uptime`: seconds since boot, then the
 * idle seconds of all CPUs (`"12.34 20.01"`). A file the guest has created
 * but not yet written is no reading.
 *
 * @param text the file's text, or undefined if it is missing
 * @returns the uptime in seconds, or undefined
 */
export function parseUptime(text: string | undefined): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s/.exec(text ?? "");
  return match ? Number(match[1]) : undefined;
}
