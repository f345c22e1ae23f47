/**
 * The tour (docs/tour.md), the module map (docs/modules.md) and README.md's
 * "What is here" table send the reader to files and functions by name. This
 * test reads them and checks that what they name is there, so that a rename
 * in the code breaks a test instead of the reader's trust.
 *
 * What is checked, per `code span` and [link](target) of those texts:
 *
 * - a link target (relative to the document) exists; so does a code span that
 *   looks like a repository path (`src/pci.ts`, `tools/vm/`), looked up from
 *   the repository root or, in a table row, from the row's own folder
 *   (`bar.ts` beside tools/sim82599/mod.ts);
 * - `deno task x` names a task of deno.json;
 * - a name (`rxBatch`, `Virtqueue.pushAvailable`, `#reset`, `q.errors`, or the
 *   functions called in an expression such as `pool.allocBatch(bufs, n)`) is
 *   defined: a function, class, interface, type, enum, variable or
 *   destructured constant, a class or interface member (method, getter,
 *   field), an object literal key (registers in constants.ts, libc symbols in
 *   src/ffi.ts) or a re-export. `Class.member` must be a member of that
 *   class or interface. Where: in the file of the link around it
 *   ([`IxgbeDevice.attach`](../drivers/ixgbe/ixgbe.ts)), in the file just
 *   before "function `main`", in a table row's file (first column; there a
 *   name the file uses will do: `pread` in src/io_port.ts's row); anywhere
 *   in mod.ts, src/, drivers/ and tools/ otherwise. A bare app name
 *   (`pktgen`) is tools/pktgen.ts.
 *
 * Not checked: spans that are neither names nor repository paths (`struct
 * pkt_buf`, `{id, len}`, `/proc/self/pagemap`), commands other than `deno
 * task`, docs/api/ (made by `deno task docs`), and the words of
 * NOT_OUR_CODE below.
 *
 * Existence alone cannot catch a tour that names the wrong one of two real
 * functions (both `Virtqueue.setDescriptor` and `setBufferDescriptor`
 * exist). So the tour's claims of the form "this function calls that" are
 * checked too: `a` → [`b`] (a calls b), and the steps listed under a
 * paragraph "**virtio** — [`VirtioDevice.txBatch`](...)": each function they
 * link is called by it, directly or by a function it calls (callees found
 * by name: imported from, else in the same file, else anywhere).
 */

import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);
const read = (path: string) => Deno.readTextFileSync(new URL(path, ROOT));

/**
 * Words in code style that are not names in our code, each with why. Keep
 * this short: a name of ours that a document gets wrong must fail.
 */
const NOT_OUR_CODE = new Set([
  "ixy_init", // ixy's C function, which ixyInit follows
  "virtio_net_hdr", // the virtio spec's struct (section 5.1.6)
  "used.idx", // virtio spec fields of the rings (section 2.6)
  "avail.idx",
  "Atomics.store", // JavaScript built-ins
  "Atomics.load",
  "outw", // the x86 instruction the kernel runs for a pwrite on resource0
  "resource0", // a sysfs file of the PCI device
]);

/** Code spans that are commands, not names: their words are not looked up. */
const COMMAND = /^(npx|apt-get|sudo|sh|cd|ip|modprobe|ls) |^deno (test|run|fmt|lint|check|doc) /;

// ---------------------------------------------------------------------------
// The code: which names each file defines.

interface SourceFile {
  path: string;
  /** The text with comments blanked out (line numbers kept). */
  code: string[];
  /** Names defined at any level. */
  names: Set<string>;
  /** Members of each class and interface. */
  members: Map<string, Set<string>>;
  /** The file each imported name comes from (relative imports only). */
  imports: Map<string, string>;
}

/** All .ts files under `dir` (from the root), recursively. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(new URL(dir, ROOT))) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...tsFiles(p));
    else if (e.isFile && e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** Blanks out comments, keeping lines; strings are left alone ("//" in a URL is rare in code). */
function stripComments(text: string): string[] {
  const noBlocks = text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " "));
  return noBlocks.split("\n").map((l) => l.replace(/(^|\s)\/\/.*$/, "$1"));
}

const MODIFIERS = String
  .raw`(?:(?:export|default|declare|static|readonly|private|public|protected|override|abstract|async|get|set)\s+)*`;
