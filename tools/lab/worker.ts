/**
 * The lab checkers' worker: runs one lab's requirements against a lab file
 * and reports each start and result to the runner (mod.ts), which stops this
 * worker when a requirement overruns its time limit — the only way to stop
 * a student's loop that never returns, since JavaScript cannot interrupt a
 * busy thread from inside.
 *
 * It runs without permissions (mod.ts) and reports on a private
 * {@link MessagePort} the runner hands over in the first message, before the
 * student's file is loaded; the student's code can reach `self.postMessage`,
 * which the runner treats as a failure, but not the port: this module keeps
 * it and the means to post on it (captured here, so patching
 * `MessagePort.prototype` later changes nothing).
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { IxyError } from "../../src/error.ts";
import { Checklist, type CheckOptions, type RequirementResult } from "./checklist.ts";
import { type Exports, loadImpl } from "./load.ts";
import type { Lab, LabOptions } from "./lab.ts";
import { findLab } from "./labs.ts";

/** What the runner asks of the worker. */
export interface WorkerRequest {
  /** The lab's number. */
  lab: number;
  /** Absolute path of the lab file. */
  impl: string;
  /** The lab's options. */
  options: LabOptions;
  /** Requirements (in order) already decided: skipped without running. */
  skip: number;
  /**
   * The watchdog's view of the student's code, shared with the runner: word 0
   * = `Date.now()` when the current call of a lab function began (0 = none
   * running), word 1 = which function (index into the lab's list).
   */
  clock: SharedArrayBuffer;
}

/** A request to load the lab file and check its exports only (lab 7's host side). */
export interface ProbeRequest {
  /** The lab's number. */
  lab: number;
  /** Absolute path of the lab file. */
  impl: string;
  /** The lab's options. */
  options: LabOptions;
  /** Only load and check the exports, then report "done". */
  probe: true;
}

/** What the worker tells the runner, on the private port. */
export type WorkerReport =
  | { type: "start"; index: number; name: string; limitMs?: number }
  | { type: "result"; index: number; result: RequirementResult }
  | { type: "note"; line: string }
  | { type: "file"; path: string; text: string }
  | { type: "done" }
  | { type: "error"; message: string; expected: boolean };

/**
 * `MessagePort.prototype.postMessage` as it is before any student code runs,
 * callable as `postOn(port, message)`: a bound function does not look up
 * `call` again, so later changes to the prototypes do not reach it.
 */
const postOn: (port: MessagePort, message: WorkerReport) => void = Function.prototype.call
  .bind(MessagePort.prototype.postMessage);
/** The runner's private channel (set by the first message). */
let reports: MessagePort | undefined;

/** A checklist that reports to the runner and skips requirements decided before a restart. */
class ReportingChecklist extends Checklist {
  #index = 0;
  #current = -1;
  #skip: number;

  constructor(skip: number) {
    super();
    this.#skip = skip;
  }

  override async check(
    name: string,
    check: () => void | Promise<void>,
    options: CheckOptions = {},
  ): Promise<boolean> {
    const index = this.#index++;
    if (index < this.#skip) return false;
    this.#current = index;
    report({ type: "start", index, name, limitMs: options.limitMs });
    return await super.check(name, check, options);
  }

  override record(result: RequirementResult): boolean {
    this.results.push(result);
    report({ type: "result", index: this.#current, result });
    return result.ok;
  }

  override note(line: string): void {
    report({ type: "note", line });
  }
}

function report(message: WorkerReport): void {
  postOn(reports!, message);
}

/**
 * Wraps each lab function so that the runner sees when a call began and can
 * stop one that does not return; a few nanoseconds per call.
 */
function watched(exports: Exports, functions: readonly string[], clock: Float64Array): Exports {
  const out: Exports = { ...exports };
  functions.forEach((name, i) => {
    const f = exports[name] as (...args: unknown[]) => unknown;
    out[name] = (...args: unknown[]) => {
      clock[1] = i;
      clock[0] = Date.now();
      try {
        return f(...args);
      } finally {
        clock[0] = 0;
      }
    };
  });
  return out;
}

self.onmessage = async (
  e: MessageEvent<(WorkerRequest | ProbeRequest) & { reports: MessagePort }>,
) => {
  if (reports !== undefined) return; // one request per worker
  reports = e.data.reports;
  const { lab: n, impl, options } = e.data;
  try {
    const lab: Lab = findLab(n, options.vm)!;
    const loaded = await loadImpl(impl, lab.functions);
    if ("probe" in e.data) return report({ type: "done" });
    const { skip, clock } = e.data;
    const exports = watched(loaded, lab.functions, new Float64Array(clock));
    const writeFile = (path: string, text: string) => report({ type: "file", path, text });
    await lab.run(exports, new ReportingChecklist(skip), { ...options, writeFile });
    report({ type: "done" });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    report({ type: "error", message, expected: err instanceof IxyError });
  }
};
