/**
 * `deno task lab <n> [--impl <file>]`: checks a lab solution against the
 * software 82599 and says, requirement by requirement, what passes and what
 * fails. Exits 0 if everything passes, 1 if anything fails.
 *
 *     deno task lab 3 --impl labs/my_tx.ts
 *
 * Without --impl it checks the reference solution: labs 3 and 4 the driver's own
 * drivers/ixgbe/tx.ts and rx.ts, the others tools/lab/solutions/.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { IxyError, runTool } from "../../src/error.ts";
import { intOption } from "../lib/cli.ts";
import { Checklist } from "./checklist.ts";
import { LABS, runLab } from "./mod.ts";

const HELP = `Usage: deno task lab <n> [--impl <file>] [options]

Checks your solution of lab <n> (1-6, see docs/labs/) on the software 82599
(no root, no NIC) and prints PASS or FAIL for each requirement, with the
reason. Exit code 0 if all pass, 1 otherwise.

Labs:
${LABS.map((l) => `  ${l.number}  ${l.title}  (exports: ${l.functions.join(", ")})`).join("\n")}

Options:
  --impl FILE   your lab file (default: the reference solution)
  --out FILE    lab 6: where the plot goes (default lab6_batch_size.svg)
  --ms N        lab 6: milliseconds per measurement, 50..5000 (default 300)
  -h, --help    show this help`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      impl: { type: "string" },
      out: { type: "string" },
      ms: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return console.log(HELP);
  if (positionals.length !== 1) {
    throw new IxyError(`Expected one lab number (1-6). See --help.`);
  }
  const n = intOption("lab number", positionals[0], { min: 1, max: 6 });
  const durationMs = values.ms === undefined
    ? undefined
    : intOption("ms", values.ms, { min: 50, max: 5000 });
  const list = new Checklist((line) => console.log(line));
  const lab = await runLab(n, list, { impl: values.impl, out: values.out, durationMs });
  const failed = list.results.filter((r) => !r.ok).length;
  console.log(
    failed === 0
      ? `lab ${n}: all ${list.results.length} requirements met.`
      : `lab ${n}: ${failed} of ${list.results.length} requirements not met (${lab.title}).`,
  );
  if (failed > 0) Deno.exit(1);
}

if (import.meta.main) runTool(main);
