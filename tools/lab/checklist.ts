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
  /** True if the machine was too noisy to judge (then `ok` is true and `reason` says to rerun). */
  unsure?: boolean;
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

/**
 * Thrown by a measuring requirement (lab 6) when the machine was too noisy to
 * tell: the requirement is neither met nor failed, and the student is told to
 * rerun instead of being blamed for another program's load.
 */
export class Unsure extends Error {
  /** Creates the verdict; `reason` is shown to the student as is. */
  constructor(reason: string) {
    super(reason);
    this.name = "Unsure";
  }
}

/** Options of one requirement check. */
export interface CheckOptions {
  /**
   * How long the requirement may take, in milliseconds, before the runner
   * (mod.ts) stops the student's code and fails it (default: the lab's limit).
   */
  limitMs?: number;
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
   * code) with its message. An {@link Unsure} records it as met with a
   * "could not judge" reason (see {@link RequirementResult.unsure}).
   */
  async check(
    name: string,
    check: () => void | Promise<void>,
    _options: CheckOptions = {},
  ): Promise<boolean> {
    let reason = "";
    let unsure = false;
    try {
      await check();
    } catch (e) {
      unsure = e instanceof Unsure;
      reason = e instanceof Unmet || e instanceof Unsure
        ? e.message
        : `your code threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
    }
    return this.record({ name, ok: reason === "" || unsure, reason, unsure });
  }

  /** Records (and prints) a result that was found elsewhere, e.g. in the lab's worker. */
  record(result: RequirementResult): boolean {
    this.results.push(result);
    const { name, ok, reason } = result;
    this.#print(
      result.unsure
        ? `  ????  ${name}\n        ${reason}`
        : ok
        ? `  PASS  ${name}`
        : `  FAIL  ${name}\n        ${reason}`,
    );
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