const ID = String.raw`#?[A-Za-z_$][\w$]*`;
/** `function f`, `class C`, `const x`, ... */
const DECLARATION = new RegExp(
  String.raw`^\s*${MODIFIERS}(?:function\*?|class|interface|type|enum|const|let|var)\s+(${ID})`,
);
/** `const { a, b } = ...` */
const DESTRUCTURING = /^\s*(?:export\s+)?(?:const|let|var)\s*\{([^}]*)\}\s*=/gm;
/** A method: `name(...) {`, `name(...): T {`, or `name(` ending the line (parameters below). */
const METHOD = new RegExp(
  String.raw`^\s*${MODIFIERS}(${ID})\s*(?:<[^>]*>)?\((?:[^)]*\)\s*(?::\s*[^{;=]+)?\{\s*$|\s*$)`,
);
/** A field, interface member or object key: `name: T`, `name?: T`, `name = v`, `readonly name`. */
const FIELD = new RegExp(String.raw`^\s*${MODIFIERS}(${ID})[?!]?\s*(?::(?!:)|=(?![=>]))`);
/** An interface method: `name(args): T;`. */
const SIGNATURE = new RegExp(String.raw`^\s*${MODIFIERS}(${ID})\s*(?:<[^>]*>)?\(.*\)\s*:.*;\s*$`);
/** `export { a, type B } from "..."` or `export { a };` */
const REEXPORT = /^\s*export\s+(?:type\s+)?\{([^}]*)\}/gm;

function definedOn(line: string): string[] {
  const names: string[] = [];
  for (const re of [DECLARATION, METHOD, FIELD, SIGNATURE]) {
    const m = re.exec(line);
    if (m) names.push(m[1]);
  }
  return names.filter((n) => !KEYWORDS.has(n));
}

/** Names a `{ a, type B, c as d }` list binds: a, B, d. */
function listNames(list: string): string[] {
  return list.split(",").map((part) => {
    const words = part.replace(/\btype\s+/, "").trim().split(/\s+as\s+|\s*:\s*/);
    return words[words.length - 1].trim();
  }).filter((n) => n !== "");
}

const KEYWORDS = new Set([
  "if",
  "for",
  "while",
  "switch",
  "return",
  "catch",
  "function",
  "constructor",
  "new",
  "typeof",
  "await",
  "throw",
  "super",
  "case",
  "default",
  "else",
  "do",
  "try",
  "import",
  "export",
]);

/** Line index of the `}` that closes the block opened on line `start` (same indentation). */
function blockEnd(code: string[], start: number): number {
  const indent = /^\s*/.exec(code[start])![0];
  for (let i = start + 1; i < code.length; i++) {
    if (code[i].startsWith(`${indent}}`)) return i;
  }
  return code.length - 1;
}

function loadSource(path: string): SourceFile {
  const text = read(path);
  const code = stripComments(text);
  const names = new Set<string>();
  const members = new Map<string, Set<string>>();
  code.forEach((line, i) => {
    for (const n of definedOn(line)) names.add(n);
    const c = /^\s*(?:export\s+)?(?:default\s+)?(?:abstract\s+)?(?:class|interface)\s+([\w$]+)/
      .exec(line);
    if (c) {
      const set = members.get(c[1]) ?? new Set<string>();
      const end = blockEnd(code, i);
      for (let j = i + 1; j < end; j++) for (const n of definedOn(code[j])) set.add(n);
      members.set(c[1], set);
    }
  });
  // Multi-line forms: `export { a, b } from "..."`, `const { A, B } = X;`.
  const joined = code.join("\n");
  for (const re of [DESTRUCTURING, REEXPORT]) {
    for (const m of joined.matchAll(re)) for (const n of listNames(m[1])) names.add(n);
  }
  const dir = new URL(path.slice(0, path.lastIndexOf("/") + 1), ROOT);
  const imports = new Map<string, string>();
  for (
    const m of joined.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s*from\s*"(\.{1,2}\/[^"]+)"/g)
  ) {
    const from = new URL(m[2], dir).pathname.slice(ROOT.pathname.length);
    for (const n of listNames(m[1])) imports.set(n, from);
  }
  return { path, code, names, members, imports };
}

