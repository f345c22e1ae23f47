/**
 * The ring viewer's step mode links each step to the driver lines that do
 * it, found by searching the source (tools/view/source.ts). This test fails
 * when the driver changes so that a line is no longer found: update the
 * search pieces there.
 */

import assert from "node:assert/strict";
import { sourcePage, stepCode, stepCodeWanted } from "../../tools/view/source.ts";

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
        // The ixgbe ring code is in rx.ts/tx.ts (the labs' reference), not in ixgbe.ts.
        if (driver === "ixgbe") {
          const want = step === "send" || step === "forward" ? "tx.ts" : "rx.ts";
          assert.equal(c.file, `drivers/ixgbe/${want}`, `${step}: ${c.label}`);
        }
        assert.doesNotMatch(c.text, /^(\*|\/\/)/, `${c.label}: a comment`);
        const line = Deno.readTextFileSync(new URL(`../../${c.file}`, import.meta.url))
          .split("\n")[c.line - 1];
        assert.equal(line.trim(), c.text);
      }
    }
  }
});

Deno.test("the source pages serve only .ts files of the project, read-only", () => {
  assert.match(sourcePage("drivers/ixgbe/ixgbe.ts")!, /id="L1"/);
  for (
    const bad of [
      "../etc/passwd",
      "drivers/../deno.json",
      "/etc/passwd",
      "docs/view.md",
      "deno.json",
    ]
  ) {
    assert.equal(sourcePage(bad), undefined, bad);
  }
});
