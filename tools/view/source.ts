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
 * What to search for, per driver and step: a label and pieces of the line —
 * the first piece found wins, so one entry can follow the code through a
 * restructuring (ixgbe's ring code in ixgbe.ts, or in rx.ts/tx.ts).
 */
const WHERE: Record<string, Record<string, [string, string[]][]>> = {
  ixgbe: {
    send: [
      ["txBatch: send on a queue", ["export function txBatch(", "txBatch(queueId: number"]],
      ["free buffers of sent descriptors (DD)", [
        "cleanTx(q, Math.min(",
        "this.#cleanTx(q, q.cleanBatch)",
      ]],
      ["write the descriptor: buffer address", [
        "desc[w + BUFFER_ADDR_LO] =",
        "desc[w + TXD.BUFFER_ADDR_LO] =",
      ]],
      ["write the descriptor: command and length", [
        "desc[w + CMD_TYPE_LEN] =",
        "desc[w + TXD.CMD_TYPE_LEN] =",
      ]],
      ["move the tail: TDT", ["write32(IXGBE_TDT(q.queueId)", "write32(IXGBE_TDT(queueId)"]],
    ],
    receive: [
      ["rxBatch: receive from a queue", ["export function rxBatch(", "rxBatch(queueId: number"]],
      ["is it written back? read DD", [
        "desc[w + WB_STATUS_ERROR]",
        "desc[w + RXD.WB_STATUS_ERROR]",
        "Atomics.load(desc, w + RXD.WB_STATUS_ERROR)",
      ]],
      ["its length", ["desc[w + WB_LENGTH]", "desc[w + RXD.WB_LENGTH]"]],
      ["refill: a fresh buffer into the descriptor", [
        "post(q, index, fresh)",
        "q.post(index, fresh)",
      ]],
      ["give them back to the device: RDT", [
        "write32(IXGBE_RDT(q.queueId)",
        "write32(IXGBE_RDT(queueId)",
      ]],
    ],
  },
  virtio: {
    send: [
      ["txBatch: send", ["txBatch(queueId: number"]],
      ["fill a descriptor", [
        "vq.setBufferDescriptor(id, buf.dataPhysLo",
        "vq.setDescriptor(id, buf.physAddr + hdrOffset",
      ]],
      ["put it into the available ring", ["vq.pushAvailable(id)"]],
      ["publish avail.idx", ["vq.publishAvailable()"]],
      ["notify the device", ["this.#transport.notify(vq.index)"]],
    ],
    receive: [
      ["rxBatch: receive", ["rxBatch(queueId: number"]],
      ["read used.idx", ["vq.deviceUsedIdx()"]],
      ["refill: a fresh buffer into the descriptor", ["postRxBuffer(vq, id, fresh, hdrSize)"]],
      ["publish avail.idx", ["vq.publishAvailable()"]],
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

/**
 * The driver code of step `step` for driver `driver` ("ixgbe", "virtio"):
 * searches drivers/<driver>/ for each line, first the function, then the
 * lines after it. Lines it cannot find are left out.
 */
export function stepCode(driver: string, step: string): CodeLocation[] {
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
  const out: CodeLocation[] = [];
  let fn: { file: string; line: number } | undefined;
  const isCode = (l: string) => !/^\s*(\*|\/\/|\/\*)/.test(l); // not in a comment
  for (const [label, needles] of wanted) {
    let hit: CodeLocation | undefined;
    for (const needle of needles) {
      // Prefer a hit after the function's first line, in the same file.
      const order = fn ? [...files].sort((a) => (a.file === fn!.file ? -1 : 1)) : files;
      for (const f of order) {
        const from = fn && f.file === fn.file ? fn.line : 0;
        const i = f.lines.findIndex((l, n) => n >= from && l.includes(needle) && isCode(l));
        if (i >= 0) {
          hit = { label, file: f.file, line: i + 1, text: f.lines[i].trim() };
          break;
        }
      }
      if (hit) break;
    }
    if (!hit) continue;
    if (!fn) fn = { file: hit.file, line: hit.line - 1 };
    out.push(hit);
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
