/**
 * {@link runInVm}: boot the lab VM, run one command in it, return its exit
 * code and output. This file ties the other parts together:
 *
 *   host.ts       find QEMU, busybox, cpio, kmod (as root: install them, install.ts)
 *   qemu_version.ts  which QEMU; requireQemu for device models it may lack
 *   kernel.ts     fetch and unpack Debian's kernel into the cache
 *   initramfs.ts  build the initramfs whose /init boots the guest
 *   run_dir.ts    the per-run directory: command in, exit code out
 *   qemu.ts       the QEMU command line
 *
 * @module
 */

import dgram from "node:dgram";
import { EXIT_TIMEOUT, VmError } from "./errors.ts";
import { cacheRoot, ensureHostTools, errorText } from "./host.ts";
import { ensureInitramfs } from "./initramfs.ts";
import { ensureKernel } from "./kernel.ts";
import { resolveVmOptions, type VmOptions } from "./options.ts";
import { kernelCommandLine, type NicBackend, qemuArgs, udpPairBackends } from "./qemu.ts";
import {
  checkGuestVisible,
  createRunDir,
  DENO_CACHE_ARCHIVE,
  guestEnvironment,
  parseUptime,
  readRunDir,
} from "./run_dir.ts";
import { guestClockError } from "./guest_clock.ts";
import { qemuRequirementOf, requireQemu } from "./qemu_version.ts";

/** The outcome of a command run in the lab VM. */
export interface VmResult {
  /** The command's exit code (128+N if a signal N killed it). */
  readonly code: number;
  /** Everything the command wrote to stdout and stderr, interleaved as it came. */
  readonly output: string;
  /** Seconds from starting QEMU until the command started in the guest. */
  readonly bootSeconds: number | undefined;
  /** Seconds from starting QEMU until it exited. */
  readonly totalSeconds: number;
}

/** How many bytes of the kernel console we keep for error messages. */
const CONSOLE_TAIL_BYTES = 64 * 1024;
/** How many console lines an error message shows. */
const CONSOLE_TAIL_LINES = 40;

/**
 * Boots the lab VM, runs `command` with /bin/sh in it and powers it off.
 *
 * The first call downloads the kernel and builds the initramfs (see
 * {@link VmOptions.log} to watch). Fails with a {@link VmError} when the VM
 * cannot be set up, dies before the command finishes, times out (exit code
 * 124 in {@link VmError.exitCode}), or when the guest's clock runs more than 3×
 * faster or slower than the host's (see guest_clock.ts; checked as soon as the
 * command starts, and again when it ends); a failing command is not an error,
 * its exit code is in the result.
 *
 * @param command shell command, run by /bin/sh in the guest, in the same directory
 * @param options VM size, NICs, timeout, output handling
 * @returns the command's exit code and output
 */
export async function runInVm(command: string, options: VmOptions = {}): Promise<VmResult> {
  const settings = resolveVmOptions(options);
  const cwd = realDirectory(options.cwd ?? Deno.cwd());
  checkGuestVisible(cwd);
  const tools = await ensureHostTools({ log: options.log });
  const kernel = await ensureKernel({ tools, log: options.log });
  const initramfs = await ensureInitramfs({ kernel, tools, log: options.log });

  let nics: NicBackend[];
  if (settings.nicBackend === "udp") {
    const base = settings.udpBasePort ?? await findFreeUdpPorts(settings.nics + 1);
    nics = udpPairBackends(settings.nics, base);
  } else {
    nics = settings.hubs.map((hub) => ({ kind: "hub", hub }));
  }

  const colorOk = options.stream === true && Deno.stdout.isTerminal() &&
    Deno.env.get("NO_COLOR") === undefined;
  const env = guestEnvironment({
    hostPath: Deno.env.get("PATH") ?? "",
    deno: Deno.execPath(),
    noColor: !colorOk,
    extra: options.env,
  });
  // Deno's cache in the guest, kept from boot to boot (per Deno version).
  const denoCache = `${cacheRoot()}/guest-deno-dir-${Deno.version.deno}.tar`;
  const runDir = await createRunDir({ command, cwd, env, kernel, denoCache });
  try {
    const args = qemuArgs({
      kernel: kernel.bootImage,
      initramfs,
      append: kernelCommandLine({
        hugepages: settings.hugepages,
        verbose: settings.verbose,
        iommu: settings.iommu,
      }),
      cpus: settings.cpus,
      memoryMiB: settings.memoryMiB,
      runDir,
      nics,
      extraDevices: options.extraDevices,
      iommu: settings.iommu,
      modernNics: settings.modernNics,
      nicModels: settings.nicModels,
      qemuLog: settings.qemuLog,
    });
    const result = await runQemu(tools.qemu, args, runDir, options, settings.timeoutSeconds);
    await keepDenoCache(`${runDir}/${DENO_CACHE_ARCHIVE}`, denoCache);
    return result;
  } finally {
    await Deno.remove(runDir, { recursive: true }).catch(() => {});
  }
}

