/**
 * The lab VM's set-up on a fresh machine: which packages, which commands,
 * what a non-root user is told, and which QEMU a device model needs. The plan
 * is a pure function of the machine's facts, and its execution goes through
 * an injected system: nothing here runs apt.
 */

import assert from "node:assert/strict";
import {
  applyInstallPlan,
  BACKPORTS,
  backportsSourceText,
  describePlan,
  type HostFacts,
  type InstallSystem,
  manualInstallMessage,
  parseIndexTargets,
  parseOsRelease,
  planInstall,
} from "../../tools/vm/install.ts";
import { HOST_INSTALL_SYSTEM, HOST_PACKAGES } from "../../tools/vm/host.ts";
import {
  parseQemuVersion,
  qemuRequirementOf,
  qemuTooOldMessage,
  qemuVersion,
  requireQemu,
  versionAtLeast,
} from "../../tools/vm/qemu_version.ts";
import { VmError } from "../../tools/vm/errors.ts";
import { runInVm } from "../../tools/vm/run_vm.ts";

/** A fresh Debian 12 machine, as root: apt, no backports source yet. */
const FRESH_BOOKWORM: HostFacts = {
  root: true,
  apt: true,
  os: { id: "debian", codename: "bookworm" },
  backportsEnabled: false,
  backportsFileExists: false,
  keyring: true,
};

const APT_INSTALL = ["apt-get", "install", "-y", "--no-install-recommends"];

Deno.test("parseOsRelease reads ID and VERSION_CODENAME, quoted or not", () => {
  const text = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION_CODENAME=bookworm
ID=debian
`;
  assert.deepEqual(parseOsRelease(text), { id: "debian", codename: "bookworm" });
  assert.deepEqual(parseOsRelease(`ID="ubuntu"\nVERSION_CODENAME='noble'\n`), {
    id: "ubuntu",
    codename: "noble",
  });
  assert.deepEqual(parseOsRelease(""), { id: undefined, codename: undefined });
});

Deno.test("parseIndexTargets finds bookworm-backports main among apt's sources", () => {
  const without = "bookworm main\nbookworm-updates main\nbookworm-security main\n";
  assert.equal(parseIndexTargets(without), false);
  assert.equal(parseIndexTargets(without + "bookworm-backports main\n"), true);
  // Another component of backports is not enough: QEMU is in main.
  assert.equal(parseIndexTargets(without + "bookworm-backports contrib\n"), false);
  assert.equal(parseIndexTargets(""), false);
});

Deno.test("the backports source is the deb822 stanza Debian documents", () => {
  assert.equal(
    backportsSourceText(true),
    "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\n" +
      "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
  );
  // Without the keyring file, no Signed-By (apt then uses its trusted keys).
  assert.doesNotMatch(backportsSourceText(false), /Signed-By/);
});

Deno.test("fresh Debian 12 as root: add backports, update, install QEMU from it", () => {
  const plan = planInstall(FRESH_BOOKWORM, HOST_PACKAGES);
  assert.equal(plan.automatic, true);
  assert.equal(plan.fromBackports, true);
  assert.equal(plan.addBackports, true);
  assert.deepEqual(plan.packages, ["qemu-system-x86", "busybox-static", "cpio", "kmod"]);
  assert.deepEqual(plan.steps, [
    { kind: "write-file", path: BACKPORTS.sourcePath, text: backportsSourceText(true) },
    { kind: "run", argv: ["apt-get", "update"] },
    {
      kind: "run",
      argv: [
        "apt-get",
        "install",
        "-o",
        "DPkg::Lock::Timeout=120",
        "-y",
        "--no-install-recommends",
        "-t",
        "bookworm-backports",
        "qemu-system-x86",
        "busybox-static",
        "cpio",
        "kmod",
      ],
    },
  ]);
  assert.match(describePlan(plan), /adding Debian's bookworm-backports source/);
  assert.match(describePlan(plan), /qemu-system-x86 busybox-static cpio kmod \(QEMU from/);
});

Deno.test("backports already set up: no file written, still -t bookworm-backports", () => {
  const plan = planInstall({ ...FRESH_BOOKWORM, backportsEnabled: true }, ["qemu-system-x86"]);
  assert.equal(plan.addBackports, false);
  assert.equal(plan.fromBackports, true);
  assert.ok(plan.steps.every((s) => s.kind === "run"));
  assert.equal(
    plan.command,
    `sh -c 'apt-get update && ${APT_INSTALL.join(" ")} -t ` +
      "bookworm-backports qemu-system-x86'",
  );
});

Deno.test("QEMU there, cpio missing: no backports, just cpio", () => {
  const plan = planInstall(FRESH_BOOKWORM, ["cpio"]);
  assert.equal(plan.fromBackports, false);
  assert.equal(plan.addBackports, false);
  assert.deepEqual(plan.steps[plan.steps.length - 1], {
    kind: "run",
    argv: [
      "apt-get",
      "install",
      "-o",
      "DPkg::Lock::Timeout=120",
      "-y",
      "--no-install-recommends",
      "cpio",
    ],
  });
});

