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

  /** Creates an error; `options.errno` records a failed system call. */
  constructor(message: string, options: { errno?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "IxyError";
    this.errno = options.errno;
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
 * stderr and exit code 1; any other error is a bug and keeps its stack trace.
 */
export async function runTool(main: () => Promise<void> | void): Promise<void> {
  try {
    await main();
  } catch (e) {
    if (e instanceof IxyError) {
      console.error(`error: ${e.message}`);
      Deno.exit(1);
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
