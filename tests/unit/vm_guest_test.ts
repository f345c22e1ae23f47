import assert from "node:assert/strict";
import {
  checkGuestVisible,
  DENO_CACHE_ARCHIVE,
  guestEnvironment,
  runScript,
  shellQuote,
} from "../../tools/vm/run_dir.ts";
import { initramfsModuleName, initScript, parseShowDepends } from "../../tools/vm/initramfs.ts";
import { parseKernelDependency } from "../../tools/vm/kernel.ts";
import { isStaticElf } from "../../tools/vm/host.ts";
import { findBzImagePayload, hasPvhEntry } from "../../tools/vm/vmlinux.ts";
import { VmError } from "../../tools/vm/errors.ts";

Deno.test("shellQuote: any string survives /bin/sh", async () => {
  const samples = ["plain", "", "it's", "a b\tc\nd", "$HOME `x` \\ \" '' !"];
  for (const text of samples) {
    const out = await new Deno.Command("/bin/sh", {
      args: ["-c", `printf %s ${shellQuote(text)}`],
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(out.stdout), text);
  }
});

Deno.test("guestEnvironment: PATH gets Deno's directory and sbin, fixed variables", () => {
  const env = guestEnvironment({
    hostPath: "/usr/bin:/bin",
    deno: "/opt/deno/bin/deno",
    noColor: true,
    extra: { FOO: "bar", HOME: "/root2" },
  });
  const path = env.PATH.split(":");
  assert.deepEqual(path.slice(0, 2), ["/usr/bin", "/bin"]); // host order first
  for (const dir of ["/opt/deno/bin", "/usr/sbin", "/sbin"]) assert.ok(path.includes(dir), dir);
  assert.equal(new Set(path).size, path.length); // no duplicates added
  assert.equal(env.IXY_VM, "1");
  assert.equal(env.IXY_DENO, "/opt/deno/bin/deno");
  assert.equal(env.DENO_DIR, "/tmp/deno-dir");
  assert.equal(env.NO_COLOR, "1");
  assert.equal(env.FOO, "bar");
  assert.equal(env.HOME, "/root2"); // extra variables win
  assert.equal(
    guestEnvironment({ hostPath: "", deno: "/d/deno", noColor: false }).NO_COLOR,
    undefined,
  );
});

Deno.test("runScript: exports, cd, exec", () => {
  const script = runScript({ A: "x y", B: "it's" }, "/work/my dir");
  assert.match(script, /^export A='x y'$/m);
  assert.match(script, /^export B='it'\\''s'$/m);
  assert.match(script, /^cd '\/work\/my dir' \|\| exit 125$/m);
  assert.match(script, /exec \/bin\/sh \/run\/ixy\/command.sh\n$/);
  assert.throws(() => runScript({ "BAD-NAME": "x" }, "/"), VmError);
});

Deno.test("runScript with a Deno cache: seeds DENO_DIR, runs, archives it, keeps the exit code", async () => {
  const script = runScript({ DENO_DIR: "/tmp/deno-dir" }, "/work", "/c/it's.tar");
  assert.match(script, /^if \[ -f '\/c\/it'\\''s\.tar' \]; then$/m);
  assert.doesNotMatch(script, /exec /);
  // Run it for real (with /run/ixy replaced): the archive comes back, and so does the exit code.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/seed`);
    await Deno.writeTextFile(`${dir}/seed/old`, "1");
    const tar = await new Deno.Command("tar", {
      args: ["-cf", `${dir}/in.tar`, "-C", `${dir}/seed`, "."],
    })
      .output();
    assert.equal(tar.code, 0);
    await Deno.writeTextFile(`${dir}/command.sh`, 'touch "$DENO_DIR/new"; exit 7\n');
    const text = runScript({ DENO_DIR: `${dir}/deno-dir` }, dir, `${dir}/in.tar`)
      .replaceAll("/run/ixy/", `${dir}/`);
    const run = await new Deno.Command("sh", { args: ["-c", text] }).output();
    assert.equal(run.code, 7);
    const list = await new Deno.Command("tar", { args: ["-tf", `${dir}/${DENO_CACHE_ARCHIVE}`] })
      .output();
    const names = new TextDecoder().decode(list.stdout);
    assert.match(names, /old/);
    assert.match(names, /new/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkGuestVisible: /proc, /sys, /dev and /tmp itself are not visible", () => {
  checkGuestVisible("/work/main");
  checkGuestVisible("/tmp/clone"); // /init bind-mounts it from the host
  for (const bad of ["/proc/1", "/sys/x", "/dev", "/tmp", "/run"]) {
    assert.throws(() => checkGuestVisible(bad), VmError, bad);
  }
});

Deno.test("parseShowDepends: insmod lines in order, each once, builtins skipped", () => {
  const output = [
    "insmod /k/virtio_ring.ko ",
    "insmod /k/virtio.ko ",
    "builtin crc32c",
    "insmod /k/virtio_pci.ko ",
    "insmod /k/virtio_ring.ko ",
    "insmod /k/9pnet.ko.xz opt=1",
    "",
  ].join("\n");
  assert.deepEqual(parseShowDepends(output), [
    "/k/virtio_ring.ko",
    "/k/virtio.ko",
    "/k/virtio_pci.ko",
    "/k/9pnet.ko.xz",
  ]);
});

Deno.test("initramfsModuleName: numbered for a sorted glob, compression suffix dropped", () => {
  assert.equal(
    initramfsModuleName(0, "/x/kernel/drivers/virtio/virtio_ring.ko"),
    "00-virtio_ring.ko",
  );
  assert.equal(initramfsModuleName(12, "/x/9p.ko.xz"), "12-9p.ko");
  assert.equal(initramfsModuleName(3, "/x/overlay.ko.zst"), "03-overlay.ko");
  const names = [10, 2, 0].map((i) => initramfsModuleName(i, "/m.ko")).sort();
  assert.deepEqual(names, ["00-m.ko", "02-m.ko", "10-m.ko"]);
});

Deno.test("initScript: the boot steps are all there", () => {
  const script = initScript();
  assert.ok(script.startsWith("#!/bin/busybox sh\n"));
  for (
    const step of [
      "insmod",
      "mount -t 9p",
      "hostroot /hostroot",
      "ixyrun /ixyrun",
      "mount -t overlay",
      "mount -t hugetlbfs",
      "mount -t tmpfs -o mode=1777 tmp /newroot/tmp",
      "ip link set lo up",
      "stty -F /dev/ttyS1 raw",
      "chroot /newroot /bin/sh /run/ixy/run.sh",
      "cat /proc/uptime > /ixyrun/started",
      "cat /proc/uptime > /ixyrun/finished",
      "> /ixyrun/exit_code",
      "poweroff -f",
    ]
  ) {
    assert.ok(script.includes(step), step);
  }
  assert.ok(!script.includes("${"), "no unexpanded template placeholders");
});

Deno.test("parseKernelDependency: the image behind linux-image-amd64", () => {
  const output = "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n";
  assert.equal(parseKernelDependency(output), "linux-image-6.1.0-56-amd64");
  assert.equal(parseKernelDependency("linux-image-amd64\n  Depends: <foo>\n"), undefined);
  assert.equal(parseKernelDependency(""), undefined);
});

/** A minimal 64-bit little-endian ELF header with program headers of the given types. */
function fakeElf(types: number[], notes?: Uint8Array): Uint8Array {
  const phoff = 64;
  const phentsize = 56;
  const notesAt = phoff + types.length * phentsize;
  const elf = new Uint8Array(notesAt + (notes?.length ?? 0));
  const view = new DataView(elf.buffer);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  view.setBigUint64(0x20, BigInt(phoff), true);
  view.setUint16(0x36, phentsize, true);
  view.setUint16(0x38, types.length, true);
  types.forEach((type, i) => {
    const ph = phoff + i * phentsize;
    view.setUint32(ph, type, true);
    if (type === 4 && notes) {
      view.setBigUint64(ph + 8, BigInt(notesAt), true);
      view.setBigUint64(ph + 32, BigInt(notes.length), true);
    }
  });
  if (notes) elf.set(notes, notesAt);
  return elf;
}

/** One ELF note: namesz, descsz, type, name (padded), desc (padded). */
function note(name: string, type: number, desc: number[]): Uint8Array {
  const nameBytes = new TextEncoder().encode(name + "\0");
  const pad = (n: number): number => (n + 3) & ~3;
  const out = new Uint8Array(12 + pad(nameBytes.length) + pad(desc.length));
  const view = new DataView(out.buffer);
  view.setUint32(0, nameBytes.length, true);
  view.setUint32(4, desc.length, true);
  view.setUint32(8, type, true);
  out.set(nameBytes, 12);
  out.set(desc, 12 + pad(nameBytes.length));
  return out;
}

Deno.test("isStaticElf: a PT_INTERP header means dynamically linked", () => {
  assert.equal(isStaticElf(fakeElf([1, 1])), true); // PT_LOAD only
  assert.equal(isStaticElf(fakeElf([6, 3, 1])), false); // PT_PHDR, PT_INTERP, PT_LOAD
  assert.equal(isStaticElf(new TextEncoder().encode("#!/bin/sh\n".padEnd(100))), false);
});

Deno.test("hasPvhEntry: finds the Xen PHYS32_ENTRY note", () => {
  const other = note("GNU", 3, [1, 2, 3, 4]);
  const pvh = note("Xen", 18, [0, 0, 0, 1]);
  const both = new Uint8Array([...other, ...pvh]);
  assert.equal(hasPvhEntry(fakeElf([1, 4], both)), true);
  assert.equal(hasPvhEntry(fakeElf([1, 4], other)), false);
  assert.equal(hasPvhEntry(fakeElf([1, 4], note("Xen", 17, [0, 0, 0, 0]))), false);
  assert.equal(hasPvhEntry(new Uint8Array(10)), false);
});

Deno.test("findBzImagePayload: reads the boot protocol header", () => {
  const image = new Uint8Array(4096);
  const view = new DataView(image.buffer);
  image[0x1f1] = 3; // setup_sects: setup code is (3 + 1) * 512 bytes
  view.setUint32(0x202, 0x53726448, true); // "HdrS"
  view.setUint16(0x206, 0x20f, true); // protocol 2.15
  view.setUint32(0x248, 100, true); // payload_offset
  view.setUint32(0x24c, 200, true); // payload_length
  image.set([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 2048 + 100);
  assert.deepEqual(findBzImagePayload(image), { offset: 2148, length: 200, format: "xz" });
  image.set([0x28, 0xb5, 0x2f, 0xfd], 2148);
  assert.equal(findBzImagePayload(image)?.format, "zstd");
  view.setUint32(0x24c, 5000, true); // runs past the end of the file
  assert.equal(findBzImagePayload(image), undefined);
  view.setUint32(0x202, 0, true); // no "HdrS": not a Linux kernel
  assert.equal(findBzImagePayload(image), undefined);
});
