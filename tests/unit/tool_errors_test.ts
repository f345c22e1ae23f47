/**
 * Every task fails on bad input the way the developers' guide asks: one line
 * that says what to do next, a non-zero exit code, and no stack trace ("    at "
 * lines are for bugs). Each case runs the real task as a subprocess
 * (`deno task <name> ...`), so what is checked is what a user sees.
 *
 * Nothing here needs root, a NIC, a network or the lab VM: the cases fail
 * before any of that is touched (IXY_VM_QEMU names a QEMU that does not exist,
 * PCI addresses that no machine has, files in directories that do not exist).
 */

import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Tasks that the generic "unknown option" case leaves out: they run whole suites or write files. */
const NOT_PROBED = new Set(["test", "check", "docs"]);

/**
 * Tasks that the `--help` case leaves out: `deno test`, `deno fmt`/`lint`, `deno doc` and
 * `deno bench` are Deno's own commands (their `--help` is Deno's, not ours).
 */
const NO_HELP = new Set([...NOT_PROBED, "bench"]);

/** The longest a failing task may take (a hanging one is a failure too). */
const TIMEOUT_MS = 60_000;

interface Outcome {
  code: number;
  stderr: string;
  stdout: string;
}

/** The tasks of deno.json, by name. */
const TASKS = (JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)) as {
  tasks: Record<string, string>;
}).tasks;

/**
 * Runs what `deno task <name> <args>` runs, in the repository, and collects what
 * it printed. The task's command is started directly (not through `deno task`,
 * which would leave its child running if the timeout killed it).
 */
async function task(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  const [name, ...rest] = args;
  const words = TASKS[name]?.split(/\s+/) ?? [];
  assert.equal(words[0], "deno", `task ${name} is not a single deno command: ${TASKS[name]}`);
  const denoDir = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [...words.slice(1), ...rest],
    cwd: ROOT,
    env: { NO_COLOR: "1", DENO_DIR: denoDir, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
  try {
    const out = await child.output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts a clean failure: non-zero exit, no stack trace, a message matching `pattern`. */
function assertCleanFailure(what: string, outcome: Outcome, pattern?: RegExp): void {
  const shown = `${what}\n--- stderr:\n${outcome.stderr}--- stdout:\n${outcome.stdout}`;
  assert.notEqual(outcome.code, 0, `exit code 0 for ${shown}`);
  assert.doesNotMatch(outcome.stderr, /^\s+at /m, `stack trace from ${shown}`);
  assert.doesNotMatch(outcome.stderr, /Uncaught/, `uncaught error from ${shown}`);
  if (pattern) assert.match(outcome.stderr + outcome.stdout, pattern, shown);
}

/**
 * Tasks with bad input, what their one line must say and, where the error
 * carries its own, the exit code (the lab VM's: 2 bad options, 125 no VM).
 */
const CASES: { args: string[]; env?: Record<string, string>; says?: RegExp; code?: number }[] = [
  // The lab VM: a missing QEMU, no cache directory, bad options. demo is an app
  // (tools/lib/app.ts's runApp): the VM's error keeps its exit code there too.
  {
    args: ["demo", "--seconds", "1"],
    env: { IXY_VM_QEMU: "/nonexistent/qemu-system-x86_64" },
    says: /IXY_VM_QEMU/,
    code: 125,
  },
  { args: ["demo"], env: { HOME: "", XDG_CACHE_HOME: "" }, says: /cache directory/ },
  {
    args: ["vm", "--setup"],
    env: { IXY_VM_QEMU: "/nonexistent/qemu-system-x86_64" },
    says: /IXY_VM_QEMU/,
  },
  { args: ["vm", "--cpus", "x", "--", "true"], says: /--cpus/, code: 2 },
  { args: ["demo", "--seconds", "x"], says: /--seconds/ },
  // The apps: addresses no machine has, malformed numbers.
  { args: ["pktgen", "nonsense"], says: /PCI address/ },
  { args: ["pktgen", "0000:00:1f.7"], says: /No PCI device/ },
  { args: ["selftest", "nonsense"], says: /PCI address/ },
  { args: ["selftest", "0000:00:10.0", "--frames", "0"], says: /--frames "0"/ },
  { args: ["selftest", "0000:00:1f.7"], says: /selftest FAILED \(identify\)/ },
  { args: ["selftest", "0000:00:1f.7", "--json", "/nonexistent/dir/r.json"], says: /--json/ },
  { args: ["fwd", "0000:00:1f.7", "0000:00:1f.6", "--batch", "x"], says: /--batch/ },
  { args: ["pcap", "0000:00:1f.7", "/nonexistent/dir/x.pcap"] },
  { args: ["peer", "recv", "nosuchif0"], says: /nosuchif0/ },
  { args: ["bind", "0000:00:1f.7"], says: /No PCI device/ },
  { args: ["lab", "9"], says: /lab number/ },
  { args: ["lab", "3", "--impl", "/nonexistent/lab3.ts"], says: /nonexistent/ },
  // The benchmarks.
  { args: ["bench:report", "--drivers", "nosuch"], says: /nosuch/ },
  { args: ["bench:plot", "/nonexistent/results.json"], says: /results\.json/ },
  { args: ["bench:sim", "x"], says: /seconds/ },
];

Deno.test("tasks: bad input ends with one clear line, no stack trace", async (t) => {
  for (const c of CASES) {
    const name = `deno task ${c.args.join(" ")}` +
      (c.env ? ` (${Object.entries(c.env).map(([k, v]) => `${k}=${v}`).join(" ")})` : "");
    await t.step(name, async () => {
      const outcome = await task(c.args, c.env);
      assertCleanFailure(name, outcome, c.says);
      if (c.code !== undefined) assert.equal(outcome.code, c.code, `exit code of ${name}`);
    });
  }
});

Deno.test("tasks: every task refuses an unknown option without a stack trace", async (t) => {
  for (const name of Object.keys(TASKS).filter((n) => !NOT_PROBED.has(n))) {
    await t.step(name, async () => {
      assertCleanFailure(
        `deno task ${name} --no-such-option`,
        await task([name, "--no-such-option"]),
      );
    });
  }
});

Deno.test("tasks: every task prints its usage for --help and exits 0", async (t) => {
  for (const name of Object.keys(TASKS).filter((n) => !NO_HELP.has(n))) {
    await t.step(name, async () => {
      const outcome = await task([name, "--help"]);
      const shown =
        `deno task ${name} --help\n--- stderr:\n${outcome.stderr}--- stdout:\n${outcome.stdout}`;
      assert.equal(outcome.code, 0, `exit code ${outcome.code} for ${shown}`);
      assert.match(outcome.stdout, /Usage/, shown);
      assert.doesNotMatch(outcome.stderr, /^\s+at /m, `stack trace from ${shown}`);
    });
  }
});