const SOURCES = new Map<string, SourceFile>(
  ["mod.ts", ...["src", "drivers", "tools"].flatMap(tsFiles)].map((p) => [p, loadSource(p)]),
);

// ---------------------------------------------------------------------------
// The documents: code spans and links, with where they stand.

interface Mention {
  doc: string;
  line: number;
  /** The code span's text. */
  span: string;
  /** Files the name must be defined in (empty: anywhere). */
  files: string[];
  /** In a table row: a name the row's file uses (imports, calls) will do too. */
  used?: boolean;
  /** Folders a path-like span may be relative to, besides the root. */
  dirs: string[];
}

/** A path from the root for link `target` of document `doc`, or undefined for a URL/anchor. */
function linkPath(doc: string, target: string): string | undefined {
  if (/^[a-z]+:|^#/.test(target)) return undefined;
  const dir = doc.slice(0, doc.lastIndexOf("/") + 1);
  const url = new URL(target.replace(/#.*$/, ""), new URL(dir, ROOT));
  return decodeURIComponent(url.pathname.slice(ROOT.pathname.length));
}

const LINK = /\[((?:[^\[\]`]|`[^`]*`)*)\]\(([^)\s]+)\)/g;
const SPAN = /`([^`\n]+)`/g;

/** Splits a table row into cells, on `|` outside code spans. */
function cells(row: string): string[] {
  const out: string[] = [];
  let cell = "";
  let inCode = false;
  for (const ch of row.trim().replace(/^\||\|$/g, "")) {
    if (ch === "`") inCode = !inCode;
    if (ch === "|" && !inCode) {
      out.push(cell);
      cell = "";
    } else cell += ch;
  }
  out.push(cell);
  return out;
}

interface Unit {
  doc: string;
  line: number;
  text: string;
  /** For a table row: the files of its first column. */
  rowFiles?: string[];
}

/** The document's paragraphs, list items and table rows. */
function units(doc: string, text: string): Unit[] {
  const out: Unit[] = [];
  let cur: Unit | undefined;
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "" || /^#+ /.test(line)) {
      cur = undefined;
      if (/^#+ /.test(line)) out.push({ doc, line: i + 1, text: line });
      return;
    }
    if (line.startsWith("|")) {
      cur = undefined;
      if (/^\|[\s|:-]+\|$/.test(line)) return; // the header's rule
      const [first] = cells(line);
      const rowFiles = [
        ...[...first.matchAll(LINK)].map((m) => linkPath(doc, m[2])),
        ...[...first.matchAll(SPAN)].map((m) => m[1]),
      ].filter((p): p is string => p !== undefined);
      out.push({ doc, line: i + 1, text: line, rowFiles });
      return;
    }
    if (!cur || /^\s*(?:[-*]|\d+\.) /.test(line)) {
      cur = { doc, line: i + 1, text: line };
      out.push(cur);
    } else cur.text += `\n${line}`;
  });
  return out;
}

