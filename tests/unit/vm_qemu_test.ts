import assert from "node:assert/strict";
import {
  kernelCommandLine,
  MAX_NICS,
  nicSlots,
  qemuArgs,
  type QemuSpec,
  readQemuLog,
  udpPairBackends,
  vmNicAddress,
  vmNicMac,
} from "../../tools/vm/qemu.ts";

const SPEC: QemuSpec = {
  kernel: "/cache/vmlinux",
  initramfs: "/cache/initramfs.cpio",
  append: "console=ttyS0",
  cpus: 2,
  memoryMiB: 1024,
  runDir: "/tmp/ixy-vm-run-x",
  nics: [{ kind: "hub", hub: 0 }, { kind: "hub", hub: 1 }],
};

/** The value that follows each occurrence of `flag`. */
function values(args: readonly string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));
}

Deno.test("vmNicAddress: NIC i in slot 0x10+i of bus 0", () => {
  assert.equal(vmNicAddress(0), "0000:00:10.0");
  assert.equal(vmNicAddress(1), "0000:00:11.0");
  assert.equal(vmNicAddress(15), "0000:00:1f.0");
  assert.throws(() => vmNicAddress(MAX_NICS), RangeError);
  assert.throws(() => vmNicAddress(-1), RangeError);
  assert.throws(() => vmNicAddress(0.5), RangeError);
});

Deno.test("vmNicMac: fixed, locally administered, unicast", () => {
  assert.equal(vmNicMac(0), "02:69:78:79:00:00");
  assert.equal(vmNicMac(11), "02:69:78:79:00:0b");
  const first = parseInt(vmNicMac(3).slice(0, 2), 16);
  assert.equal(first & 0x02, 0x02); // locally administered
  assert.equal(first & 0x01, 0x00); // unicast
});

Deno.test("qemuArgs: machine, boot and serial ports", () => {
  const args = qemuArgs(SPEC);
  assert.deepEqual(values(args, "-accel"), ["tcg"]);
  assert.deepEqual(values(args, "-cpu"), ["max"]);
  assert.deepEqual(values(args, "-smp"), ["2"]);
  assert.deepEqual(values(args, "-m"), ["1024M"]);
  assert.deepEqual(values(args, "-kernel"), ["/cache/vmlinux"]);
  assert.deepEqual(values(args, "-initrd"), ["/cache/initramfs.cpio"]);
  assert.deepEqual(values(args, "-append"), ["console=ttyS0"]);
  for (const flag of ["-nodefaults", "-no-reboot", "-no-user-config"]) {
    assert.ok(args.includes(flag), flag);
  }
  // ttyS0 is the console (stderr), ttyS1 the command's output (stdout), in this order.
  assert.deepEqual(values(args, "-serial"), ["chardev:console", "chardev:output"]);
  assert.ok(values(args, "-chardev").includes("stdio,id=output,signal=off"));
});

Deno.test("qemuArgs: 9p shares, host root read-only", () => {
  const args = qemuArgs(SPEC);
  const fsdevs = values(args, "-fsdev");
  assert.equal(fsdevs.length, 2);
  assert.match(fsdevs[0], /^local,id=hostroot,path=\/,.*readonly=on/);
  assert.match(fsdevs[1], /^local,id=ixyrun,path=\/tmp\/ixy-vm-run-x,/);
  assert.doesNotMatch(fsdevs[1], /readonly/);
  assert.match(qemuArgs({ ...SPEC, runDir: "/tmp/a,b" }).join(" "), /path=\/tmp\/a,,b,/);
});

Deno.test("qemuArgs: legacy virtio NICs at fixed slots and MACs on hubs", () => {
  const args = qemuArgs(SPEC);
  assert.deepEqual(values(args, "-netdev"), [
    "hubport,id=net0,hubid=0",
    "hubport,id=net1,hubid=1",
  ]);
  const nics = values(args, "-device").filter((d) => d.startsWith("virtio-net-pci,"));
  assert.equal(nics.length, 2);
  assert.match(nics[0], /netdev=net0,mac=02:69:78:79:00:00,addr=0x10,disable-modern=on/);
  assert.match(nics[1], /netdev=net1,mac=02:69:78:79:00:01,addr=0x11,disable-modern=on/);
  // Nothing may reach the host's network: no user, tap or bridge back ends.
  for (const netdev of values(args, "-netdev")) assert.match(netdev, /^(hubport|socket),/);
  assert.ok(args.includes("-nodefaults")); // no default NIC either
});

