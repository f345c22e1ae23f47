/**
 * `deno task bench:report`: runs every scenario (driver × mode × batch size)
 * in its own process (tools/bench/measure.ts), converts to ns, cycles and
 * Mpps per packet, checks allocations and deoptimisations in steady state
 * (the probe), prints Markdown tables and writes tools/bench/results.json for
 * `deno task bench:plot`.
 *
 *     deno run -A tools/bench/run.ts [--drivers virtio,ixgbe,e1000,igb] [--modes fwd,tx]
 *       [--batches 1,2,...] [--rounds N] [--no-probe] [--out FILE]
 *
 * Clock: cycles = ns × the CPU clock from /proc/cpuinfo ("cpu MHz"). On our
 * VM the TSC runs at that nominal frequency (flags constant_tsc,
 * tsc_known_freq); a turbo clock higher than nominal would make the true
 * cycle counts higher than shown.
 *
 * Noise: the machine is shared, so each scenario runs `rounds` processes of
 * 5 repetitions × 2 M packets; we report the minimum (the run least
 * disturbed by other processes) and the median of all repetitions.
 *
 * Flags: each measuring process runs with the V8 flags of `deno task fwd`
 * (tools/lib/v8_flags.ts), also when this file is run without the task.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { BATCH_SIZES, DRIVERS, MODES } from "./scenarios.ts";
import type { Measurement, Probe } from "./measure.ts";
import { IxyError } from "../../src/error.ts";
import { intOption } from "../lib/cli.ts";
import { runApp } from "../lib/app.ts";
import { v8FlagsArgument } from "../lib/v8_flags.ts";

const HERE = new URL(".", import.meta.url).pathname;

/** One row of the results. */
export interface Row {
  driver: string;
  mode: string;
  batch: number;
  minNs: number;
  medianNs: number;
  /** Cycles at the minimum. */
  cycles: number;
  /** Mpps at the minimum (1000 / ns). */
  mpps: number;
}

/** What results.json holds. */
export interface Results {
  date: string;
  cpuMHz: number;
  cpuModel: string;
  deno: string;
  loadBefore: string;
  loadAfter: string;
  rows: Row[];
  probes: {
    driver: string;
    mode: string;
    batch: number;
    bytesPerPacket: number;
    gcs: number;
    deopts: string[];
  }[];
}

/** CPU clock and model from /proc/cpuinfo. */
export function cpuInfo(): { mhz: number; model: string } {
  const text = Deno.readTextFileSync("/proc/cpuinfo");
  const mhz = Number(/cpu MHz\s*:\s*([\d.]+)/.exec(text)?.[1] ?? NaN);
  const model = /model name\s*:\s*(.+)/.exec(text)?.[1] ?? "unknown";
  return { mhz, model };
}

/** The load average, for the record. */
export function load(): string {
  return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
}

