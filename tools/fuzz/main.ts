/**
 * `deno task fuzz`: the seeded fuzzer of ./fuzz.ts — a device that lies to
 * our drivers, on the instant devices (no NIC, no VM).
 *
 *     deno task fuzz                               # all four drivers, 1 M packets each
 *     deno task fuzz --driver e1000 --seed 7 --packets 10000000
 *
 * Exits 1 if a driver let an exception escape, miscounted a fault, handed
 * out a wrong frame or leaked a buffer; prints the seed to replay it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { IxyError, runTool } from "../../src/error.ts";
import { intOption } from "../lib/cli.ts";
import { FUZZ_DRIVERS, type FuzzDriver, type FuzzReport, runFuzz } from "./fuzz.ts";

const HELP = `Usage: deno task fuzz [--driver ${FUZZ_DRIVERS.join("|")}] [--seed N] [--packets N]
                      [--fault-every N]

Drives each driver's rxBatch/txBatch against a device that lies, in the ways
its descriptor format allows: bad lengths, status and error bits (ixgbe, igb,
e1000), used-ring ids and index jumps (virtio), completion order, plus bad
buffer sizes handed to txBatch. Checks that no exception escapes, every
detectable fault is counted once (rxErrors + deviceErrors), every good frame
arrives with the right length, and no buffer leaks.

  --driver D     ${FUZZ_DRIVERS.join(", ")} (default: all, one after the other)
  --seed N       seed of the pseudo-random faults (default 1; same seed, same run)
  --packets N    receive write-backs per driver (default 1000000)
  --fault-every N  one fault per N write-backs on average (default 8)
  -h, --help     show this help`;

function line(r: FuzzReport): string {
  const mpps = r.packets / r.ms / 1000;
  return `${r.driver}: seed ${r.seed}, ${r.packets} packets (${r.delivered} good frames ` +
    `delivered, ${r.sent} sent), ${r.injected} faults injected: ${r.detectable} detectable, ` +
    `${r.caught} caught; ${r.benign} benign; ${r.badTxSizes} bad TX sizes; ` +
    `${(r.ms / 1000).toFixed(1)} s (${mpps.toFixed(2)} M packets/s)`;
}

function knownDriver(d: string): FuzzDriver {
  const known = FUZZ_DRIVERS as readonly string[];
  if (!known.includes(d)) {
    throw new IxyError(`Unknown --driver "${d}": use one of ${FUZZ_DRIVERS.join(", ")}.`);
  }
  return d as FuzzDriver;
}

await runTool(() => {
  const { values } = parseArgs({
    options: {
      driver: { type: "string" },
      seed: { type: "string", default: "1" },
      packets: { type: "string", default: "1000000" },
      "fault-every": { type: "string", default: "8" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const drivers: readonly FuzzDriver[] = values.driver === undefined
    ? FUZZ_DRIVERS
    : [knownDriver(values.driver)];
  const seed = intOption("seed", values.seed, { min: 0, max: 0xffff_ffff });
  const packets = intOption("packets", values.packets, { min: 1 });
  const faultEvery = intOption("fault-every", values["fault-every"], { min: 1 });
  let failed = false;
  for (const driver of drivers) {
    const r = runFuzz({ driver, seed, packets, faultEvery });
    console.log(line(r));
    for (const p of r.problems) console.log(`  FAIL: ${p}`);
    if (r.problems.length > 0) {
      failed = true;
      console.log(
        `  replay: deno task fuzz --driver ${driver} --seed ${seed} --packets ${packets}`,
      );
    }
  }
  if (failed) Deno.exit(1);
});
