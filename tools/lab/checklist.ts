/**
 * The checkers' bookkeeping: a list of requirements, each checked by a
 * function that throws (with a plain-words reason) when it is not met.
 *
 * @module
 */

/** The outcome of one requirement. */
export interface RequirementResult {
  /** What is required, in plain words. */
  name: string;
  /** True if it is met. */
  ok: boolean;
  /** Why not (empty when met). */
  reason: string;
}

/** Thrown by a requirement check with the reason it failed. */
export class Unmet extends Error {
  /** Creates the failure; `reason` is shown to the student as is. */
  constructor(reason: string) {
    super(reason);
    this.name = "Unmet";
  }
}

/** Throws {@link Unmet} with `reason` unless `condition` holds (an assertion in plain words). */
export function must(condition: boolean, reason: string): asserts condition {
  if (!condition) throw new Unmet(reason);
}

/** Collects requirement results; a failing check does not stop the next one. */
export class Checklist {
  /** The results so far, in order. */
  readonly results: RequirementResult[] = [];
  #print: (line: string) => void;

  /** `print` receives one line per result as it is known (default: nothing). */
  constructor(print: (line: string) => void = () => {}) {
    this.#print = print;
  }

  /**
   * Runs `check` for requirement `name`. Any exception fails it: an
   * {@link Unmet} with its reason, anything else (a crash of the student's
   * code) with its message.
   */
  async check(name: string, check: () => void | Promise<void>): Promise<boolean> {
    let reason = "";
    try {
      await check();
    } catch (e) {
      reason = e instanceof Unmet
        ? e.message
        : `your code threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
    }
    const ok = reason === "";
    this.results.push({ name, ok, reason });
    this.#print(ok ? `  PASS  ${name}` : `  FAIL  ${name}\n        ${reason}`);
    return ok;
  }

  /** Prints an informational line (e.g. a measurement) between the results. */
  note(line: string): void {
    this.#print(`        ${line}`);
  }

  /** True if every requirement so far is met. */
  get allMet(): boolean {
    return this.results.every((r) => r.ok);
  }
}
