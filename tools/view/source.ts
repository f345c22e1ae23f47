/**
 * The driver code behind each step of step mode, as file:line links — found
 * when the viewer starts by searching the driver's source for a line, so the
 * links follow the code when it moves (no line numbers kept here) — and the
 * table of every file the web server serves: the page's own three files and
 * a read-only page of each source file those links open. The table is built
 * once, at start, from names this module chooses; the web server looks a
 * request's path up in it as a whole string and builds no path from a URL.
 *
 * @module
 */

import type { PageFile } from "./protocol.ts";

/** The repository root (two levels above this file). */
export const ROOT = new URL("../../", import.meta.url);

/** A line of code a step runs. */
export interface CodeLocation {
  /** What the line does. */
  label: string;
  /** Path from the repository root. */
  file: string;
  /** 1-based line number. */
  line: number;
  /** The line itself. */
  text: string;
}

/**
 * What to search for, per driver and step: a label and a piece of the line.
 * The first entry finds the step's function; each of the others must match
 * exactly one code line of that function or of the functions of its file
 * it calls (tests/unit/view_source_test.ts fails otherwise: when the driver
 * changes, change the pieces here).
 */
const WHERE: Record<string, Record<string, [string, string][]>> = {
  ixgbe: {
    send: [
      ["txBatch: send on a queue", "export function txBatch("],
      ["free buffers of sent descriptors (DD)", "cleanTx(q, Math.min("],
      ["write the descriptor: buffer address", "desc[w + BUFFER_ADDR_LO] ="],
      ["write the descriptor: command and length", "desc[w + CMD_TYPE_LEN] ="],
      ["move the tail: TDT", "q.regs.write32(q.tail, q.txIndex)"],
    ],
    receive: [
      ["rxBatch: receive from a queue", "export function rxBatch("],
      ["is it written back? read DD", "desc[w + WB_STATUS_ERROR]"],
      ["its length", "desc[w + WB_LENGTH]"],
      ["refill: a fresh buffer into the descriptor", "post(q, index, fresh)"],
      ["give them back to the device: RDT", "q.regs.write32(q.tail, last)"],
    ],
  },
  virtio: {
    send: [
      ["txBatch: send", "export function txBatch("],
      ["fill a descriptor", "vq.setBufferDescriptor(id, buf.dataPhysLo"],
      ["put it into the available ring", "vq.pushAvailable(id)"],
      ["publish avail.idx", "vq.publishAvailable()"],
      ["notify the device", "q.transport.notify(vq.index)"],
    ],
    receive: [
      ["rxBatch: receive", "export function rxBatch("],
      ["read used.idx", "vq.deviceUsedIdx()"],
      ["refill: a fresh buffer into the descriptor", "postRxBuffer(vq, id, fresh, hdrSize)"],
      ["publish avail.idx", "vq.publishAvailable()"],
    ],
  },
};

/** Steps "forward" and "receive-back" run the same driver functions as "send" and "receive". */
const SAME_AS: Record<string, string> = { forward: "send", "receive-back": "receive" };

/** All .ts files under `dir` (relative to the root), sorted; symbolic links are left out. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of Deno.readDirSync(new URL(rel, ROOT))) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory) walk(p);
      else if (e.isFile && /^[a-z0-9_]+\.ts$/.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** Number of code lines step `step` of driver `driver` looks for (for tests). */
export function stepCodeWanted(driver: string, step: string): number {
  return WHERE[driver]?.[SAME_AS[step] ?? step]?.length ?? 0;
}

/** Not in a comment (a line starting with `*`, `//` or `/*`). */
const isCode = (l: string) => !/^\s*(\*|\/\/|\/\*)/.test(l);

/** Index of the line closing the block that line `start` opens: `}` at its indentation. */
function blockEnd(lines: string[], start: number): number {
  const indent = /^\s*/.exec(lines[start])![0];
  const end = lines.findIndex((l, i) => i > start && l.startsWith(`${indent}}`));
  return end < 0 ? lines.length - 1 : end;
}