/** Every code span of `unit`, with the files its names must be in. */
function mentions(unit: Unit): Mention[] {
  const { doc, text } = unit;
  const out: Mention[] = [];
  const taken = new Set<number>(); // offsets of spans handled as part of a link
  const rowTs = (unit.rowFiles ?? []).filter((f) => f.endsWith(".ts"));
  const rowDirs = (unit.rowFiles ?? []).map((f) => f.endsWith("/") ? f : f.replace(/[^/]*$/, ""));
  for (const m of text.matchAll(LINK)) {
    const target = linkPath(doc, m[2]);
    const files = target?.endsWith(".ts") ? [target] : [];
    for (const s of m[1].matchAll(SPAN)) {
      taken.add(m.index! + 1 + s.index!);
      out.push({ doc, line: unit.line, span: s[1], files, dirs: rowDirs });
    }
  }
  // "[tools/fwd.ts](../tools/fwd.ts), function `forward`"
  for (const m of text.matchAll(/\]\(([^)\s]+\.ts)\), function `([^`]+)`/g)) {
    taken.add(m.index! + m[0].indexOf("`"));
    out.push({ doc, line: unit.line, span: m[2], files: [linkPath(doc, m[1])!], dirs: [] });
  }
  for (const s of text.matchAll(SPAN)) {
    if (taken.has(s.index!)) continue;
    out.push({
      doc,
      line: unit.line,
      span: s[1],
      files: rowTs,
      dirs: rowDirs,
      used: unit.rowFiles !== undefined,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------
// The checks.

const TASKS = Object.keys(JSON.parse(read("deno.json")).tasks);
const PATH_LIKE = /^(?:[\w.*-]+\/)+(?:[\w.*-]+)?$|^[\w-]+\.(?:ts|md|json|svg|png|js|css|html)$/;
const NAME = /^#?[A-Za-z_$][\w$]*(?:\.#?[A-Za-z_$][\w$]*)*(?:\(\))?$/;

function exists(path: string): boolean {
  try {
    Deno.statSync(new URL(path, ROOT));
    return true;
  } catch {
    return false;
  }
}

/** Is `name` (one identifier) defined in one of `files` (all sources if empty)? */
function defines(name: string, files: string[]): boolean {
  const where = files.length ? files.map((f) => SOURCES.get(f)) : [...SOURCES.values()];
  return where.some((s) => s?.names.has(name));
}

/** Is `member` a member of class or interface `cls`, defined in one of `files` (or anywhere)? */
function hasMember(cls: string, member: string, files: string[]): boolean {
  const where = files.length ? files.map((f) => SOURCES.get(f)) : [...SOURCES.values()];
  return where.some((s) => s?.members.get(cls)?.has(member));
}

/** What is wrong with name `chain` (`a`, `A.b`, `a.b.c`) for mention `m`, or undefined. */
function checkName(chain: string, m: Mention): string | undefined {
  const name = chain.replace(/\(\)$/, "");
  if (NOT_OUR_CODE.has(name)) return undefined;
  const parts = name.split(".");
  const where = m.files.length ? ` in ${m.files.join(" or ")}` : "";
  if (parts.length === 1) {
    if (defines(name, m.files)) return undefined;
    // A row's "what it does" may name what its file uses: `pread` (src/ffi.ts) in io_port.ts.
    const word = new RegExp(`(^|[^\\w$#])${name.replace("$", "\\$")}\\b`);
    if (
      m.used && defines(name, []) && m.files.some((f) => word.test(SOURCES.get(f)!.code.join("\n")))
    ) {
      return undefined;
    }
    // An app by its name: `pktgen` is tools/pktgen.ts.
    if (!m.files.length && exists(`tools/${name}.ts`)) return undefined;
    return `\`${name}\` is not defined${where}${m.used ? " nor used there" : ""}`;
  }
  const last = parts[parts.length - 1];
  if (/^[A-Z]/.test(parts[0]) && parts.length === 2) {
    if (!defines(parts[0], m.files)) return `class \`${parts[0]}\` is not defined${where}`;
    return hasMember(parts[0], last, m.files)
      ? undefined
      : `\`${parts[0]}\` has no member \`${last}\`${where}`;
  }
  // `q.errors`, `buf.pool.free`: a variable's member, defined somewhere.
  return defines(last, []) ? undefined : `\`${last}\` (of \`${name}\`) is not defined anywhere`;
}

/** What is wrong with mention `m`, as messages. */
function check(m: Mention): string[] {
  const span = m.span.trim();
  const at = `${m.doc}:${m.line}: \`${span}\``;
  const task = /^deno task ([\w:-]+)/.exec(span);
  if (task) return TASKS.includes(task[1]) ? [] : [`${at}: no such task in deno.json`];
  if (COMMAND.test(span)) return [];
  if (PATH_LIKE.test(span) && !NAME.test(span) || /\.(ts|md)$/.test(span)) {
    if (/^[/~$]/.test(span)) return []; // a path on the machine, not in the repository
    if (span.startsWith("docs/api/")) return []; // made by `deno task docs`, not committed
    const plain = span.replace(/\*.*$/, ""); // `tools/*/`: its folder
    const found = exists(plain) || m.dirs.some((d) => exists(d + plain));
    return found ? [] : [`${at}: no such file in the repository`];
  }
  let names: string[];
  if (NAME.test(span)) names = [span];
  else if (/^[A-Z][A-Z0-9_]*( \| [A-Z][A-Z0-9_]*)+$/.test(span)) names = span.split(" | ");
  else {
    // An expression: the functions it calls (`dev.txBatch(0, bufs, n)`).
    names = [...span.matchAll(/(#?[A-Za-z_$][\w$]*(?:\.#?[A-Za-z_$][\w$]*)*)\s*\(/g)]
      .map((c) => c[1]);
  }
  return names.flatMap((n) => {
    const problem = checkName(n, m);
    return problem ? [`${at}: ${problem}`] : [];
  });
}

const DOCS: [string, string][] = [
  ["docs/tour.md", read("docs/tour.md")],
  ["docs/modules.md", read("docs/modules.md")],
  ["README.md", /^## What is here\n[\s\S]*?(?=^## )/m.exec(read("README.md"))![0]],
];

Deno.test("the tour, the module map and README name files and functions that exist", () => {
  const problems: string[] = [];
  let checked = 0;
  for (const [doc, text] of DOCS) {
    for (const unit of units(doc, text)) {
      for (const l of unit.text.matchAll(LINK)) {
        const p = linkPath(doc, l[2]);
        if (p !== undefined && !exists(p) && !p.startsWith("docs/api/")) {
          problems.push(`${doc}:${unit.line}: link target ${l[2]} does not exist`);
        }
      }
      for (const m of mentions(unit)) {
        checked++;
        problems.push(...check(m));
      }
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(checked > 200, `only ${checked} code spans found: is the parser still right?`);
});

// ---------------------------------------------------------------------------
// "this calls that"

/** The lines of function or method `chain` (`f`, `Class.m`, `Class.#m`) in `file`. */
function body(chain: string, file: string): string[] | undefined {
  const src = SOURCES.get(file);
  if (!src) return undefined;
  const parts = chain.replace(/\(.*$/, "").split(".");
  const name = parts[parts.length - 1];
  let from = 0;
  let to = src.code.length;
  if (parts.length === 2) {
    const cls = src.code.findIndex((l) =>
      new RegExp(String.raw`\b(class|interface) ${parts[0]}\b`).test(l)
    );
    if (cls < 0) return undefined;
    from = cls + 1;
    to = blockEnd(src.code, cls);
  }
  for (let i = from; i < to; i++) {
    if (definedOn(src.code[i]).includes(name) && /[({]\s*$/.test(src.code[i])) {
      return src.code.slice(i, blockEnd(src.code, i) + 1);
    }
  }
  return undefined;
}

/** Names of the functions and methods `lines` call. */
function callees(lines: string[]): Set<string> {
  const out = new Set<string>();
  for (const l of lines.slice(1)) {
    for (const m of l.matchAll(/(#?[A-Za-z_$][\w$]*)\s*\(/g)) {
      if (!KEYWORDS.has(m[1])) out.add(m[1]);
    }
  }
  return out;
}

/**
 * Names called by `chain` in `file`, and (depth 2) by the functions it calls:
 * a callee is looked up by name in the file it is imported from, else in the
 * same file, else anywhere.
 */
function reach(chain: string, file: string, depth: number): Set<string> {
  const lines = body(chain, file);
  if (!lines) return new Set();
  const direct = callees(lines);
  if (depth === 1) return direct;
  const out = new Set(direct);
  const src = SOURCES.get(file)!;
  for (const c of direct) {
    const imported = src.imports.get(c);
    const inFile = src.names.has(c) ? [file] : [];
    const anywhere = [...SOURCES.values()].filter((s) => s.names.has(c)).map((s) => s.path);
    const defs = imported ? [imported] : inFile.length ? inFile : anywhere;
    for (const f of defs) {
      const own = body(c, f) ? c : undefined;
      const owner = own ?? [...SOURCES.get(f)!.members].find(([, ms]) => ms.has(c))?.[0];
      const lines2 = own ? body(c, f) : owner ? body(`${owner}.${c}`, f) : undefined;
      for (const n of lines2 ? callees(lines2) : []) out.add(n);
    }
  }
  return out;
}

/** A linked or plain code span naming a function: `[`Class.method`](file)` or `name`. */
interface Called {
  name: string;
  file?: string;
}

function calledIn(doc: string, text: string): Called[] {
  return [...text.matchAll(LINK)].flatMap((l) => {
    const file = linkPath(doc, l[2]);
    return [...l[1].matchAll(SPAN)].map((s) => ({ name: s[1].replace(/\(.*$/, ""), file }));
  });
}

/**
 * Is `name` a function or method with a body (in `file`, else anywhere)? Not
 * a class (`[`Mempool`](...)`), field (`PktBuf.dataPhysLo`) or constant.
 */
function isFunction(name: string, file?: string): boolean {
  if (!/^#?[a-z]/.test(name.split(".").pop()!)) return false;
  if (file?.endsWith(".ts")) return body(name, file) !== undefined;
  return [...SOURCES.keys()].some((f) => body(name, f) !== undefined);
}

/** Where `caller` is defined: its link's file, or the first source file that has it. */
function fileOf(c: Called): string | undefined {
  if (c.file?.endsWith(".ts")) return c.file;
  return [...SOURCES.values()].find((s) => body(c.name, s.path))?.path;
}

Deno.test("the tour's 'this calls that' holds in the code", () => {
  const doc = "docs/tour.md";
  const problems: string[] = [];
  const all = units(doc, read(doc));
  let claims = 0;
  for (let i = 0; i < all.length; i++) {
    const u = all[i];
    // `a` → [`b`](file): a calls b.
    for (const m of u.text.matchAll(/`([^`]+)`\]?(?:\([^)]*\))?\s*→\s*\[?`([^`]+)`/g)) {
      const [a, b] = [m[1], m[2]];
      const file = fileOf(calledIn(doc, u.text).find((c) => c.name === a) ?? { name: a });
      // "→ [`MmioRegion`]": gives one, no call.
      if (!isFunction(a, file) || !/^#?[a-z]/.test(b.split(".").pop()!)) continue;
      claims++;
      const calls = file ? reach(a, file, 1) : new Set<string>();
      if (!calls.has(b.split(".").pop()!)) {
        problems.push(`${doc}:${u.line}: \`${a}\` (${file}) does not call \`${b}\``);
      }
    }
    // "**virtio** — [`VirtioDevice.txBatch`](...)...:" and its list: each linked
    // function is called by it, or by a function it calls.
    const head = /^\*\*[^*]+\*\* — \[`([^`]+)`\]\(([^)]+)\)/.exec(u.text);
    if (!head) continue;
    const caller = head[1];
    const file = linkPath(doc, head[2])!;
    const block = [{ line: u.line, text: u.text.slice(head[0].length) }];
    if (u.text.trimEnd().endsWith(":")) {
      for (let j = i + 1; j < all.length && /^\d+\. /.test(all[j].text); j++) block.push(all[j]);
    }
    const reached = reach(caller, file, 2);
    if (reached.size === 0) problems.push(`${doc}:${u.line}: \`${caller}\` not found in ${file}`);
    for (const b of block) {
      for (const c of calledIn(doc, b.text)) {
        if (!isFunction(c.name, c.file)) continue;
        claims++;
        if (!reached.has(c.name.split(".").pop()!)) {
          problems.push(
            `${doc}:${b.line}: \`${caller}\` does not call \`${c.name}\` (nor do its callees)`,
          );
        }
      }
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(claims >= 10, `only ${claims} call claims found: is the parser still right?`);
});

Deno.test("the checks above can fail: a wrong name, member, file or task is reported", () => {
  const at = (span: string, files: string[] = []): Mention => ({
    doc: "x.md",
    line: 1,
    span,
    files,
    dirs: [],
  });
  assert.deepEqual(check(at("rxBatch", ["drivers/ixgbe/rx.ts"])), []);
  assert.equal(check(at("rxBatch", ["drivers/ixgbe/tx.ts"])).length, 1);
  assert.equal(check(at("Virtqueue.setDescriptors")).length, 1);
  assert.equal(check(at("Virtqueue.pushAvailable", ["drivers/virtio/virtio.ts"])).length, 1);
  assert.equal(check(at("noSuchFunction(1, 2)")).length, 1);
  assert.equal(check(at("drivers/ixgbe/nope.ts")).length, 1);
  assert.equal(check(at("deno task nope")).length, 1);
  // Both exist; only one is what txBatch calls.
  const calls = reach("txBatch", "drivers/virtio/tx.ts", 2);
  assert.ok(calls.has("setBufferDescriptor") && calls.has("takeDescriptor"));
  assert.ok(!calls.has("setDescriptor"));
});
