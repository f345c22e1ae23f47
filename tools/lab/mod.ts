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
import { loadImpl } from "./load.ts";
import type { Lab, LabOptions } from "./lab.ts";
import { findLab, LAB_LIST } from "./labs.ts";
import type { WorkerReport, WorkerRequest } from "./worker.ts";

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
  options: LabOptions & { impl?: string } = {},
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
  const exports = await loadImpl(path, lab.functions); // one clear error line before any worker starts
  const impl = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  if (lab.bootsVm) {
    // Lab 7 boots the lab VM and runs the file there, under the VM's own time limit.
    await lab.run(exports, list, { ...options, implPath: impl });
    return lab;
  }
  const { impl: _, ...labOptions } = options;
  const callLimitMs = (options.limitMs ?? DEFAULT_CALL_LIMIT_MS) +
    (lab.callExtraMs?.(options) ?? 0);
  let skip = 0;
  for (;;) {
    const clock = new SharedArrayBuffer(16);
    const request = { lab: n, impl, options: labOptions, skip, clock };
    const stopped = await runWorker(request, list, lab, callLimitMs);
    if (stopped === undefined) return lab;
    skip = stopped + 1;
  }
}

/**
 * Runs the requirements from `request.skip` on in a fresh worker; returns
 * undefined when all ran, or the index of the requirement that overran its
 * time limit (or crashed the worker), which is recorded as failed.
 */
function runWorker(request: WorkerRequest, list: Checklist, lab: Lab, callLimitMs: number) {
  return new Promise<number | undefined>((resolve, reject) => {
    const worker = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
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
    const finish = (stopped: number | undefined, error?: Error) => {
      clearTimeout(timer);
      clearInterval(watchdog);
      worker.terminate();
      if (error) reject(error);
      else resolve(stopped);
    };
    const fail = (reason: string) => {
      if (current === undefined) {
        return finish(undefined, new IxyError(`The lab checker failed: ${reason}`));
      }
      list.record({ name: current.name, ok: false, reason });
      finish(current.index);
    };
    worker.onmessage = (e: MessageEvent<WorkerReport>) => {
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
        current = undefined;
        list.record(m.result);
      } else if (m.type === "note") {
        list.note(m.line);
      } else if (m.type === "done") {
        finish(undefined);
      } else {
        const error = m.expected ? new IxyError(m.message) : new Error(m.message);
        if (current !== undefined) fail(`your code crashed the checker: ${m.message}`);
        else finish(undefined, error);
      }
    };
    worker.onerror = (e) => {
      e.preventDefault();
      fail(`your code crashed the checker: ${e.message}`);
    };
    worker.postMessage(request);
  });
}
