/**
 * The ring viewer's step mode links each step to the driver lines that do
 * it, found by searching the source (tools/view/source.ts). This test fails
 * when the driver changes so that a line is no longer found, or found twice:
 * update the search pieces there.
 */

import assert from "node:assert/strict";
import {
  pageFiles,
  sourcePage,
  stepCode,
  stepCodeWanted,
  stepSearch,
} from "../../tools/view/source.ts";

Deno.test("every search piece of step mode matches exactly one line of its driver", () => {
  // A piece that matches nothing is dead (the code moved on without it); one
  // that matches twice may link the wrong line. Pieces after the first of a
  // step are searched in the step's function and the functions it calls.
  // ("forward" and "receive-back" search as "send" and "receive".)
  const problems: string[] = [];
  for (const driver of ["ixgbe", "virtio"]) {
    for (const step of ["send", "receive"]) {
      const entries = stepSearch(driver, step);
      assert.equal(entries.length, stepCodeWanted(driver, step), `${driver} ${step}`);
      for (const { label, needle, hits } of entries) {
        if (hits.length !== 1) {
          const where = hits.map((h) => `${h.file}:${h.line}`).join(", ");
          problems.push(
            `${driver} ${step} "${label}": "${needle}" matches ${hits.length}: ${where}`,
          );
        }
      }
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("every step of step mode finds its driver lines", () => {
  for (const driver of ["ixgbe", "virtio"]) {
    for (const step of ["send", "receive", "forward", "receive-back"]) {
      const code = stepCode(driver, step);
      assert.equal(
        code.length,
        stepCodeWanted(driver, step),
        `${driver} ${step}: ${JSON.stringify(code.map((c) => c.label))}`,
      );
      for (const c of code) {
        assert.match(c.file, new RegExp(`^drivers/${driver}/`));
        // Every family keeps its ring code in rx.ts/tx.ts (ixgbe's are the
        // labs' reference), not in the bring-up file.
        const want = step === "send" || step === "forward" ? "tx.ts" : "rx.ts";
        assert.equal(c.file, `drivers/${driver}/${want}`, `${driver} ${step}: ${c.label}`);
        assert.doesNotMatch(c.text, /^(\*|\/\/)/, `${c.label}: a comment`);
        const line = Deno.readTextFileSync(new URL(`../../${c.file}`, import.meta.url))
          .split("\n")[c.line - 1];
        assert.equal(line.trim(), c.text);
      }
    }
  }
});

Deno.test("the server's files: the page's three and the source files step mode links, nothing else", () => {
  const code = ["ixgbe", "virtio"].flatMap((driver) =>
    ["send", "receive", "forward", "receive-back"].flatMap((step) => stepCode(driver, step))
  );
  const files = pageFiles(code);
  const linked = [...new Set(code.map((c) => `src/${c.file}`))].sort();
  assert.deepEqual(
    Object.keys(files).sort(),
    ["", "static/app.js", "static/style.css", ...linked].sort(),
  );
  for (const name of linked) assert.match(name, /^src\/drivers\/(ixgbe|virtio)\/[a-z0-9_]+\.ts$/);
  assert.match(files[""].body, /<title>ixy\.ts/);
  assert.equal(files[""].type, "text/html; charset=utf-8");
  assert.equal(files["static/app.js"].type, "text/javascript; charset=utf-8");
  for (const c of code) {
    const page = files[`src/${c.file}`].body;
    const row = new RegExp(`<tr id="L${c.line}">.*?</tr>`).exec(page)?.[0] ?? "";
    assert.ok(
      row.includes(c.text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")),
      `${c.file}:${c.line}`,
    );
  }
  // No page refers to the server by an absolute path (it would lose the token).
  for (const [name, f] of Object.entries(files)) {
    assert.doesNotMatch(f.body, /(href|src)="\//, name);
    assert.doesNotMatch(f.body, /fetch\(["`]\/|EventSource\(["`]\//, name);
  }
});

Deno.test("a source page is read-only text: escaped, its stylesheet relative to the token", () => {
  const page = sourcePage("drivers/ixgbe/tx.ts", "a < b && c > d\n</pre><script>x</script>");
  assert.match(page, /<tr id="L1">.*a &lt; b &amp;&amp; c &gt; d/);
  assert.match(page, /&lt;\/pre&gt;&lt;script&gt;x&lt;\/script&gt;/);
  assert.doesNotMatch(page, /<script>/);
  const href = /<link rel="stylesheet" href="([^"]+)"/.exec(page)![1];
  assert.equal(
    new URL(href, "http://127.0.0.1:8080/TOKEN/src/drivers/ixgbe/tx.ts").pathname,
    "/TOKEN/static/style.css",
  );
});
