/**
 * Errors of the lab VM that are meant to be shown to a person.
 *
 * Every failure we can foresee (a missing tool, a bad option, a guest that
 * died, a timeout) becomes a {@link VmError} whose message says what failed,
 * why, and what to do about it. The CLI prints only that message (no stack
 * trace) and exits with {@link VmError.exitCode}. A VmError is an
 * {@link IxyError} that carries its own exit code, so every tool's `runTool`
 * / `runApp` prints it as one line and exits with that code.
 *
 * @module
 */

import { IxyError } from "../../src/error.ts";

/** Exit code of the CLI when the options are wrong (like most Unix tools). */
export const EXIT_USAGE = 2;
/** Exit code of the CLI when the command ran out of time (like coreutils `timeout`). */
export const EXIT_TIMEOUT = 124;
/** Exit code of the CLI when the VM itself could not be set up or died (like `docker run`). */
export const EXIT_VM_FAILURE = 125;

/** A failure of the lab VM with a message written for humans. */
export class VmError extends IxyError {
  /**
   * Creates the error.
   *
   * @param message what failed, why, and what to do about it
   * @param exitCode exit code for the CLI (default {@link EXIT_VM_FAILURE})
   */
  constructor(message: string, exitCode: number = EXIT_VM_FAILURE) {
    super(message, { exitCode });
    this.name = "VmError";
  }
}
