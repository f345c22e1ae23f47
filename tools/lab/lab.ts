/**
 * What every lab checker provides, and the options they take.
 *
 * @module
 */

import type { Checklist } from "./checklist.ts";
import type { Exports } from "./load.ts";

/** Options of a lab run (from the command line). */
export interface LabOptions {
  /** Lab 6: where the plot goes (default `lab6_batch_size.svg`). */
  out?: string;
  /** Lab 6: milliseconds per measurement (default 300). */
  durationMs?: number;
  /** The lab file as an absolute path (set by `runLab`; lab 7 hands it to the lab VM). */
  implPath?: string;
}

/** One lab's checker. */
export interface Lab {
  /** The lab's number, 1..7. */
  readonly number: number;
  /** Its title. */
  readonly title: string;
  /** The reference solution, relative to the repository root. */
  readonly reference: string;
  /** The functions a lab file must export. */
  readonly functions: readonly string[];
  /** Checks every requirement of the lab against `impl`, recording results in `list`. */
  run(impl: Exports, list: Checklist, options: LabOptions): Promise<void>;
}
