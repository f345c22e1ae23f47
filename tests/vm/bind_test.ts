/**
 * Lab-VM test of tools/bind.ts (`deno task bind`) in the VM with QEMU's
 * emulated Intel IOMMU, one boot: it refuses a SATA controller and the host
 * bridge (with and without `--unbind`) and leaves them bound as they were;
 * `--unbind` refuses a NIC that is not bound to vfio-pci; a NIC whose kernel
 * interface is up is taken only with `--force`; a NIC without a driver of
 * ours is taken with a warning. The script: tests/vm/guest/bind_refuse.sh.
 * The same cases without a VM, against a stand-in for sysfs:
 * tests/unit/bind_test.ts.
 */

import assert from "node:assert/strict";
import { field, guest } from "./lib.ts";

/** What one case of the script printed. */
interface Case {
  code: number;
  before: string;
  after: string;
  text: string;
}

/** The CASE blocks of bind_refuse.sh's output, by name. */
function parseCases(out: string): Map<string, Case> {
  const cases = new Map<string, Case>();
  for (const block of out.split(/^CASE /m).slice(1)) {
    const [head, ...rest] = block.split("\n");
    const m = /^(\S+) exit=(\d+) before=(\S+) after=(\S+)$/.exec(head);
    assert.ok(m, `bad CASE line: ${head}`);
    const end = rest.indexOf("END");
    const text = (end < 0 ? rest : rest.slice(0, end)).join("\n").trim();
    cases.set(m[1], { code: Number(m[2]), before: m[3], after: m[4], text });
  }
  return cases;
}

Deno.test("lab VM + IOMMU: bind takes network controllers only, a refusal changes nothing", async (t) => {
  const out = await guest("sh tests/vm/guest/bind_refuse.sh", {
    iommu: true,
    // An AHCI (SATA) controller, as on every q35 board (the lab VM turns off
    // the built-in one), and a NIC none of our drivers takes.
    extraDevices: ["ich9-ahci,addr=0x07", "rtl8139,addr=0x06,romfile="],
  });
  const cases = parseCases(out);
  const get = (name: string): Case => {
    const c = cases.get(name);
    assert.ok(c, `case ${name} did not run:\n${out}`);
    return c;
  };
  /** A refusal: non-zero exit, one line matching `pattern`, the driver unchanged. */
  const refused = (name: string, driver: string, pattern: RegExp) => {
    const c = get(name);
    const shown = `${name}: ${JSON.stringify(c)}`;
    assert.notEqual(c.code, 0, shown);
    assert.match(c.text, pattern, shown);
    assert.equal(c.text.split("\n").length, 1, `more than one line: ${shown}`);
    assert.doesNotMatch(c.text, /^\s+at /m, `stack trace: ${shown}`);
    assert.equal(c.before, driver, shown);
    assert.equal(c.after, driver, `the binding changed: ${shown}`);
  };

  await t.step("the IOMMU is on: the SATA controller and the host bridge have groups", () => {
    assert.ok(Number(field(out, "IOMMU_GROUPS")) > 0, out);
    assert.match(field(out, "SATA_GROUP"), /^\d+$/);
    assert.match(field(out, "BRIDGE_GROUP"), /^\d+$/);
  });
  const sata = /^error: 0000:00:07\.0 is not a network controller \(PCI class 0x01, mass storage/;
  const bridge = /^error: 0000:00:00\.0 is not a network controller \(PCI class 0x06, bridge\)/;
  await t.step("SATA controller: refused, stays with ahci", () => {
    refused("sata", "ahci", sata);
  });
  await t.step("SATA controller --unbind: refused, stays with ahci", () => {
    refused("sata-unbind", "ahci", sata);
  });
  await t.step("host bridge: refused, stays without a driver", () => {
    refused("bridge", "none", bridge);
  });
  await t.step("host bridge --unbind: refused, stays without a driver", () => {
    refused("bridge-unbind", "none", bridge);
  });
  await t.step("--unbind of a NIC bound to virtio-pci: refused, naming the driver", () => {
    refused(
      "nic-unbind",
      "virtio-pci",
      /^error: 0000:00:10\.0 is bound to virtio-pci, not vfio-pci/,
    );
  });
  await t.step("a NIC whose interface is up: refused without --force", () => {
    refused(
      "nic-up",
      "virtio-pci",
      /^error: 0000:00:10\.0 is in use by the kernel as eth\d \(interface up\).*--force/,
    );
  });
  await t.step("... taken with --force, and given back with --unbind", () => {
    const force = get("nic-up-force");
    assert.equal(force.code, 0, JSON.stringify(force));
    assert.equal(force.after, "vfio-pci");
    const back = get("nic-back");
    assert.equal(back.code, 0, JSON.stringify(back));
    assert.equal(back.after, "virtio-pci");
  });
  await t.step(
    "fwd between a NIC behind the IOMMU and one in sysfs mode: refused, neither touched",
    () => {
      for (const name of ["fwd-mixed", "fwd-mixed-reversed"]) {
        refused(name, "virtio-pci", /^error: .*cannot share packet buffers.*Bind both to vfio-pci/);
      }
    },
  );
  await t.step("a NIC without a driver of ours: taken, with a warning", () => {
    const c = get("unsupported");
    assert.equal(c.code, 0, JSON.stringify(c));
    assert.equal(c.after, "vfio-pci");
    assert.match(c.text, /^bind: warning: 0000:00:06\.0 \(10ec:8139\) .*no driver/m);
  });
});
