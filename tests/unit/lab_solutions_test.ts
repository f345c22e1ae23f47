/**
 * Every lab's reference is the project's own code (docs/labs/README.md):
 * labs 3, 4 and 7 name a driver file, the others a file of
 * tools/lab/solutions/ that re-exports functions of drivers/ and src/. A
 * copy of a driver function in a solution file would let the lab and the
 * driver drift apart (a fix reaching one of them only); this test fails on
 * any such copy.
 *
 * A solution file may define a function of its own only when it is no
 * driver code: listed in ADAPTERS with the reason, and touching no register
 * and decoding no bits.
 *
 *     deno test -A tests/unit/lab_solutions_test.ts
 *
 * @module
 */

import assert from "node:assert/strict";
import { LAB_LIST, VM_LAB_LIST } from "../../tools/lab/labs.ts";

const ROOT = new URL("../../", import.meta.url);
const SOLUTIONS = "tools/lab/solutions/";

/** Functions a solution file may define itself, and why they are not driver code. */
const ADAPTERS: Record<string, Record<string, string>> = {
  "lab2_dma.ts": {
    createMempool: "src/mempool.ts's Mempool behind the lab's index-based LabMempool",
  },
  "lab6_loop.ts": {
    txLoop: "an application's send loop (tools/pktgen.ts's); the lab measures the driver under it",
  },
};

/** What driver code does and an adapter must not: registers, bit fields, raw bytes. */
const DRIVER_WORK = /\bread32\b|\bwrite32\b|Flags32\b|DataView|>>>?|<<|\bBigInt\b|\d+n\b/;

/** The .ts files under `dir` (relative to the repository root), recursively. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(new URL(dir, ROOT))) {
    if (e.isDirectory) out.push(...tsFiles(`${dir}${e.name}/`));
    else if (e.name.endsWith(".ts")) out.push(`${dir}${e.name}`);
  }
  return out;
}

/** Every function exported by a module of drivers/ or src/, with where it is defined. */
async function projectFunctions(): Promise<Map<unknown, string>> {
  const found = new Map<unknown, string>();
  for (const file of [...tsFiles("src/"), ...tsFiles("drivers/")].sort()) {
    const mod: Record<string, unknown> = await import(new URL(file, ROOT).href);
    for (const [name, value] of Object.entries(mod)) {
      if (typeof value === "function" && !found.has(value)) found.set(value, `${file}: ${name}`);
    }
  }
  return found;
}

Deno.test("every lab's reference is a driver file or a solution file", () => {
  for (const lab of [...LAB_LIST, ...VM_LAB_LIST]) {
    assert.match(
      lab.reference,
      /^(drivers\/|src\/|tools\/lab\/solutions\/)/,
      `lab ${lab.number}'s reference ${lab.reference} is neither driver code nor a solution file`,
    );
  }
});

Deno.test("solution files define no driver function of their own", async () => {
  const project = await projectFunctions();
  const files = [...Deno.readDirSync(new URL(SOLUTIONS, ROOT))]
    .map((e) => e.name).filter((n) => n.endsWith(".ts")).sort();
  assert.ok(files.length >= 4, `expected the solution files in ${SOLUTIONS}`);
  const copies: string[] = [];
  for (const file of files) {
    const path = `${SOLUTIONS}${file}`;
    const mod: Record<string, unknown> = await import(new URL(path, ROOT).href);
    const adapters = ADAPTERS[file] ?? {};
    for (const [name, value] of Object.entries(mod)) {
      if (typeof value !== "function") continue;
      if (project.has(value)) continue; // a re-export: the lab runs the driver's own code
      if (name in adapters) {
        // The file may define it, but then does no driver work anywhere in it.
        const source = Deno.readTextFileSync(new URL(path, ROOT));
        const work = source.match(DRIVER_WORK);
        if (work !== null) copies.push(`${path}: "${work[0]}" beside adapter ${name}`);
        continue;
      }
      copies.push(`${path}: ${name}`);
    }
  }
  assert.deepEqual(
    copies,
    [],
    `solution files define functions of their own instead of re-exporting the driver's ` +
      `(drivers/, src/): ${copies.join(", ")}`,
  );
});
