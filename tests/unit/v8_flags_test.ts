/**
 * The packet-moving tasks run with the V8 flags of tools/lib/v8_flags.ts,
 * and this Deno's V8 still knows those flags (a V8 that renamed one would
 * make every such task fail to start).
 */

import assert from "node:assert/strict";
import { PACKET_V8_FLAGS, v8FlagsArgument } from "../../tools/lib/v8_flags.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The tasks that move packets or measure the programs that do. */
const PACKET_TASKS = [
  "demo",
  "pktgen",
  "fwd",
  "pcap",
  "view",
  "bench",
  "bench:report",
  "bench:latency",
  "bench:ablation",
  "bench:view",
  "bench:sim",
];

const TASKS = (JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)) as {
  tasks: Record<string, string>;
}).tasks;

Deno.test("every packet-moving task runs with the packet V8 flags", () => {
  const wanted = v8FlagsArgument();
  for (const name of PACKET_TASKS) {
    assert.ok(name in TASKS, `deno.json has no task ${name}`);
    const words = TASKS[name].split(/\s+/);
    assert.ok(
      words.includes(wanted),
      `task ${name} should pass ${wanted} (tools/lib/v8_flags.ts): ${TASKS[name]}`,
    );
  }
});

Deno.test("a child's --v8-flags argument keeps the packet flags first and adds the extra ones", () => {
  assert.equal(
    v8FlagsArgument("--trace-gc", "--expose-gc"),
    `--v8-flags=${PACKET_V8_FLAGS.join(",")},--trace-gc,--expose-gc`,
  );
});

Deno.test("this Deno's V8 accepts the packet V8 flags", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", v8FlagsArgument(), "console.log('ok')"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `deno refused ${v8FlagsArgument()}: ${stderr}`);
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "ok");
});