/** A function or method definition on one line: `function f(...) {`, `  #m(...): T {`. */
const DEFINITION =
  /^\s*(?:export\s+)?(?:async\s+)?(?:function\s+|(?:static\s+)?)(?!(?:if|for|while|switch|catch)\b)(#?[A-Za-z_$][\w$]*)\s*\([^)]*\)\s*(?::[^{;=]+)?\{\s*$/;

/**
 * The lines a step's function covers: its own block (from `at`, the line of
 * its definition) and the blocks of the functions of the same file that it
 * calls — ixgbe's `txBatch` writes its descriptors in `writeTxDescriptors`.
 */
function scope(lines: string[], at: number): [number, number][] {
  const ranges: [number, number][] = [[at, blockEnd(lines, at)]];
  const defs = new Map<string, number>();
  lines.forEach((l, i) => {
    const m = DEFINITION.exec(l);
    if (m && isCode(l)) defs.set(m[1], i);
  });
  const body = lines.slice(at + 1, ranges[0][1]).filter(isCode).join("\n");
  for (const [, name] of body.matchAll(/(#?[A-Za-z_$][\w$]*)\s*\(/g)) {
    const d = defs.get(name);
    if (d !== undefined && d !== at && !ranges.some(([a]) => a === d)) {
      ranges.push([d, blockEnd(lines, d)]);
    }
  }
  return ranges;
}

/** A code line a search piece matched: path from the root, 1-based line. */
export interface Hit {
  file: string;
  line: number;
}

/** One entry of a step's search and every code line its piece matched. */
export interface StepSearch {
  label: string;
  needle: string;
  /** For the first entry, matches in all the driver's files; then in the function's scope. */
  hits: Hit[];
}

/**
 * Searches drivers/<driver>/ for the lines of step `step`: the first entry
 * finds the step's function in any file of the driver, the other entries are
 * searched only in that function and the functions of its file it calls.
 * Every match of each piece is returned (the test wants exactly one).
 */
export function stepSearch(driver: string, step: string): StepSearch[] {
  const wanted = WHERE[driver]?.[SAME_AS[step] ?? step] ?? [];
  let files: { file: string; lines: string[] }[];
  try {
    files = tsFiles(`drivers/${driver}`).map((file) => ({
      file,
      lines: Deno.readTextFileSync(new URL(file, ROOT)).split("\n"),
    }));
  } catch {
    return [];
  }
  const out: StepSearch[] = [];
  let fn: { file: string; lines: string[]; ranges: [number, number][] } | undefined;
  for (const [label, needle] of wanted) {
    const where = fn ? [fn] : files.map((f) => ({ ...f, ranges: [[0, f.lines.length - 1]] }));
    const hits: Hit[] = [];
    for (const f of where) {
      for (const [a, b] of f.ranges) {
        for (let i = a; i <= b; i++) {
          if (f.lines[i].includes(needle) && isCode(f.lines[i])) {
            hits.push({ file: f.file, line: i + 1 });
          }
        }
      }
    }
    out.push({ label, needle, hits });
    if (!fn) {
      const hit = hits[0];
      const f = files.find((f) => f.file === hit?.file);
      if (!hit || !f) return out; // no function, no lines after it
      fn = { ...f, ranges: scope(f.lines, hit.line - 1) };
    }
  }
  return out;
}

/**
 * The driver code of step `step` for driver `driver` ("ixgbe", "virtio"):
 * the first line found for each entry of {@link stepSearch}. Lines it
 * cannot find are left out.
 */
export function stepCode(driver: string, step: string): CodeLocation[] {
  const out: CodeLocation[] = [];
  for (const s of stepSearch(driver, step)) {
    const hit = s.hits[0];
    if (hit === undefined) continue;
    const text = Deno.readTextFileSync(new URL(hit.file, ROOT)).split("\n")[hit.line - 1].trim();
    out.push({ label: s.label, ...hit, text });
  }
  return out;
}

const escapeHtml = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

/**
 * A read-only page of source file `file` (its path from the repository root)
 * whose text is `text`, with numbered lines (anchors #L12). The page is
 * served at `<token>/src/<file>`; its stylesheet link is relative, so it
 * keeps the token.
 */
export function sourcePage(file: string, text: string): string {
  const up = "../".repeat(file.split("/").length);
  const lines = text.split("\n").map((l, i) =>
    `<tr id="L${i + 1}"><td class="n"><a href="#L${i + 1}">${i + 1}</a></td><td><pre>${
      escapeHtml(l)
    }</pre></td></tr>`
  );
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${
    escapeHtml(file)
  }</title><link rel="stylesheet" href="${up}static/style.css"></head><body class="source"><h1>${
    escapeHtml(file)
  } <small>(read-only)</small></h1><table>${lines.join("")}</table></body></html>`;
}

/** The page's own files, in tools/view/static/, with their types. */
const STATIC: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
};

/**
 * Every file the web server serves, by the path after the token: "" (the
 * page, static/index.html), "static/app.js", "static/style.css", and
 * "src/<file>" for each source file that `code` (the links step mode shows)
 * points at. Read now, once; nothing else is ever served.
 */
export function pageFiles(code: readonly CodeLocation[]): Record<string, PageFile> {
  const files: Record<string, PageFile> = {};
  const staticDir = new URL("./static/", import.meta.url);
  for (const [name, type] of Object.entries(STATIC)) {
    const body = Deno.readTextFileSync(new URL(name, staticDir));
    files[name === "index.html" ? "" : `static/${name}`] = { type, body };
  }
  for (const file of new Set(code.map((c) => c.file))) {
    files[`src/${file}`] = {
      type: STATIC["index.html"],
      body: sourcePage(file, Deno.readTextFileSync(new URL(file, ROOT))),
    };
  }
  return files;
}
