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
    throw new IxyError(`Invalid --${name} "${text}": expected a whole number ${bounds}.`);
  }
  return value;
}
