/**
 * The lab checkers as a library: {@link runLab} runs lab n against a lab file
 * (or the reference solution) and fills a {@link Checklist}. The command line
 * is main.ts (`deno task lab --help`); the tests are tests/sim/labs_test.ts.
 * Labs 1 and 2 also run inside the lab VM (`--vm`): vm.ts boots it and runs
 * vm_guest.ts there, which calls {@link runLab} with `vm: true`
 * (tests/vm/labs_vm_test.ts).
 *
 * No run can hang: the requirements run in a Worker (worker.ts), each call
 * of the student's functions has a time limit ({@link DEFAULT_CALL_LIMIT_MS},
 * watched through shared memory), and so has each requirement as a whole.
 * When a call overruns — a receive loop spinning on a stale DD, say — the
 * runner stops the worker, fails that requirement with "rxBatch did not
 * return within N s", and starts a new worker for the requirements after it
 * (each sets up its own ports, so nothing carries over).
 * Lab 7 is the exception: its checker boots the lab VM and runs the file
 * there (lab7_igb.ts), so it runs on the host, not in the worker.
 *
 * @module
 */

import { IxyError } from "../../src/error.ts";
import { Checklist } from "./checklist.ts";
import { labFileModules } from "./imports.ts";
import type { Lab, LabOptions } from "./lab.ts";
import { findLab, LAB_LIST } from "./labs.ts";
import type { ProbeRequest, WorkerReport, WorkerRequest } from "./worker.ts";

export { Checklist, type RequirementResult } from "./checklist.ts";
export type { Lab, LabOptions } from "./lab.ts";

/** All labs, in order. */
export const LABS: readonly Lab[] = LAB_LIST;

/** The repository root (tools/lab/ is two levels down). */
const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * How long one call of a lab function (txBatch, rxBatch, ...) may take unless
 * --limit says otherwise; a correct one returns within microseconds (lab 6's
 * txLoop gets its measuring time on top).
 */
export const DEFAULT_CALL_LIMIT_MS = 10_000;
/**
 * How long a requirement may take as a whole unless it sets its own: setting
 * up the model is included, which can take seconds on a loaded machine.
 */
export const DEFAULT_LIMIT_MS = 600_000;

/**
 * Runs lab `n` on the file `options.impl` (default: the reference solution)
 * and records every requirement in `list`; returns the lab.
 */
export async function runLab(
  n: number,
  list: Checklist = new Checklist(),
  options: LabOptions & { impl?: string; trustImports?: boolean } = {},
): Promise<Lab> {
  const lab = findLab(n, options.vm);
  if (lab === undefined) {
    throw new IxyError(
      options.vm
        ? `Lab ${n} has no lab-VM step: only labs 1 and 2 have one. Run it without --vm.`
        : `There is no checker for lab ${n}: labs are 1-7.`,
    );
  }
  const path = options.impl ?? ROOT + lab.reference;
  const impl = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  // A student's file must not import the code it is asked to write (imports.ts);
  // without --impl the checker checks the driver's own code, on purpose.
  // In the lab VM (`vm`) the host checked the file before booting (vm.ts checkLabFile) and
  // the worker keeps the guest's permissions.
  const check = options.impl !== undefined && !options.trustImports;
  const readable = options.vm ? [] : await readableModules(n, path, check);
  const { impl: _, trustImports: __, ...labOptions } = options;
  if (lab.bootsVm) {
    // Lab 7 boots the lab VM and runs the file there, under the VM's own time limit;
    // the host only checks its exports, in a worker without permissions.
    await probeExports(n, impl, readable, labOptions);
    await lab.run({}, list, { ...labOptions, implPath: impl });
    return lab;
  }
  const callLimitMs = (options.limitMs ?? DEFAULT_CALL_LIMIT_MS) +
    (lab.callExtraMs?.(options) ?? 0);
  let skip = 0;
  for (;;) {
    const clock = new SharedArrayBuffer(16);
    const request = { lab: n, impl, options: labOptions, skip, clock };
    const stopped = await runWorker(request, readable, list, lab, callLimitMs);
    if (stopped === undefined) return lab;
    skip = stopped + 1;
  }
}

