/**
 * The lab checker's sandbox (tools/lab/mod.ts, imports.ts, worker.ts), for a
 * course where the checker grades files it did not write:
 *
 * - a lab file that imports the code its lab asks for (the one-line
 *   `export { txBatch } from "../../../drivers/ixgbe/tx.ts"`, or through the
 *   driver, a reference solution, the checker's own code, or with a computed
 *   import()) is refused before it runs, naming the import;
 * - a lab file's code runs in a Worker without permissions: planted files
 *   that read or write a file, open a library through FFI, start a program or
 *   read the environment fail the requirement, naming what was refused;
 * - a forged result message cannot turn a FAIL into a PASS.
 *
 * The planted files are tests/fixtures/labs/sandbox_*.ts and cheat_*.ts.
 */

import assert from "node:assert/strict";
import { Checklist, runLab } from "../../tools/lab/mod.ts";
import { labFileModules } from "../../tools/lab/imports.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FIXTURES = `${ROOT}tests/fixtures/labs/`;
const READ_MAC = "readMac returns the MAC address in RAL/RAH(0)";

Deno.test("a lab file that imports the code its lab asks for is refused, naming the import", async (t) => {
  const cases: [number, string, RegExp][] = [
    [3, "cheat_lab3_reexport.ts", /imports drivers\/ixgbe\/tx\.ts, the module that holds/],
    [
      3,
      "cheat_lab3_through_driver.ts",
      /drivers\/ixgbe\/tx\.ts \(through drivers\/ixgbe\/ixgbe\.ts\)/,
    ],
    [4, "cheat_lab4_reexport.ts", /imports drivers\/ixgbe\/rx\.ts/],
    [1, "cheat_lab1_reexport.ts", /imports src\/pci\.ts/],
    [2, "cheat_lab2_reexport.ts", /imports src\/memory\.ts/],
    [5, "cheat_lab5_reexport.ts", /imports drivers\/ixgbe\/ixgbe\.ts/],
    [
      6,
      "cheat_lab6_solution.ts",
      /imports tools\/lab\/solutions\/lab6_loop\.ts, a reference solution/,
    ],
    [7, "cheat_lab7_reexport.ts", /imports drivers\/igb\/rx\.ts/],
    [1, "cheat_checker_code.ts", /imports tools\/lab\/checklist\.ts, the checker's own code/],
    [3, "sandbox_computed_import.ts", /:10 uses import\(\) with a computed file name/],
  ];
  for (const [n, file, message] of cases) {
    await t.step(`lab ${n}: ${file}`, async () => {
      const list = new Checklist();
      await assert.rejects(() => runLab(n, list, { impl: FIXTURES + file }), message);
      assert.deepEqual(list.results, [], "nothing of the file ran");
    });
  }
});

Deno.test("the skeletons and the reference solutions' own files pass the import check", async () => {
  const skeletons: [number, string][] = [
    [1, "lab1_pci.ts"],
    [2, "lab2_dma.ts"],
    [3, "lab3_tx.ts"],
    [4, "lab4_rx.ts"],
    [5, "lab5_stats.ts"],
    [6, "lab6_loop.ts"],
    [7, "lab7_igb.ts"],
  ];
  for (const [n, file] of skeletons) {
    const path = `${ROOT}tools/lab/skeletons/${file}`;
    const files = await labFileModules(n, path, { check: true });
    assert.equal(files[0], path);
  }
  // Student-style files with a local helper module (lab3_correct.ts imports ./lab3_student.ts).
  for (
    const [n, file] of [[3, "lab3_correct.ts"], [4, "lab4_correct.ts"], [
      6,
      "lab6_student.ts",
    ]] as const
  ) {
    const files = await labFileModules(n, FIXTURES + file, { check: true });
    assert.ok(files.length >= 1);
  }
});

Deno.test("the lab file runs without permissions; each planted attempt fails its requirement", async (t) => {
  const attempts: [string, RegExp][] = [
    ["sandbox_read_file.ts", /NotCapable: Requires read access to "\/etc\/hostname"/],
    ["sandbox_write_file.ts", /NotCapable: Requires write access/],
    ["sandbox_dlopen.ts", /NotCapable: Requires ffi access/],
    ["sandbox_command.ts", /NotCapable: Requires run access to "sh"/],
    ["sandbox_env.ts", /NotCapable: Requires env access/],
  ];
  for (const [file, refused] of attempts) {
    await t.step(file, async () => {
      const list = new Checklist();
      // The planted files wrap the reference solution on purpose, like the other fixtures.
      await runLab(1, list, { impl: FIXTURES + file, trustImports: true });
      const failed = list.results.filter((r) => !r.ok);
      assert.equal(failed.length, 1, JSON.stringify(failed));
      assert.equal(failed[0].name, READ_MAC);
      assert.match(failed[0].reason, refused);
      assert.ok(list.results.length >= 9, "the requirements after it still ran");
    });
  }
  assert.throws(() => Deno.statSync("/tmp/ixy-lab-sandbox-planted"), Deno.errors.NotFound);
});

Deno.test("a forged result message cannot turn a FAIL into a PASS", async (t) => {
  await t.step(
    "self.postMessage of PASS results and done: the requirement fails, named",
    async () => {
      const list = new Checklist();
      await runLab(1, list, { impl: FIXTURES + "sandbox_forge_result.ts", trustImports: true });
      const mac = list.results.filter((r) => r.name === READ_MAC);
      assert.equal(mac.length, 1, JSON.stringify(mac));
      assert.equal(mac[0].ok, false);
      // Reported: as readMac's reason, or (when the checker's own result came first) as a
      // failure of its own.
      assert.ok(
        list.results.some((r) =>
          !r.ok && /posted a message to the checker's runner/.test(r.reason)
        ),
        JSON.stringify(list.results),
      );
      assert.ok(list.results.length >= 9, "the requirements after it still ran");
    },
  );
  await t.step(
    "patched MessagePort / Function.prototype.call: the checker's result stands",
    async () => {
      const list = new Checklist();
      await runLab(1, list, { impl: FIXTURES + "sandbox_steal_port.ts", trustImports: true });
      const mac = list.results.filter((r) => r.name === READ_MAC);
      assert.equal(mac.length, 1, JSON.stringify(mac));
      assert.equal(mac[0].ok, false);
      assert.match(mac[0].reason, /you read 00:00:00:00:00:00/);
    },
  );
});
