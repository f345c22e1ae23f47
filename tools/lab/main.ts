/**
 * `deno task lab <n> [--impl <file>]`: checks a lab solution against the
 * software 82599 (labs 1-6) or QEMU's 82576 in the lab VM (lab 7) and says,
 * requirement by requirement, what passes and what fails. Exits 0 if
 * everything passes, 1 if anything fails.
 *
 *     deno task lab 3 --impl labs/my_tx.ts
 *
 * Without --impl it checks the reference solution: labs 3 and 4 the driver's own
 * drivers/ixgbe/tx.ts and rx.ts, lab 7 drivers/igb/rx.ts, the others
 * tools/lab/solutions/, which re-exports the driver's and src/'s functions.
 * Each requirement is time-limited (--limit); see mod.ts. With --vm (labs 1
 * and 2) the checks run in the lab VM on a real device and real hugepages
 * (vm.ts). Lab 7 always boots the lab VM and checks there (lab7_igb.ts).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { IxyError } from "../../src/error.ts";
import { runApp } from "../lib/app.ts";
import { intOption } from "../lib/cli.ts";
import { Checklist } from "./checklist.ts";
import { DEFAULT_CALL_LIMIT_MS, LABS, runLab } from "./mod.ts";
import { findLab } from "./labs.ts";
import { runLabsInVm } from "./vm.ts";

const LIMIT_S = DEFAULT_CALL_LIMIT_MS / 1000;

const HELP = `Usage: deno task lab <n> [--impl <file>] [--vm] [options]

Checks your solution of lab <n> (1-7, see docs/labs/) and prints PASS or FAIL
for each requirement, with the reason. Exit code 0 if all pass, 1 otherwise.
Labs 1-6 run on the software 82599 (no root, no NIC, a few seconds); lab 7
boots the lab VM with QEMU's igb (QEMU 8.0 or newer, about a minute).

Labs:
${LABS.map((l) => `  ${l.number}  ${l.title}  (exports: ${l.functions.join(", ")})`).join("\n")}

Options:
  --impl FILE   your lab file (default: the reference solution)
  --vm          labs 1 and 2: check your file in the lab VM instead, as root on a
                real (emulated) PCI device and real hugepages: lab 1's parseConfig on
                every PCI device of the VM against sysfs and od, lab 2's translation
                and mempool against the kernel's pagemap read by another process and
                /proc/kpageflags. Boots QEMU (30 s or more); needs what
                \`deno task vm --setup\` installs (root on the host)
  --out FILE    lab 6: where the plot goes (default tools/lab/mine/lab6_batch_size.svg,
                beside your lab files and ignored by git)
  --ms N        lab 6: milliseconds per measurement, 50..5000 (default 100; each batch
                size is measured 5 times and the fastest is plotted; batch 1 and 32
                are compared in 30 slices of N/5 ms each)
  --limit S     labs 1-6: seconds one call of your code may take before it is stopped
                and the requirement fails, 1..600 (default ${LIMIT_S}; lab 6's measurement
                gets more)
  -h, --help    show this help

Every requirement of labs 1-6 runs with a time limit in a worker the checker
can stop, so a loop that never returns fails its requirement ("rxBatch did not
return within ${LIMIT_S} s") instead of hanging the checker.`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      impl: { type: "string" },
      out: { type: "string" },
      ms: { type: "string" },
      limit: { type: "string" },
      vm: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return console.log(HELP);
  if (positionals.length !== 1) {
    throw new IxyError(`Expected one lab number (1-7). See --help.`);
  }
  const n = intOption("lab number", positionals[0], { min: 1, max: 7 });
  const durationMs = values.ms === undefined
    ? undefined
    : intOption("ms", values.ms, { min: 50, max: 5000 });
  const limitMs = values.limit === undefined
    ? undefined
    : intOption("limit", values.limit, { min: 1, max: 600 }) * 1000;
  const list = new Checklist((line) => console.log(line));
  let title: string;
  if (values.vm && LABS.find((l) => l.number === n)?.bootsVm) {
    throw new IxyError(`Lab ${n} always runs in the lab VM: run it without --vm.`);
  }
  if (values.vm) {
    await runLabsInVm([{ lab: n, impl: values.impl, list }], {
      limitMs,
      log: (m) => console.error(`[vm] ${m}`),
    });
    title = findLab(n, true)!.title;
  } else {
    title = (await runLab(n, list, { impl: values.impl, out: values.out, durationMs, limitMs }))
      .title;
  }
  const failed = list.results.filter((r) => !r.ok).length;
  const unsure = list.results.filter((r) => r.unsure).length;
  const all = list.results.length;
  console.log(
    failed > 0
      ? `lab ${n}: ${failed} of ${all} requirements not met (${title}).`
      : unsure > 0
      ? `lab ${n}: ${all - unsure} of ${all} requirements met; ${unsure} could not be judged ` +
        `on this busy machine: run the checker again.`
      : `lab ${n}: all ${all} requirements met.`,
  );
  if (failed > 0) Deno.exit(1);
}

if (import.meta.main) runApp(main);