/**
 * The files the checkers' worker may read for lab `n`'s file `path`: the
 * file's code graph (with `check`, refused as imports.ts says) and the
 * software 82599's modules. One clear error line if the file is missing.
 */
async function readableModules(n: number, path: string, check: boolean): Promise<string[]> {
  const impl = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  try {
    Deno.statSync(impl);
  } catch {
    throw new IxyError(`Cannot find your lab file ${path}. Pass an existing file to --impl.`);
  }
  simModules ??= labFileModules(0, new URL("../sim82599/worker.ts", import.meta.url).pathname, {
    check: false,
  });
  return [...await labFileModules(n, impl, { check }), ...await simModules];
}

/**
 * Before the lab VM boots for lab `n` (`--vm`): refuses the file `path` if it
 * imports what the lab asks for, and checks its exports in a worker without
 * permissions (the host never runs a lab file with its own permissions).
 * `trustImports` (tests only, no command-line flag) skips the import check:
 * the planted wrong solutions wrap the reference on purpose.
 */
export async function checkLabFile(n: number, path: string, trustImports = false): Promise<void> {
  const impl = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  await probeExports(n, impl, await readableModules(n, path, !trustImports), {});
}

/**
 * The modules of the software 82599's worker, which the checkers' worker
 * starts (harness.ts): a new Worker loads its modules afresh, so the
 * checkers' worker must be able to read them (none is a driver's tx.ts or rx.ts).
 */
let simModules: Promise<string[]> | undefined;

/**
 * Starts the checkers' worker (worker.ts) and hands it `request` with the
 * private channel it reports on. The worker runs the student's code, so it
 * gets no permissions but reading `readable` (the lab file and the modules it
 * imports, which it must load, and the software 82599's modules): no
 * other files, no writing, no programs, no FFI, no network, no environment
 * (Deno 2.9 needs --unstable-worker-options for that: deno.json's
 * "unstable" list has it, so `deno task lab` and `deno test` in the
 * repository get it; the task adds --no-prompt, so that a refused call fails
 * instead of asking at the terminal). The lab-VM checkers (`vm`, inside the
 * disposable guest, as root) read sysfs and map hugepages, so they keep the
 * guest's permissions.
 */
function startWorker(request: WorkerRequest | ProbeRequest, readable: readonly string[]): {
  worker: Worker;
  reports: MessagePort;
} {
  const permissions: Deno.PermissionOptionsObject = {
    read: [...readable],
    write: false,
    net: false,
    run: false,
    ffi: false,
    env: false,
    sys: false,
    import: false,
  };
  // Without --unstable-worker-options (deno.json's "unstable" sets it) Deno exits here
  // with one line saying so.
  const worker = new Worker(new URL("./worker.ts", import.meta.url).href, {
    type: "module",
    ...(request.options.vm ? {} : { deno: { permissions } }),
  });
  const channel = new MessageChannel();
  worker.postMessage({ ...request, reports: channel.port2 }, [channel.port2]);
  return { worker, reports: channel.port1 };
}

/**
 * Loads the lab file in a worker without permissions and checks that it
 * exports the lab's functions (lab 7, whose checker runs on the host and the
 * file in the lab VM): one clear error line if not.
 */
function probeExports(
  n: number,
  impl: string,
  readable: readonly string[],
  options: LabOptions,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const { worker, reports } = startWorker({ lab: n, impl, options, probe: true }, readable);
    const finish = (error?: Error) => {
      worker.terminate();
      reports.close();
      if (error) reject(error);
      else resolve();
    };
    reports.onmessage = (e: MessageEvent<WorkerReport>) => {
      const m = e.data;
      if (m.type === "done") finish();
      else if (m.type === "error") {
        finish(m.expected ? new IxyError(m.message) : new Error(m.message));
      }
    };
    worker.onmessage = () =>
      finish(new IxyError(`${impl} posted a message to the checker while loading: not allowed.`));
    worker.onerror = (e) => {
      e.preventDefault();
      finish(new IxyError(`Cannot load ${impl}: ${e.message}`));
    };
  });
}