Deno.test("other releases take QEMU from the release itself (backports only on bookworm)", () => {
  for (
    const os of [{ id: "debian", codename: "trixie" }, { id: "ubuntu", codename: "noble" }, {}]
  ) {
    const plan = planInstall({ ...FRESH_BOOKWORM, os }, HOST_PACKAGES);
    assert.equal(plan.fromBackports, false, JSON.stringify(os));
    assert.equal(plan.addBackports, false);
    assert.doesNotMatch(plan.command, /backports/);
    assert.equal(plan.automatic, true);
  }
});

Deno.test("not root: the one command to run, the same steps as root would take", () => {
  const plan = planInstall({ ...FRESH_BOOKWORM, root: false }, HOST_PACKAGES);
  assert.equal(plan.automatic, false);
  const message = manualInstallMessage(
    plan,
    "Cannot boot the lab VM: qemu-system-x86_64 not found",
  );
  assert.match(
    message,
    /^Cannot boot the lab VM: qemu-system-x86_64 not found\. Run this once as root/,
  );
  assert.match(message, /bookworm-backports/);
  const command = message.split("\n").pop()!.trim();
  assert.equal(
    command,
    `sudo sh -c 'printf "%s\\n" "Types: deb" "URIs: http://deb.debian.org/debian" ` +
      `"Suites: bookworm-backports" "Components: main" ` +
      `"Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" > ` +
      `/etc/apt/sources.list.d/bookworm-backports.sources && apt-get update && ` +
      `apt-get install -y --no-install-recommends -t bookworm-backports qemu-system-x86 ` +
      `busybox-static cpio kmod'`,
  );
});

Deno.test("the command's printf writes exactly the source file root would write", async () => {
  // Run the printf part of the person's command with sh, into a scratch file.
  const plan = planInstall({ ...FRESH_BOOKWORM, root: false }, HOST_PACKAGES);
  const inner = /^sh -c '(.*)'$/.exec(plan.command)![1];
  const printf = inner.split(" && ")[0];
  const scratch = await Deno.makeTempFile();
  try {
    const script = printf.replace(BACKPORTS.sourcePath, scratch);
    const out = await new Deno.Command("sh", { args: ["-c", script] }).output();
    assert.ok(out.success);
    assert.equal(await Deno.readTextFile(scratch), backportsSourceText(true));
  } finally {
    await Deno.remove(scratch);
  }
});

Deno.test("no apt, or a backports file we must not overwrite: nothing automatic", () => {
  const noApt = planInstall({ ...FRESH_BOOKWORM, apt: false }, ["cpio"]);
  assert.equal(noApt.automatic, false);
  assert.deepEqual(noApt.steps, []);
  assert.match(manualInstallMessage(noApt, "cpio not found"), /no apt-get.*cpio/);

  const disabled = planInstall({ ...FRESH_BOOKWORM, backportsFileExists: true }, HOST_PACKAGES);
  assert.equal(disabled.automatic, false);
  assert.match(manualInstallMessage(disabled, "x"), /bookworm-backports\.sources exists/);
});

/** An {@link InstallSystem} that records what it was asked to do. */
function fakeSystem(failing?: string): { system: InstallSystem; done: string[] } {
  const done: string[] = [];
  return {
    done,
    system: {
      writeFile: (path) => {
        done.push(`write ${path}`);
        return Promise.resolve();
      },
      removeFile: (path) => {
        done.push(`remove ${path}`);
        return Promise.resolve();
      },
      run: (argv) => {
        done.push(argv.join(" "));
        return argv[1] === failing
          ? Promise.reject(new VmError(`${argv.join(" ")} failed`))
          : Promise.resolve();
      },
    },
  };
}

Deno.test("applyInstallPlan runs the steps in order and says what it does", async () => {
  const { system, done } = fakeSystem();
  const said: string[] = [];
  await applyInstallPlan(planInstall(FRESH_BOOKWORM, HOST_PACKAGES), system, (m) => said.push(m));
  assert.deepEqual(done, [
    `write ${BACKPORTS.sourcePath}`,
    "apt-get update",
    "apt-get install -o DPkg::Lock::Timeout=120 -y --no-install-recommends -t bookworm-backports " +
    "qemu-system-x86 busybox-static cpio kmod",
  ]);
  assert.equal(said.length, 3);
});

Deno.test("applyInstallPlan takes the backports source out again when apt-get update fails", async () => {
  const { system, done } = fakeSystem("update");
  await assert.rejects(
    applyInstallPlan(planInstall(FRESH_BOOKWORM, HOST_PACKAGES), system),
    VmError,
  );
  assert.deepEqual(done, [
    `write ${BACKPORTS.sourcePath}`,
    "apt-get update",
    `remove ${BACKPORTS.sourcePath}`,
  ]);
});