async function deno(args: string[], stdbuf = false): Promise<string> {
  const cmd = stdbuf ? "stdbuf" : Deno.execPath();
  const fullArgs = stdbuf ? ["-oL", Deno.execPath(), ...args] : args;
  const out = await new Deno.Command(cmd, { args: fullArgs, stdout: "piped", stderr: "inherit" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new IxyError(`A measurement failed: deno ${args.join(" ")} (its errors are above).`);
  }
  return text;
}

/** Splits a comma-separated option and checks every item against `allowed`. */
function listOption(name: string, text: string, allowed: readonly string[]): string[] {
  const items = text.split(",").map((item) => item.trim());
  const bad = items.find((item) => !allowed.includes(item));
  if (bad !== undefined) {
    throw new IxyError(`Invalid --${name} item "${bad}": expected some of ${allowed.join(",")}.`);
  }
  return items;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const HELP = `Usage: deno task bench:report [options]

Runs every scenario (driver x mode x batch size) against the instant devices,
each round in its own process, and prints ns, cycles and Mpps per packet as
Markdown tables, plus allocations and deoptimisations in steady state (the
probe). Writes the results as JSON for deno task bench:plot.

Options:
  --drivers LIST        drivers to measure (default ${DRIVERS.join(",")})
  --modes LIST          fwd (receive + send) and/or tx (default ${MODES.join(",")})
  --batches LIST        batch sizes (default ${BATCH_SIZES.join(",")})
  --probe-batches LIST  batch sizes the probe checks (default 1,32,256)
  --rounds N            processes per scenario, 1 to 100 (default 3)
  --no-probe            skip the allocation/deoptimisation probe
  --out FILE            where the JSON goes (default tools/bench/results.json)
  -h, --help            show this help

Example: deno task bench:report --drivers ixgbe --modes fwd --batches 32 --rounds 1`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      drivers: { type: "string", default: DRIVERS.join(",") },
      modes: { type: "string", default: MODES.join(",") },
      batches: { type: "string", default: BATCH_SIZES.join(",") },
      "probe-batches": { type: "string", default: "1,32,256" },
      rounds: { type: "string", default: "3" },
      "no-probe": { type: "boolean", default: false },
      out: { type: "string", default: `${HERE}results.json` },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return console.log(HELP);
  const drivers = listOption("drivers", values.drivers, DRIVERS);
  const modes = listOption("modes", values.modes, MODES);
  const batches = listOption("batches", values.batches, BATCH_SIZES.map(String)).map(Number);
  const probeBatches = listOption("probe-batches", values["probe-batches"], BATCH_SIZES.map(String))
    .map(Number);
  const rounds = intOption("rounds", values.rounds, { min: 1, max: 100 });
  const { mhz, model } = cpuInfo();
  const loadBefore = load();
  console.log(
    `# ${model}, ${mhz} MHz (/proc/cpuinfo), Deno ${Deno.version.deno}, load ${loadBefore}`,
  );
  const rows: Row[] = [];
  for (const driver of drivers) {
    for (const mode of modes) {
      for (const batch of batches) {
        const all: number[] = [];
        for (let r = 0; r < rounds; r++) {
          const text = await deno([
            "run",
            "-A",
            v8FlagsArgument(),
            `${HERE}measure.ts`,
            driver,
            mode,
            String(batch),
          ]);
          const m = JSON.parse(text.trim().split("\n").pop()!) as Measurement;
          all.push(...m.nsPerPacket);
        }
        const minNs = Math.min(...all);
        const row: Row = {
          driver,
          mode,
          batch,
          minNs,
          medianNs: median(all),
          cycles: minNs * mhz / 1000,
          mpps: 1000 / minNs,
        };
        rows.push(row);
        console.log(
          `${driver} ${mode} batch ${batch}: ${minNs.toFixed(1)} ns/packet (median ` +
            `${row.medianNs.toFixed(1)}), ${row.cycles.toFixed(0)} cycles, ${
              row.mpps.toFixed(2)
            } Mpps`,
        );
      }
    }
  }
  const probes: Results["probes"] = [];
  if (!values["no-probe"]) {
    for (const driver of drivers) {
      for (const mode of modes) {
        for (const batch of probeBatches) {
          probes.push(await probe(driver, mode, batch));
          const p = probes[probes.length - 1];
          console.log(
            `probe ${driver} ${mode} batch ${batch}: ${
              p.bytesPerPacket.toFixed(4)
            } heap bytes/packet, ` +
              `${p.gcs} GCs, ${p.deopts.length} deopts in steady state`,
          );
          for (const d of p.deopts) console.log(`  ${d}`);
        }
      }
    }
  }
  const results: Results = {
    date: new Date().toISOString(),
    cpuMHz: mhz,
    cpuModel: model,
    deno: Deno.version.deno,
    loadBefore,
    loadAfter: load(),
    rows,
    probes,
  };
  Deno.writeTextFileSync(values.out, JSON.stringify(results, null, 2) + "\n");
  console.log(`\n${markdown(results)}`);
  console.log(`wrote ${values.out}; load now ${results.loadAfter}`);
}

/**
 * Runs measure.ts --probe under --trace-gc and --trace-deopt (stdbuf keeps
 * V8's lines in order with ours) and reads the steady-state window.
 */
async function probe(driver: string, mode: string, batch: number): Promise<Results["probes"][0]> {
  const text = await deno([
    "run",
    "-A",
    v8FlagsArgument("--expose-gc", "--trace-gc", "--trace-deopt"),
    `${HERE}measure.ts`,
    driver,
    mode,
    String(batch),
    "--probe",
  ], true);
  const lines = text.split("\n");
  const begin = lines.indexOf("=== PROBE WINDOW BEGIN ===");
  const end = lines.indexOf("=== PROBE WINDOW END ===");
  const window = lines.slice(begin + 1, end);
  const p = JSON.parse(lines.slice(end + 1).find((l) => l.startsWith("{"))!) as Probe;
  return {
    driver,
    mode,
    batch,
    bytesPerPacket: (p.heapAfter - p.heapBefore) / p.packets,
    gcs: window.filter((l) => / (Scavenge|Mark-Compact|Minor Mark)/.test(l)).length,
    deopts: window.filter((l) => l.includes("bailout") || l.includes("deoptimiz"))
      .map((l) => l.slice(0, 200)),
  };
}

/** The tables for docs/performance.md. */
export function markdown(r: Results): string {
  const out: string[] = [];
  for (const mode of ["fwd", "tx"]) {
    const rows = r.rows.filter((x) => x.mode === mode);
    if (rows.length === 0) continue;
    out.push(
      `${mode === "fwd" ? "Forwarding (rxBatch → touch → txBatch)" : "Transmit only (pktgen)"}:\n`,
    );
    out.push("| driver | batch | ns/packet (min) | ns/packet (median) | cycles/packet | Mpps |");
    out.push("| ------ | ----: | --------------: | -----------------: | ------------: | ---: |");
    for (const x of rows) {
      out.push(
        `| ${x.driver} | ${x.batch} | ${x.minNs.toFixed(1)} | ${x.medianNs.toFixed(1)} | ` +
          `${x.cycles.toFixed(0)} | ${x.mpps.toFixed(2)} |`,
      );
    }
    out.push("");
  }
  return out.join("\n");
}

if (import.meta.main) await runApp(main);
