/**
 * What every lab checker provides, and the options they take.
 *
 * @module
 */

import type { Checklist } from "./checklist.ts";
import type { Exports } from "./load.ts";

/** Options of a lab run (from the command line). */
export interface LabOptions {
  /** Lab 6: where the plot goes (default `tools/lab/mine/lab6_batch_size.svg`). */
  out?: string;
  /** Lab 6: milliseconds per measurement (default 100; 5 repeats per batch size). */
  durationMs?: number;
  /** The lab file as an absolute path (set by `runLab`; lab 7 hands it to the lab VM). */
  implPath?: string;
  /**
   * Writes a file the checker made (lab 6's plot); set by the worker, whose
   * runner writes it (the worker has no permissions). Default: write it here.
   */
  writeFile?: (path: string, text: string) => void;
  /** Time limit of one call of a lab function in milliseconds (default DEFAULT_CALL_LIMIT_MS). */
  limitMs?: number;
  /**
   * Run the lab's lab-VM checker (labs 1 and 2: lab1_vm.ts, lab2_vm.ts). Set
   * inside the guest only: `--vm` on the host starts the VM (vm.ts).
   */
  vm?: boolean;
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
  /** What typically makes this lab's code loop forever, for the time-limit message. */
  readonly hangHint?: string;
  /**
   * The checker boots the lab VM itself and runs the student's code there (lab 7):
   * `runLab` calls its `run` on the host, not in the worker, and the VM run has
   * its own time limit.
   */
  readonly bootsVm?: boolean;
  /** Time a call of a lab function may take on top of the limit (lab 6: its measuring time). */
  callExtraMs?(options: LabOptions): number;
  /** Checks every requirement of the lab against `impl`, recording results in `list`. */
  run(impl: Exports, list: Checklist, options: LabOptions): Promise<void>;
}