Deno.test("QEMU versions: parsed from --version, compared part by part", () => {
  assert.equal(
    parseQemuVersion("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\n"),
    "10.0.2",
  );
  assert.equal(
    parseQemuVersion("QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u16)"),
    "7.2.19",
  );
  assert.equal(parseQemuVersion("something else"), undefined);
  assert.equal(versionAtLeast("10.0.2", "8.0"), true); // not a string comparison
  assert.equal(versionAtLeast("8.0", "8.0"), true);
  assert.equal(versionAtLeast("7.2.19", "8.0"), false);
  assert.equal(versionAtLeast("8", "8.0.1"), false);
});

Deno.test("a command line with -device igb needs QEMU 8.0; virtio and e1000 do not", () => {
  assert.deepEqual(
    qemuRequirementOf(["-m", "1024M", "-device", "igb,netdev=net0,addr=0x0d", "-device", "e1000"]),
    { min: "8.0", why: "-device igb" },
  );
  assert.equal(
    qemuRequirementOf(["-device", "virtio-net-pci,netdev=net0", "-device", "e1000"]),
    undefined,
  );
  assert.equal(qemuRequirementOf(["-name", "igb"]), undefined); // only -device values count
});

Deno.test("a QEMU too old for igb: the message names both versions and the backports command", () => {
  const need = { min: "8.0", why: "-device igb" };
  const found = { path: "/usr/bin/qemu-system-x86_64", version: "7.2.19" };
  const plan = planInstall({ ...FRESH_BOOKWORM, root: false }, ["qemu-system-x86"]);
  const message = qemuTooOldMessage(need, found, {
    overridden: false,
    command: plan.command,
    backports: true,
  });
  assert.match(
    message,
    /^-device igb needs QEMU 8\.0 or newer, but \/usr\/bin\/qemu-system-x86_64 is QEMU 7\.2\.19\./,
  );
  assert.match(message, /sudo sh -c '.*apt-get install .* -t bookworm-backports qemu-system-x86'$/);
  assert.match(
    qemuTooOldMessage(need, found, { overridden: true, backports: false }),
    /Point IXY_VM_QEMU at a newer/,
  );
  assert.match(
    qemuTooOldMessage(need, found, { overridden: false, backports: false }),
    /Install a newer QEMU/,
  );
});

Deno.test("requireQemu with IXY_VM_QEMU naming an old QEMU fails with one clear VmError", async () => {
  // A stand-in for Debian 12's QEMU: a script that answers --version like it.
  const dir = await Deno.makeTempDir();
  const fake = `${dir}/qemu-system-x86_64`;
  await Deno.writeTextFile(
    fake,
    "#!/bin/sh\necho 'QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u16)'\n",
  );
  await Deno.chmod(fake, 0o755);
  const before = Deno.env.get("IXY_VM_QEMU");
  Deno.env.set("IXY_VM_QEMU", fake);
  try {
    assert.equal(await qemuVersion(fake), "7.2.19");
    await assert.rejects(requireQemu({ min: "8.0", why: "-device igb" }), (e: unknown) => {
      assert.ok(e instanceof VmError);
      assert.match(e.message, /-device igb needs QEMU 8\.0 or newer, but .* is QEMU 7\.2\.19/);
      assert.match(e.message, /IXY_VM_QEMU/);
      return true;
    });
    const ok = await requireQemu({ min: "7.0", why: "virtio" });
    assert.deepEqual(ok, { path: fake, version: "7.2.19" });
    // runInVm asks before it starts QEMU: an igb on this QEMU fails up front.
    await assert.rejects(
      runInVm("true", { extraDevices: ["igb,addr=0x0d,romfile="], timeoutSeconds: 30 }),
      (e: unknown) => e instanceof VmError && /-device igb needs QEMU 8\.0/.test(e.message),
    );
  } finally {
    if (before === undefined) Deno.env.delete("IXY_VM_QEMU");
    else Deno.env.set("IXY_VM_QEMU", before);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the real system writes a source file whole, readable by all, and removes it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/sources.list.d`);
    const path = `${dir}/sources.list.d/bookworm-backports.sources`;
    await HOST_INSTALL_SYSTEM.writeFile(path, backportsSourceText(true));
    assert.equal(await Deno.readTextFile(path), backportsSourceText(true));
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o644);
    // Nothing else is left in the directory apt reads, nor next to it.
    assert.deepEqual([...Deno.readDirSync(`${dir}/sources.list.d`)].map((e) => e.name), [
      "bookworm-backports.sources",
    ]);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["sources.list.d"]);
    await HOST_INSTALL_SYSTEM.removeFile(path);
    await HOST_INSTALL_SYSTEM.removeFile(path); // gone already: no error
    assert.deepEqual([...Deno.readDirSync(`${dir}/sources.list.d`)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