Deno.test("qemuArgs: no NICs, extra devices", () => {
  const args = qemuArgs({ ...SPEC, nics: [], extraDevices: ["e1000,addr=0x1e,romfile="] });
  assert.deepEqual(values(args, "-netdev"), []);
  assert.ok(values(args, "-device").includes("e1000,addr=0x1e,romfile="));
});

Deno.test("udpPairBackends: NICs cabled in pairs on loopback", () => {
  assert.deepEqual(udpPairBackends(3, 40000), [
    { kind: "udp", localPort: 40000, remotePort: 40001 },
    { kind: "udp", localPort: 40001, remotePort: 40000 },
    { kind: "udp", localPort: 40002, remotePort: 40003 },
  ]);
  const args = qemuArgs({ ...SPEC, nics: udpPairBackends(2, 5000) });
  assert.deepEqual(values(args, "-netdev"), [
    "socket,id=net0,udp=127.0.0.1:5001,localaddr=127.0.0.1:5000",
    "socket,id=net1,udp=127.0.0.1:5000,localaddr=127.0.0.1:5001",
  ]);
});

Deno.test("kernelCommandLine: hugepages, panic, verbosity", () => {
  const quiet = kernelCommandLine({ hugepages: 256, verbose: false }).split(" ");
  for (const word of ["console=ttyS0", "hugepagesz=2M", "hugepages=256", "panic=-1", "quiet"]) {
    assert.ok(quiet.includes(word), word);
  }
  const verbose = kernelCommandLine({ hugepages: 0, verbose: true }).split(" ");
  assert.ok(!verbose.includes("quiet"));
  assert.ok(verbose.includes("hugepages=0"));
  assert.ok(!verbose.includes(""));
});

Deno.test("nicSlots: 0x10+i without igb; igb below 0x0f with its VF slots kept free", () => {
  assert.deepEqual(nicSlots(["virtio", "e1000", "rtl8139"]), [0x10, 0x11, 0x12]);
  // igb PFs at 0x03 (VFs 0x13, 0x14) and 0x05 (VFs 0x15, 0x16); the rest skip those.
  assert.deepEqual(
    nicSlots(["e1000", "igb", "virtio", "igb", "virtio", "virtio", "virtio"]),
    [0x10, 0x03, 0x11, 0x05, 0x12, 0x17, 0x18],
  );
  assert.equal(vmNicAddress(1, ["virtio", "igb"]), "0000:00:03.0");
  assert.equal(vmNicAddress(0, ["virtio", "igb"]), "0000:00:10.0");
  assert.throws(() => nicSlots(Array.from({ length: 17 }, () => "e1000" as const)), RangeError);
  assert.throws(() => vmNicAddress(2, ["virtio", "igb"]), RangeError);
});

Deno.test("qemuArgs: NIC models and the guest-error log", () => {
  const args = qemuArgs({
    ...SPEC,
    nicModels: ["e1000", "igb"],
    qemuLog: "/tmp/q.log",
  });
  const devices = values(args, "-device");
  assert.ok(devices.includes("e1000,netdev=net0,mac=02:69:78:79:00:00,addr=0x10,romfile="));
  assert.ok(devices.includes("igb,netdev=net1,mac=02:69:78:79:00:01,addr=0x03,romfile="));
  assert.deepEqual(values(args, "-d"), ["guest_errors,unimp"]);
  assert.deepEqual(values(args, "-D"), ["/tmp/q.log"]);
  assert.deepEqual(values(qemuArgs(SPEC), "-d"), []);
  assert.throws(() => qemuArgs({ ...SPEC, nicModels: ["e1000"] }), RangeError);
});

Deno.test("readQemuLog: lines of the log, none for a missing file", () => {
  assert.deepEqual(readQemuLog("/nonexistent/ixy-qemu.log"), []);
  const path = Deno.makeTempFileSync();
  try {
    Deno.writeTextFileSync(path, "e1000: bad write\n\nunimplemented x\n");
    assert.deepEqual(readQemuLog(path), ["e1000: bad write", "unimplemented x"]);
  } finally {
    Deno.removeSync(path);
  }
});
