/**
 * Small helpers shared by the command-line tools.
 *
 * @module
 */

import { IxyError } from "../../src/error.ts";

/** Parses an integer option, with a clear error for bad values. */
export function intOption(
  name: string,
  text: string,
  range: { min?: number; max?: number } = {},
): number {
  const value = Number(text);
  const min = range.min ?? -Infinity;
  const max = range.max ?? Infinity;
  if (!/^-?\d+$/.test(text.trim()) || value < min || value > max) {
    const bounds = max === Infinity ? `at least ${min}` : `${min}..${max}`;
    const flag = name.length === 1 ? `-${name}` : `--${name}`;
    throw new IxyError(`Invalid ${flag} "${text}": expected a whole number ${bounds}.`);
  }
  return value;
}

/**
 * Parses an optional limit such as `--seconds` or `--count` (at least 1);
 * an absent option means no limit (Infinity).
 */
export function limitOption(name: string, text: string | undefined): number {
  return text === undefined ? Infinity : intOption(name, text, { min: 1 });
}

/**
 * The options every app that takes NICs shares, for node:util parseArgs:
 * `--seconds`, `--rebind`, `--force` and `-h/--help`.
 */
export const DEVICE_APP_OPTIONS = {
  seconds: { type: "string" },
  rebind: { type: "boolean", default: false },
  force: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;
