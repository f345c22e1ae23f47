/**
 * Lab-VM test of the ring viewer (tools/view/) on a virtio NIC: talks to a
 * running `deno task view --nic <pci>` over its JSON API and event stream,
 * as the page does, and prints one JSON line of what it saw.
 *
 *     deno run -A --no-check tests/vm/guest/view_check.ts <url> --ready-file F --done-file D
 *
 * `<url>` is the address the viewer printed, with its token
 * (http://127.0.0.1:8080/<token>/); the POSTs carry the Origin header a
 * browser would send (the viewer refuses POSTs without it).
 *
 * It waits for the server, reads /api/config, listens to /api/events, creates
 * the ready file (the guest script then lets the kernel peer send frames),
 * collects the pointers of every ring until the done file exists (the peer
 * has sent everything) and S seconds more, then pauses the traffic, runs
 * the step "send one packet" and reads the decoded descriptor.
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    "ready-file": { type: "string" },
    "done-file": { type: "string" },
    seconds: { type: "string", default: "3" },
  },
});
const url = positionals[0];
if (!url) throw new Error("usage: view_check.ts <the address the viewer printed> [options]");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Pointers {
  head: number;
  tail: number;
  driver: number;
}
interface Snapshot {
  paused: boolean;
  rings: { pointers?: Pointers; owners?: string }[];
}

// The viewer starts slowly under emulation: poll until it answers.
let config;
for (let i = 0;; i++) {
  try {
    config = await (await fetch(url + "api/config")).json();
    break;
  } catch (e) {
    if (i > 600) throw e;
    await sleep(500);
  }
}

const res = await fetch(url + "api/events");
const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
const snapshots: Snapshot[] = [];
let pending = "";
const reading = (async () => {
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    pending += value;
    let end;
    while ((end = pending.indexOf("\n\n")) >= 0) {
      const event = pending.slice(0, end);
      pending = pending.slice(end + 2);
      if (event.startsWith("data: ")) snapshots.push(JSON.parse(event.slice(6)));
    }
  }
})();
if (values["ready-file"]) await Deno.writeTextFile(values["ready-file"], "");
// Under emulation the peer takes seconds to start: wait for it to finish.
const doneFile = values["done-file"];
for (let i = 0; doneFile && i < 1200; i++) {
  if (await Deno.stat(doneFile).then(() => true, () => false)) break;
  await sleep(250);
}
await sleep(1000 * Number(values.seconds));
await reader.cancel();
await reading.catch(() => {});

// Per ring: first and last pointers, how many distinct values each took.
const rings = config.rings.map((r: { kind: string; size: number }, i: number) => {
  const seen = snapshots.map((s) => s.rings[i].pointers).filter((p) => p !== undefined);
  const distinct = (k: keyof Pointers) => new Set(seen.map((p) => p[k])).size;
  return {
    kind: r.kind,
    size: r.size,
    owners: snapshots.at(-1)?.rings[i].owners?.length ?? 0,
    first: seen[0],
    last: seen.at(-1),
    distinct: { head: distinct("head"), tail: distinct("tail"), driver: distinct("driver") },
  };
});

// Step mode: pause, "send one packet", look at the descriptor it used.
const origin = new URL(url).origin;
const post = async (path: string) =>
  await (await fetch(url + path, { method: "POST", headers: { origin } })).json();
await post("api/pause");
const before: Snapshot = await (await fetch(url + "api/state")).json();
const step = await post("api/step?n=0");
const after: Snapshot = await (await fetch(url + "api/state")).json();
const tx = config.rings.findIndex((r: { kind: string }) => r.kind.endsWith("-tx"));
const slot = before.rings[tx].pointers!.tail & (config.rings[tx].size - 1);
const desc = await (await fetch(url + `api/desc?ring=${tx}&d=${slot}`)).json();
await post("api/resume");

console.log(JSON.stringify({
  ports: config.ports,
  steps: config.steps.map((s: { id: string }) => s.id),
  snapshots: snapshots.length,
  rings,
  step: {
    packets: step.packets,
    moved: step.moved,
    txBefore: before.rings[tx].pointers,
    txAfter: after.rings[tx].pointers,
    desc,
  },
}));
