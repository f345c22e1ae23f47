/**
 * The import check of a student's lab file: before any of it runs, the
 * runner (mod.ts) asks `deno info --json` for the file's module graph and
 * refuses the file if its code reaches the module that holds what the lab
 * asks the student to write — `export { txBatch } from
 * "../../drivers/ixgbe/tx.ts"` would otherwise pass lab 3 — or the checker's
 * own code in tools/lab/ (which could rewrite the results).
 *
 * Only code imports count, followed through every module they reach (a
 * driver's mod.ts reaches tx.ts too); `import type` is erased before the
 * file runs, so the contract's types (tools/lab/contract.ts, which names the
 * driver's ring types) stay allowed, and so do the constants files, src/'s
 * helpers that are not the lab's subject, and the student's own modules in
 * the lab file's directory.
 *
 * What this cannot see is an import whose specifier is computed at run time
 * (`import("../../drivers/" + name)`, or one inside `eval`): the checkers'
 * worker may read only the files this check found (mod.ts), so such an
 * import fails there with "Requires read access", unless the module is one
 * the checker has loaded already (the driver, for the reference) — Deno
 * hands those out again without reading. So the student's own files (those
 * in the lab file's directory) are also refused if their text uses `import()`
 * with anything but a plain string, `eval(` or `Function(`: a speed bump,
 * not a wall (`globalThis["ev" + "al"]` gets past it). The gap is closed only
 * by running the student's code in a Worker of its own, apart from the
 * checker's modules.
 *
 * @module
 */

import { IxyError } from "../../src/error.ts";

/** The repository root (tools/lab/ is two levels down), as a file path ending in "/". */
const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * Per lab, the modules (relative to the repository root) that hold the code
 * the lab asks for: the reference solution and the driver or src/ module the
 * reference re-exports. A lab file must not reach them through a code import.
 */
export const FORBIDDEN_IMPORTS: Readonly<Record<number, readonly string[]>> = {
  1: ["src/pci.ts", "drivers/ixgbe/ixgbe.ts"],
  2: ["src/memory.ts", "src/mempool.ts"],
  3: ["drivers/ixgbe/tx.ts"],
  4: ["drivers/ixgbe/rx.ts"],
  5: ["drivers/ixgbe/ixgbe.ts"],
  6: [],
  7: ["drivers/igb/rx.ts"],
};

/** One module of `deno info --json`'s graph (the fields this check reads). */
interface InfoModule {
  specifier: string;
  dependencies?: { specifier: string; code?: { specifier: string } }[];
  error?: string;
}

/** The module graph of `file` from `deno info --json`. */
async function moduleGraph(file: string): Promise<InfoModule[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", file],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim().split("\n")[0];
    throw new IxyError(`Cannot read the imports of ${file}: ${why}. Does it run on its own?`);
  }
  return (JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] }).modules;
}

/** `path` relative to the repository root when inside it, else as it is. */
function shown(path: string): string {
  return path.startsWith(ROOT) ? path.slice(ROOT.length) : path;
}

/**
 * Why lab `lab`'s file may not reach module `path` (an absolute file path), or
 * undefined if it may. `ownDir` is the lab file's directory (ending in "/").
 */
function forbidden(lab: number, path: string, ownDir: string): string | undefined {
  const rel = shown(path);
  if (rel.startsWith("tools/lab/solutions/")) return "a reference solution";
  if ((FORBIDDEN_IMPORTS[lab] ?? []).includes(rel)) {
    return `the module that holds the code lab ${lab} asks you to write`;
  }
  if (
    path.startsWith(`${ROOT}tools/lab/`) && !path.startsWith(ownDir) &&
    rel !== "tools/lab/contract.ts" && !rel.startsWith("tools/lab/mine/") &&
    !rel.startsWith("tools/lab/skeletons/")
  ) {
    return "the checker's own code";
  }
  return undefined;
}

/** Code that loads code the graph cannot show, with what to call it. */
const HIDDEN_LOADS: readonly [RegExp, string][] = [
  [/\bimport\s*\(\s*(?!(["'])[^"'`$]*\1\s*\))/, "import() with a computed file name"],
  [/\beval\s*\(/, "eval"],
  [/\bFunction\s*\(/, "the Function constructor"],
];

/** Throws an {@link IxyError} if the text of `path` uses one of {@link HIDDEN_LOADS}. */
function checkHiddenLoads(path: string): void {
  const text = Deno.readTextFileSync(path)
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " "))
    .replace(/\/\/.*$/gm, "");
  for (const [pattern, what] of HIDDEN_LOADS) {
    const m = pattern.exec(text);
    if (m === null) continue;
    const line = text.slice(0, m.index).split("\n").length;
    throw new IxyError(
      `${shown(path)}:${line} uses ${what}, which loads code the checker's import check ` +
        `cannot see: import your modules with a plain import.`,
    );
  }
}

/**
 * The local files the lab file `file` (an absolute path) reaches through code
 * imports, itself first: the checkers' worker may read (load) only these.
 * With `check`, throws an {@link IxyError} naming the import if one of them is
 * a module lab `lab` forbids (see the module comment).
 */
export async function labFileModules(
  lab: number,
  file: string,
  options: { check: boolean },
): Promise<string[]> {
  const modules = await moduleGraph(file);
  const byUrl = new Map(modules.map((m) => [m.specifier, m]));
  const root = new URL(`file://${file}`).href;
  const rootModule = byUrl.get(root);
  if (rootModule?.error !== undefined) {
    throw new IxyError(`Cannot load ${shown(file)}: ${rootModule.error.split("\n")[0]}`);
  }
  const ownDir = file.slice(0, file.lastIndexOf("/") + 1);
  if (options.check) checkHiddenLoads(file);
  const files = [file];
  // Breadth first along code edges, remembering who imported whom for the message.
  const via = new Map<string, string | undefined>([[root, undefined]]);
  const queue = [root];
  while (queue.length > 0) {
    const url = queue.shift()!;
    for (const dep of byUrl.get(url)?.dependencies ?? []) {
      const target = dep.code?.specifier;
      if (target === undefined || via.has(target) || target.startsWith("node:")) continue;
      via.set(target, url);
      if (!target.startsWith("file://")) {
        throw new IxyError(
          `${shown(file)} imports ${target}: a lab file may import only local files ` +
            `(and node: modules).`,
        );
      }
      const path = decodeURIComponent(new URL(target).pathname);
      const why = options.check ? forbidden(lab, path, ownDir) : undefined;
      if (why !== undefined) {
        const chain: string[] = [];
        for (let u = via.get(target); u !== undefined && u !== root; u = via.get(u)) {
          chain.unshift(shown(decodeURIComponent(new URL(u).pathname)));
        }
        const through = chain.length > 0 ? ` (through ${chain.join(" -> ")})` : "";
        throw new IxyError(
          `${shown(file)} imports ${shown(path)}${through}, ${why}: lab ${lab} checks your own ` +
            `code, so write it yourself (import only types from the contract, the constants ` +
            `files and your own modules).`,
        );
      }
      if (options.check && path.startsWith(ownDir)) checkHiddenLoads(path);
      files.push(path);
      queue.push(target);
    }
  }
  return files;
}
