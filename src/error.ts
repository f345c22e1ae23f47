/**
 * One error type for everything that can go wrong between the user and the
 * device. Its message follows one pattern — what failed, why, what to do next —
 * so the tools can print it as a single line instead of a stack trace:
 *
 *     Cannot map BAR0 of 0000:00:10.0: Permission denied. Run as root (sudo).
 *
 * @module
 */

import { errno, strerror } from "./ffi.ts";

/** An error a user can act on; tools print only its message. */
export class IxyError extends Error {
  /** The C `errno` behind the error, when a system call failed. */
  readonly errno?: number;
  /**
   * The exit code a tool ends with on this error: 1 unless the error says
   * otherwise (the lab VM's `VmError`: 2 for bad options, 124 for a timeout,
   * 125 for a VM that could not start or died).
   */
  readonly exitCode: number;

  /**
   * Creates an error; `options.errno` records a failed system call,
   * `options.exitCode` the tool's exit code (default 1).
   */
  constructor(
    message: string,
    options: { errno?: number; cause?: unknown; exitCode?: number } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "IxyError";
    this.errno = options.errno;
    this.exitCode = options.exitCode ?? 1;
  }
}

/**
 * Builds an {@link IxyError} for a libc call that just failed, reading errno
 * immediately. `what` says what we tried, `hint` what the user can do.
 */
export function sysError(what: string, hint = ""): IxyError {
  const code = errno();
  const why = strerror(code);
  return new IxyError(`${what}: ${why}.${hint ? " " + hint : ""}`, { errno: code });
}

/**
 * Runs a tool's main function and turns an {@link IxyError} into one line on
 * stderr and its exit code (1 unless it carries another), a malformed option
 * into one line and exit code 2; any other error is a bug and keeps its stack
 * trace.
 */
export async function runTool(main: () => Promise<void> | void): Promise<void> {
  try {
    await main();
  } catch (e) {
    if (e instanceof IxyError) {
      console.error(`error: ${e.message}`);
      Deno.exit(e.exitCode);
    }
    // node:util parseArgs rejects unknown or malformed options with a code.
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
      console.error(`error: ${(e as Error).message}. See --help.`);
      Deno.exit(2);
    }
    throw e;
  }
}
