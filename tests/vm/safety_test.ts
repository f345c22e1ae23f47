/**
 * Lab-VM test: a NIC our tools started is left quiet — device reset and Bus
 * Master Enable clear (PCI 3.0, 6.2.2) — on every way a tool ends: normal
 * end, an error after bring-up, SIGINT, SIGTERM and SIGHUP
 * (src/exit_guard.ts; tests/unit/exit_guard_test.ts has the rest), for virtio and e1000 in sysfs mode, where nothing
 * else would stop a NIC that still holds rings in memory the kernel hands to
 * the next process. Read from the config space by the guest's shell, not by
 * our code. Also: a file that cannot be created costs no bring-up, and
 * `--rebind` gives the NIC back to its kernel driver (e1000 too).
 * QEMU logs guest errors (`-d guest_errors,unimp`): none allowed.
 */

import assert from "node:assert/strict";
import { guestWithLog } from "./lib.ts";

interface Case {
  code: number;
  bme: number;
  driver: string;
  output: string;
}

/** The `CASE <nic> <name> ...` blocks of tests/vm/guest/quiet_exit.sh. */
function parseCases(out: string): Map<string, Case> {
  const cases = new Map<string, Case>();
  const blocks = out.split(/^(?=CASE )/m).slice(1);
  for (const block of blocks) {
    const m = /^CASE (\S+) (\S+) exit=(\d+) bme=(\d) driver=(\S+)\n([^]*)$/.exec(block);
    assert.ok(m, `malformed case:\n${block}`);
    cases.set(`${m[1]} ${m[2]}`, {
      code: Number(m[3]),
      bme: Number(m[4]),
      driver: m[5],
      output: m[6].split(/^(?:BEFORE|QEMU|\[vm\])/m)[0],
    });
  }
  return cases;
}

/** Our NICs; each shares a hub with a kernel virtio_net peer (00:11.0, 00:13.0) that is up. */
const NICS = { virtio: "0000:00:10.0", e1000: "0000:00:12.0" };
const KERNEL_DRIVER = { virtio: "virtio-pci", e1000: "e1000" };

Deno.test("lab VM: a NIC we started is quiet however the tool ends (sysfs mode)", async (t) => {
  const { out, qemuLog } = await guestWithLog(
    // A QEMU hub holds back a sender while no other port can receive: the
    // peers' interfaces go up first.
    `for p in 11 13; do ip link set "$(ls /sys/bus/pci/devices/0000:00:$p.0/virtio*/net)" up; ` +
      `done && modprobe e1000 && sh tests/vm/guest/quiet_exit.sh ${NICS.virtio} ${NICS.e1000}`,
    {
      nics: 4,
      nicModels: ["virtio", "virtio", "e1000", "virtio"],
      hubs: [0, 0, 1, 1],
    },
  );
  await t.step("QEMU logged no guest error", () => {
    assert.deepEqual(qemuLog, []);
  });
  const cases = parseCases(out);
  for (const [family, nic] of Object.entries(NICS) as [keyof typeof NICS, string][]) {
    const get = (name: string): Case => {
      const c = cases.get(`${nic} ${name}`);
      assert.ok(c, `no case ${nic} ${name} in:\n${out}`);
      return c;
    };
    await t.step(`${family}: an output file that cannot be created costs no bring-up`, () => {
      const c = get("bad-output-file");
      assert.equal(c.code, 1, c.output);
      assert.match(c.output, /^error: Cannot create \/nonexistent\/x\.pcap: /m);
      assert.equal(c.driver, KERNEL_DRIVER[family], "the NIC was not taken");
      assert.doesNotMatch(c.output, /\n\s+at /, "no stack trace");
    });
    await t.step(`${family}: --rebind hands the NIC back to ${KERNEL_DRIVER[family]}`, () => {
      const c = get("rebind");
      assert.equal(c.code, 0, c.output);
      assert.equal(c.driver, KERNEL_DRIVER[family], c.output);
      assert.match(c.output, new RegExp(`handed back to ${KERNEL_DRIVER[family]}`));
    });
    const quiet: [string, number, RegExp?][] = [
      ["normal-end", 0, /^pktgen: sent 500 frames/m],
      ["error-after-bring-up", 1, /^error: Cannot write to \/dev\/full: /m],
      ["sigint", 0, /^pktgen: sent \d+ frames/m],
      ["sigterm", 0, /^pktgen: sent \d+ frames/m],
      ["sighup", 0, /^pktgen: sent \d+ frames/m],
    ];
    for (const [name, code, pattern] of quiet) {
      await t.step(`${family}: ${name} leaves Bus Master Enable clear`, () => {
        const c = get(name);
        assert.equal(c.code, code, c.output);
        if (pattern) assert.match(c.output, pattern);
        assert.equal(c.bme, 0, `Bus Master Enable still set after ${name}:\n${c.output}`);
        assert.equal(c.driver, "none", "the NIC stays ours (no kernel driver)");
        assert.doesNotMatch(c.output, /\n\s+at /, "no stack trace");
      });
    }
  }
});
