/**
 * src/exit_guard.ts: the exit task (which quiets every NIC we started) runs
 * on every way a process can end — normal end, Deno.exit, a foreseen error,
 * a bug, an unhandled rejection, SIGINT, SIGTERM, SIGHUP (also while
 * synchronous code runs), and exactly once.
 */

import assert from "node:assert/strict";

const PROBE = new URL("../fixtures/exit_guard_probe.ts", import.meta.url).pathname;

/** Runs the probe; with `signal`, sends it (`times` times) once the probe says READY. */
async function probe(
  mode: string,
  signal?: Deno.Signal,
  times = 1,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", PROBE, mode],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const out: string[] = [];
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let sent = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out.push(value);
    if (signal && !sent && out.join("").includes("READY")) {
      sent = true;
      await new Promise((r) => setTimeout(r, 200));
      for (let i = 0; i < times; i++) {
        child.kill(signal);
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  }
  const status = await child.status;
  const stderr = await new Response(child.stderr).text();
  return { code: status.code, stdout: out.join(""), stderr };
}

const quietOnce = (stdout: string) => stdout.split("\n").filter((l) => l === "QUIET").length;

Deno.test("exit guard: the exit task runs once on every way out", async (t) => {
  const cases: [string, number, Deno.Signal?][] = [
    ["return", 0],
    ["exit", 3],
    ["ixy-error", 1],
    ["throw", 1],
    ["reject", 1],
    ["busy", 130, "SIGINT"],
    ["busy", 143, "SIGTERM"],
    ["busy", 129, "SIGHUP"],
  ];
  for (const [mode, code, signal] of cases) {
    await t.step(`${mode}${signal ? ` + ${signal}` : ""}`, async () => {
      const r = await probe(mode, signal);
      assert.equal(r.code, code, r.stderr);
      assert.equal(quietOnce(r.stdout), 1, `exit task ran once:\n${r.stdout}\n${r.stderr}`);
    });
  }
});

Deno.test("exit guard: an app loop takes the first signal; a second one stops at once", async (t) => {
  await t.step("one SIGINT: the loop ends by itself, then the task runs", async () => {
    const r = await probe("loop", "SIGINT");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /LOOP ENDED\nQUIET\n/);
  });
  await t.step("a loop that ignores it: the second SIGTERM exits 143", async () => {
    const r = await probe("stuck", "SIGTERM", 2);
    assert.equal(r.code, 143, r.stderr);
    assert.equal(quietOnce(r.stdout), 1, r.stdout);
  });
});
