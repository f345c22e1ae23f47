/**
 * The guest half of `deno task lab <n> --vm`: runs inside the lab VM (as
 * root), checks one or more lab files with the lab-VM checkers (lab1_vm.ts,
 * lab2_vm.ts) through the same runner as on the host — a worker per lab
 * file, every call of the student's code time-limited (mod.ts) — and prints
 * each result as one `IXY_LAB {json}` line for the host half (vm.ts).
 *
 *     $IXY_DENO run -A --no-check tools/lab/vm_guest.ts '{"runs":[{"lab":1,"impl":"/abs/file.ts"}]}'
 *
 * @module
 */

import { Checklist, runLab } from "./mod.ts";
import type { RequirementResult } from "./checklist.ts";

/** What the host asks for: lab files (absolute paths) to check, in order. */
export interface GuestRequest {
  /** One entry per lab run. */
  runs: { lab: number; impl: string }[];
  /** Time limit of one call of a lab function, in milliseconds. */
  limitMs?: number;
}

/** One line of the guest's report (after the `IXY_LAB ` marker). */
export type GuestReport =
  | { run: number; type: "result"; result: RequirementResult }
  | { run: number; type: "note"; line: string }
  | { run: number; type: "done" }
  | { run: number; type: "error"; message: string };

/** The marker that starts each report line. */
export const REPORT_MARKER = "IXY_LAB ";

function report(r: GuestReport): void {
  console.log(REPORT_MARKER + JSON.stringify(r));
}

/** A checklist that prints its results as report lines. */
class GuestChecklist extends Checklist {
  #run: number;
  constructor(run: number) {
    super();
    this.#run = run;
  }
  override record(result: RequirementResult): boolean {
    this.results.push(result);
    report({ run: this.#run, type: "result", result });
    return result.ok;
  }
  override note(line: string): void {
    report({ run: this.#run, type: "note", line });
  }
}

if (import.meta.main) {
  const request = JSON.parse(Deno.args[0]) as GuestRequest;
  for (const [run, { lab, impl }] of request.runs.entries()) {
    try {
      await runLab(lab, new GuestChecklist(run), { impl, vm: true, limitMs: request.limitMs });
      report({ run, type: "done" });
    } catch (e) {
      report({ run, type: "error", message: e instanceof Error ? e.message : String(e) });
    }
  }
}
