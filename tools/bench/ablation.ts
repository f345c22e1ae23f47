/**
 * Ablation: the same benchmark scenario in several versions of the tree,
 * measured interleaved in one process, so the difference between two
 * versions is not buried in the drift between runs of a shared machine.
 *
 *     deno task bench:ablation --rev 78250e0 \
 *       tools/bench/ablations/no_double_free_check.patch \
 *       tools/bench/ablations/index_api.patch --rounds 40
 *
 * Each variant is a copy of the tree at `--rev` (default HEAD; `git archive`,
 * so uncommitted changes are not in it) with one patch applied, in a
 * directory of its own under the system temp directory. Every copy's
 * `tools/bench/scenarios.ts` is imported: separate modules, so V8 keeps
 * separate type feedback and code for each and no variant's inline caches
 * see another's objects. Two unpatched copies are always run, `base` and
 * `control`: the difference between them is this method's noise.
 *
 * Per round every variant runs `--packets` packets, in a rotating order; the
 * time of a round is the main thread's CPU time (CLOCK_THREAD_CPUTIME_ID
 * through FFI, tools/lib/clock.ts `threadCpuNs`): on a 2-vCPU machine
 * shared with other work a process gets about half of the wall-clock time,
 * and CPU time does not count the other half. Printed: min and median
 * ns/packet per variant over the rounds, and the median's difference to
 * `base`; the load average before and after.
 *
 * A patch is `git diff` output against the tree at `--rev` (`git diff >
 * my.patch` in a worktree). The patches in tools/bench/ablations/ say in
 * their first lines the commit they apply to and what they change; they are
 * experiments, some wrong on purpose (no double-free check), never code to
 * merge. Options: `--driver ixgbe|virtio|e1000|igb`, `--mode fwd|tx`,
 * `--batch N`, `--rounds N`, `--packets N` (per round), `--json FILE`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { basename, join } from "node:path";
import { IxyError } from "../../src/error.ts";
import { runApp } from "../lib/app.ts";
import { intOption } from "../lib/cli.ts";
import { threadCpuNs } from "../lib/clock.ts";

interface Variant {
  name: string;
  /** Runs at least `packets` packets; returns how many. */
  run: (packets: number) => number;
  check: () => string | undefined;
  ns: number[];
}

function sh(cmd: string[], cwd?: string): void {
  const out = new Deno.Command(cmd[0], { args: cmd.slice(1), cwd, stderr: "piped" }).outputSync();
  if (!out.success) {
    throw new IxyError(`${cmd.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** A copy of the tree at `rev` in a fresh directory, `patch` applied. */
function makeTree(rev: string, patch: string | undefined): string {
  const dir = Deno.makeTempDirSync({ prefix: "ixy-ablation-" });
  sh(["git", "archive", "-o", join(dir, "tree.tar"), rev]);
  sh(["tar", "-xf", "tree.tar"], dir);
  if (patch) {
    try {
      sh(["git", "apply", "--whitespace=nowarn", Deno.realPathSync(patch)], dir);
    } catch (e) {
      throw new IxyError(
        `${patch} does not apply to ${rev} (${(e as Error).message.trim()}). ` +
          `Its first line names the commit it was made against: run with --rev <that commit>.`,
      );
    }
  }
  return dir;
}

async function load(
  name: string,
  dir: string,
  driver: string,
  mode: string,
  batch: number,
): Promise<Variant> {
  const mod = await import(`file://${join(dir, "tools/bench/scenarios.ts")}`);
  const s = mod.makeScenario(driver, mode, batch);
  // A loop of its own per variant (a new function, so its call site of
  // step() sees one variant only and can inline it).
  const run = new Function(
    "s",
    "return function run(packets) { let moved = 0; while (moved < packets) moved += s.step(); return moved; };",
  )(s) as (packets: number) => number;
  return { name, run, check: () => s.check(), ns: [] };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function load1(): string {
  return Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
}

const HELP = `Usage: deno task bench:ablation [options] [PATCH...]

Measures one benchmark scenario (tools/bench/scenarios.ts) in several copies
of the tree, interleaved in one process: base and control (unpatched; their
difference is the method's noise) and one copy per PATCH (git diff output
against --rev). Prints min and median ns/packet of the main thread's CPU time
per variant, and the median's difference to base.

Options:
  --rev REV        the commit the copies are made from (default HEAD)
  --driver D       ixgbe, virtio, e1000 or igb (default ixgbe)
  --mode M         fwd or tx (default fwd)
  --batch N        frames per batch, 1 to 256 (default 32)
  --rounds N       rounds, each variant once per round (default 40)
  --packets N      packets per variant and round (default 500000)
  --json FILE      also write every round's ns/packet as JSON
  -h, --help       show this help

Example: deno task bench:ablation --rev 78250e0 tools/bench/ablations/no_touch.patch --rounds 20`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      rev: { type: "string", default: "HEAD" },
      driver: { type: "string", default: "ixgbe" },
      mode: { type: "string", default: "fwd" },
      batch: { type: "string", default: "32" },
      rounds: { type: "string", default: "40" },
      packets: { type: "string", default: "500000" },
      json: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return console.log(HELP);
  const batch = intOption("batch", values.batch, { min: 1, max: 256 });
  const rounds = intOption("rounds", values.rounds, { min: 1 });
  const packets = intOption("packets", values.packets, { min: batch });
  const specs: { name: string; patch?: string }[] = [
    { name: "base" },
    { name: "control" },
    ...positionals.map((p) => ({ name: basename(p).replace(/\.patch$/, ""), patch: p })),
  ];
  const variants: Variant[] = [];
  const dirs: string[] = [];
  try {
    for (const spec of specs) {
      const dir = makeTree(values.rev, spec.patch);
      dirs.push(dir);
      variants.push(await load(spec.name, dir, values.driver, values.mode, batch));
    }
  } finally {
    // The modules are loaded: the copies are not needed any more.
    for (const dir of dirs) Deno.removeSync(dir, { recursive: true });
  }
  // Warm-up: Turbofan for everything, rings and pools in steady state.
  for (let i = 0; i < 100; i++) for (const v of variants) v.run(20_000);
  const loadBefore = load1();
  const started = new Date().toISOString();
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(r + k) % variants.length];
      const t0 = threadCpuNs();
      const moved = v.run(packets);
      const t1 = threadCpuNs();
      v.ns.push((t1 - t0) / moved);
    }
  }
  const loadAfter = load1();
  for (const v of variants) {
    const problem = v.check();
    if (problem) throw new Error(`${v.name}: ${problem}`);
  }
  const base = median(variants[0].ns);
  console.log(
    `${values.driver} ${values.mode} batch ${batch}, ${rounds} rounds x ${packets} packets, ` +
      `thread CPU time; ${started}; load ${loadBefore} -> ${loadAfter}`,
  );
  console.log("| variant | min ns/pkt | median ns/pkt | median - base |");
  console.log("| --- | --: | --: | --: |");
  for (const v of variants) {
    const med = median(v.ns);
    const d = med - base;
    console.log(
      `| ${v.name} | ${Math.min(...v.ns).toFixed(2)} | ${med.toFixed(2)} | ` +
        `${d >= 0 ? "+" : ""}${d.toFixed(2)} (${((100 * d) / base).toFixed(1)} %) |`,
    );
  }
  if (values.json) {
    const out = variants.map((v) => ({ name: v.name, ns: v.ns }));
    Deno.writeTextFileSync(values.json, JSON.stringify({ loadBefore, loadAfter, out }));
  }
}

if (import.meta.main) runApp(main);