/** An archive larger than this starts over (the cache only grows as sources change). */
const DENO_CACHE_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Keeps the guest's archived DENO_DIR for the next boot: copied next to its
 * final name, then renamed, so that VMs running side by side never read half
 * an archive. Best effort: a cache that cannot be kept costs time, not results.
 */
async function keepDenoCache(archive: string, target: string): Promise<void> {
  try {
    const size = (await Deno.stat(archive)).size;
    if (size === 0) return;
    if (size > DENO_CACHE_MAX_BYTES) {
      await Deno.remove(target).catch(() => {});
      return;
    }
    const partial = `${target}.${Deno.pid}.partial`;
    await Deno.copyFile(archive, partial);
    await Deno.rename(partial, target);
  } catch {
    // no archive (the command was killed), or the cache is not writable
  }
}

/** Resolves links in a directory path (the guest resolves them the same way through 9p). */
function realDirectory(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch (error) {
    throw new VmError(`Cannot run in the lab VM from ${path}: ${errorText(error)}`);
  }
}

/** Starts QEMU, pumps its output, enforces the timeout and reads the exit code. */
async function runQemu(
  qemu: string,
  args: string[],
  runDir: string,
  options: VmOptions,
  timeoutSeconds: number,
): Promise<VmResult> {
  // A device model newer than the QEMU here (igb needs 8.0): say so now, with
  // the way to get it, rather than let QEMU fail with "not a valid device model".
  const need = qemuRequirementOf(args);
  if (need) await requireQemu({ ...need, log: options.log });
  const started = performance.now();
  const child = new Deno.Command(qemu, {
    args,
    stdin: "null", // the guest gets no input; also keeps QEMU off our terminal
    stdout: "piped", // ttyS1: the command's output
    stderr: "piped", // ttyS0 (kernel console) and QEMU's own messages
  }).spawn();

  // Why QEMU was stopped early, if it was.
  let stopReason: "timeout" | "abort" | "clock" | undefined;
  const stop = (reason: "timeout" | "abort" | "clock"): void => {
    stopReason ??= reason;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(() => stop("timeout"), timeoutSeconds * 1000);
  const onAbort = (): void => stop("abort");
  options.signal?.addEventListener("abort", onAbort);
  if (options.signal?.aborted) stop("abort");

  // Watch for the guest's "started" and "finished" files (its uptime when the
  // command started and ended): the host's times of both measure the boot and
  // let us check the guest's clock against ours (guest_clock.ts). A clock that
  // went wrong during the boot stops the run before the command starts work.
  // A file first seen by a poll was written after the poll before it: each
  // is known as a bracket (after, by], however late a poll ran.
  let lastPoll = 0;
  let startedSeen: { after: number; by: number } | undefined;
  let finishedSeen: { after: number; by: number } | undefined;
  let clockError: VmError | undefined;
  const poll = setInterval(() => {
    const now = (performance.now() - started) / 1000;
    if (startedSeen === undefined) {
      const uptime = readUptimeFile(`${runDir}/started`);
      if (uptime !== undefined) {
        startedSeen = { after: lastPoll, by: now };
        clockError = guestClockError("boot", { min: 0, max: now }, uptime);
        if (clockError) stop("clock");
      }
    } else if (readUptimeFile(`${runDir}/finished`) !== undefined) {
      finishedSeen = { after: lastPoll, by: now };
      clearInterval(poll);
    }
    lastPoll = now;
  }, 50);

  const output: Uint8Array[] = [];
  const pumpOutput = (async () => {
    for await (const chunk of child.stdout) {
      output.push(chunk);
      options.onOutput?.(chunk);
      if (options.stream) await writeAll(Deno.stdout, chunk);
    }
  })();
  let consoleTail: Uint8Array = new Uint8Array(0);
  const pumpConsole = (async () => {
    for await (const chunk of child.stderr) {
      if (options.verbose) await writeAll(Deno.stderr, chunk);
      consoleTail = keepTail(consoleTail, chunk, CONSOLE_TAIL_BYTES);
    }
  })();

  let status: Deno.CommandStatus;
  try {
    status = await child.status;
    await Promise.all([pumpOutput, pumpConsole]);
  } finally {
    clearTimeout(timer);
    clearInterval(poll);
    options.signal?.removeEventListener("abort", onAbort);
  }
  const totalSeconds = (performance.now() - started) / 1000;
  const { exitCode, startedAtUptime, finishedAtUptime } = await readRunDir(runDir);
  let bootSeconds = startedSeen?.by;
  if (bootSeconds === undefined && exitCode !== undefined) bootSeconds = totalSeconds;

  if (stopReason === "timeout") {
    throw new VmError(
      `The lab VM ran out of time: the command did not finish within ${timeoutSeconds} s, ` +
        "so QEMU was killed. Raise --timeout if it needs longer (emulation is slow)." +
        consoleReport(consoleTail, options.verbose),
      EXIT_TIMEOUT,
    );
  }
  if (stopReason === "clock" && clockError) throw clockError;
  if (stopReason === "abort") {
    throw new VmError("The lab VM was stopped: the run was aborted.");
  }
  if (exitCode === undefined) {
    throw new VmError(
      `The lab VM stopped before the command finished (QEMU exit status ${status.code}).` +
        consoleReport(consoleTail, options.verbose),
    );
  }
  // The command's own interval: the guest's two uptimes against the host's
  // brackets of seeing them. No poll saw "finished": it was written after the
  // last poll and before QEMU exited.
  if (startedSeen && startedAtUptime !== undefined && finishedAtUptime !== undefined) {
    const end = finishedSeen ?? { after: lastPoll, by: totalSeconds };
    const error = guestClockError(
      "command",
      { min: Math.max(0, end.after - startedSeen.by), max: end.by - startedSeen.after },
      finishedAtUptime - startedAtUptime,
      exitCode,
    );
    if (error) throw error;
  }
  return {
    code: exitCode,
    output: new TextDecoder().decode(concat(output)),
    bootSeconds,
    totalSeconds,
  };
}

/** The guest's uptime from a copy of its /proc/uptime, or undefined if not (fully) there yet. */
function readUptimeFile(path: string): number | undefined {
  try {
    return parseUptime(Deno.readTextFileSync(path));
  } catch {
    return undefined; // not yet
  }
}

/** The last console lines for an error message (not needed with --verbose: already shown). */
function consoleReport(tail: Uint8Array, verbose: boolean | undefined): string {
  if (verbose) return " The kernel console is above.";
  const lines = new TextDecoder().decode(tail).replaceAll("\r", "").trimEnd().split("\n")
    // QEMU warns that hubs are "not connected to host network": by design, not news.
    .filter((line) => !/warning: hub \d+ is not connected to host network/.test(line));
  const last = lines.slice(-CONSOLE_TAIL_LINES).join("\n");
  return last === ""
    ? " The kernel console is empty."
    : `\nLast lines of the kernel console (run with --verbose for all of it):\n${last}`;
}

/** Appends `chunk` to `tail`, keeping only the last `max` bytes. */
function keepTail(tail: Uint8Array, chunk: Uint8Array, max: number): Uint8Array {
  const joined = concat([tail, chunk]);
  return joined.length > max ? joined.slice(joined.length - max) : joined;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** Writes all of `data` (a single write may take only part of it). */
async function writeAll(
  to: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  let at = 0;
  while (at < data.length) at += await to.write(data.subarray(at));
}

/**
 * Finds `count` consecutive UDP ports on 127.0.0.1 that are free right now
 * (by binding them and letting go). Another program could take one before
 * QEMU does; then QEMU fails to start and says which port.
 *
 * @param count how many ports
 * @returns the first port
 */
async function findFreeUdpPorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    const sockets: dgram.Socket[] = [];
    let ok = true;
    for (let port = base; port < base + count && ok; port++) {
      const socket = dgram.createSocket("udp4");
      ok = await new Promise<boolean>((resolve) => {
        socket.once("error", () => resolve(false));
        socket.bind(port, "127.0.0.1", () => resolve(true));
      });
      sockets.push(socket);
    }
    for (const socket of sockets) {
      try {
        socket.close();
      } catch {
        // it never bound
      }
    }
    if (ok) return base;
  }
  throw new VmError(
    `Cannot find ${count} free consecutive UDP ports on 127.0.0.1 for --nic-backend udp. ` +
      "Pass one with --udp-port.",
  );
}