/**
 * Runs the requirements from `request.skip` on in a fresh worker; returns
 * undefined when all ran, or the index of the requirement that overran its
 * time limit (or crashed the worker), which is recorded as failed.
 *
 * The checker reports on a private channel; anything that arrives on the
 * worker's own `postMessage` comes from the student's code (`self.postMessage`
 * is all it can reach) and fails the requirement that was running, so a forged
 * "result" message cannot turn a FAIL into a PASS.
 */
function runWorker(
  request: WorkerRequest,
  readable: readonly string[],
  list: Checklist,
  lab: Lab,
  callLimitMs: number,
) {
  return new Promise<number | undefined>((resolve, reject) => {
    const { worker, reports } = startWorker(request, readable);
    const clock = new Float64Array(request.clock);
    let current: { index: number; name: string } | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The watchdog: is a call of the student's code running for too long?
    const watchdog = setInterval(() => {
      const began = clock[0];
      if (began === 0 || Date.now() - began <= callLimitMs) return;
      fail(
        `${lab.functions[clock[1]]} did not return within ${callLimitMs / 1000} s, so the ` +
          `checker stopped it: an endless loop?${lab.hangHint ? ` (${lab.hangHint})` : ""}`,
      );
    }, 100);
    let finished = false;
    let lastIndex: number | undefined;
    const finish = (stopped: number | undefined, error?: Error) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearInterval(watchdog);
      worker.terminate();
      reports.close();
      if (error) reject(error);
      else resolve(stopped);
    };
    const fail = (reason: string) => {
      if (finished) return;
      if (current === undefined) {
        return finish(undefined, new IxyError(`The lab checker failed: ${reason}`));
      }
      list.record({ name: current.name, ok: false, reason });
      finish(current.index);
    };
    reports.onmessage = (e: MessageEvent<WorkerReport>) => {
      if (finished) return;
      const m = e.data;
      if (m.type === "start") {
        current = { index: m.index, name: m.name };
        const limitMs = m.limitMs ?? DEFAULT_LIMIT_MS;
        clearTimeout(timer);
        timer = setTimeout(() =>
          fail(
            `the requirement did not finish within ${limitMs / 1000} s (your code returned ` +
              `each time, but slowly: is the machine overloaded?)`,
          ), limitMs);
      } else if (m.type === "result") {
        clearTimeout(timer);
        lastIndex = current?.index;
        current = undefined;
        list.record(m.result);
      } else if (m.type === "note") {
        list.note(m.line);
      } else if (m.type === "file") {
        try {
          writeOut(m.path, m.text);
        } catch (e) {
          finish(undefined, e as Error);
        }
      } else if (m.type === "done") {
        finish(undefined);
      } else {
        const error = m.expected ? new IxyError(m.message) : new Error(m.message);
        if (current !== undefined) fail(`your code crashed the checker: ${m.message}`);
        else finish(undefined, error);
      }
    };
    worker.onmessage = () => {
      if (finished) return;
      const reason = "your code posted a message to the checker's runner (self.postMessage): " +
        "only the checker reports results, so this counts as a failure";
      if (current !== undefined) return fail(reason);
      // Between requirements (the one it ran in may have reported first, on the other
      // channel): a failure of its own, then go on after the last requirement that ran.
      list.record({ name: "your code sends the checker's runner no messages", ok: false, reason });
      finish(lastIndex);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      fail(`your code crashed the checker: ${e.message}`);
    };
  });
}

/** Writes a file the checker made (lab 6's plot): the worker itself may not. */
function writeOut(path: string, text: string): void {
  const absolute = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  try {
    Deno.mkdirSync(absolute.slice(0, absolute.lastIndexOf("/")), { recursive: true });
    Deno.writeTextFileSync(absolute, text);
  } catch (e) {
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new IxyError(`Cannot write ${path}: ${why}. Pass a writable path to --out.`);
  }
}
