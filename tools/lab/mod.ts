/**
 * The lab checkers as a library: {@link runLab} runs lab n against a lab file
 * (or the reference solution) and fills a {@link Checklist}. The command line
 * is main.ts (`deno task lab --help`); the tests are tests/sim/labs_test.ts.
 *
 * @module
 */

import { IxyError } from "../../src/error.ts";
import { Checklist } from "./checklist.ts";
import { loadImpl } from "./load.ts";
import type { Lab, LabOptions } from "./lab.ts";
import { lab1 } from "./lab1_pci.ts";
import { lab2 } from "./lab2_dma.ts";
import { lab3 } from "./lab3_tx.ts";
import { lab4 } from "./lab4_rx.ts";
import { lab5 } from "./lab5_stats.ts";
import { lab6 } from "./lab6_perf.ts";
import { lab7 } from "./lab7_igb.ts";

export { Checklist, type RequirementResult } from "./checklist.ts";
export type { Lab, LabOptions } from "./lab.ts";

/** All labs, in order. */
export const LABS: readonly Lab[] = [lab1, lab2, lab3, lab4, lab5, lab6, lab7];

/** The repository root (tools/lab/ is two levels down). */
const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * Runs lab `n` on the file `options.impl` (default: the reference solution)
 * and records every requirement in `list`; returns the lab.
 */
export async function runLab(
  n: number,
  list: Checklist = new Checklist(),
  options: LabOptions & { impl?: string } = {},
): Promise<Lab> {
  const lab = LABS.find((l) => l.number === n);
  if (lab === undefined) throw new IxyError(`There is no checker for lab ${n}: labs are 1-7.`);
  const path = options.impl ?? ROOT + lab.reference;
  const impl = await loadImpl(path, lab.functions);
  const implPath = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  await lab.run(impl, list, { ...options, implPath });
  return lab;
}
