/**
 * A faster boot: unpack the kernel once on the host instead of at every boot
 * in the (slow, emulated) guest.
 *
 * Debian's `vmlinuz` is a bzImage: a little real-mode setup code, a
 * decompressor, and the real kernel (`vmlinux`, an ELF file) compressed with
 * xz. Under TCG the decompression alone takes over 2 seconds of every boot.
 * We decompress it once into the cache; QEMU can boot that ELF file directly
 * if the kernel has a PVH entry point (CONFIG_PVH, an ELF note that Debian's
 * kernels have). If anything is missing, we simply boot the bzImage.
 *
 * @module
 */

import { errorText, findExecutable, runTool } from "./host.ts";

/** Where the compressed kernel sits inside a bzImage. */
export interface BzImagePayload {
  /** Byte offset of the compressed vmlinux in the file. */
  readonly offset: number;
  /** Its length in bytes. */
  readonly length: number;
  /** The compression, from the payload's magic bytes. */
  readonly format: "xz" | "gzip" | "zstd" | "other";
}

/**
 * Finds the compressed kernel in a bzImage, from the boot protocol header
 * (Documentation/arch/x86/boot.rst): the setup code is `setup_sects` + 1
 * sectors of 512 bytes (byte 0x1f1); after it, `payload_offset` (0x248) and
 * `payload_length` (0x24c) locate the compressed vmlinux (protocol 2.08+).
 *
 * @param image the bzImage's bytes
 * @returns where the payload is, or undefined if this is not a usable bzImage
 */
export function findBzImagePayload(image: Uint8Array): BzImagePayload | undefined {
  if (image.length < 0x250) return undefined;
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const isHdrS = view.getUint32(0x202, true) === 0x53726448; // "HdrS": a Linux boot header
  const protocol = view.getUint16(0x206, true);
  if (!isHdrS || protocol < 0x208) return undefined;
  const setupSectors = image[0x1f1] === 0 ? 4 : image[0x1f1];
  const offset = (setupSectors + 1) * 512 + view.getUint32(0x248, true);
  const length = view.getUint32(0x24c, true);
  if (length === 0 || offset + length > image.length) return undefined;
  const startsWith = (...magic: number[]): boolean => magic.every((b, i) => image[offset + i] === b);
  const format = startsWith(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)
    ? "xz"
    : startsWith(0x1f, 0x8b)
    ? "gzip"
    : startsWith(0x28, 0xb5, 0x2f, 0xfd)
    ? "zstd"
    : "other";
  return { offset, length, format };
}

/**
 * Tells whether an ELF kernel has a PVH entry point: a note named "Xen" of
 * type 18 (XEN_ELFNOTE_PHYS32_ENTRY). QEMU needs it to boot the ELF directly.
 *
 * @param elf the vmlinux bytes
 * @returns true if QEMU can boot it with -kernel
 */
export function hasPvhEntry(elf: Uint8Array): boolean {
  if (elf.length < 64 || elf[0] !== 0x7f || elf[1] !== 0x45 || elf[4] !== 2) return false;
  const view = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const phoff = Number(view.getBigUint64(0x20, true));
  const phentsize = view.getUint16(0x36, true);
  const phnum = view.getUint16(0x38, true);
  const PT_NOTE = 4;
  const XEN_ELFNOTE_PHYS32_ENTRY = 18;
  const align4 = (n: number): number => (n + 3) & ~3;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (view.getUint32(ph, true) !== PT_NOTE) continue;
    let at = Number(view.getBigUint64(ph + 8, true)); // p_offset
    const end = at + Number(view.getBigUint64(ph + 32, true)); // + p_filesz
    // Each note: namesz, descsz, type (4 bytes each), then name and desc, 4-byte aligned.
    while (at + 12 <= end && end <= elf.length) {
      const namesz = view.getUint32(at, true);
      const descsz = view.getUint32(at + 4, true);
      const type = view.getUint32(at + 8, true);
      const name = new TextDecoder().decode(elf.subarray(at + 12, at + 12 + namesz));
      if (name === "Xen\0" && type === XEN_ELFNOTE_PHYS32_ENTRY) return true;
      at += 12 + align4(namesz) + align4(descsz);
    }
  }
  return false;
}

/** Options of {@link ensureVmlinux}. */
export interface EnsureVmlinuxOptions {
  /** The bzImage (`boot/vmlinuz-<version>`). */
  readonly vmlinuz: string;
  /** Where to keep the unpacked ELF (`boot/vmlinux-<version>`). */
  readonly vmlinux: string;
  /** A static busybox, whose `unxz` serves when `xz` is not installed. */
  readonly busybox: string;
  /** Where progress messages go (default: nowhere). */
  readonly log?: (message: string) => void;
}

/**
 * Unpacks the bzImage into a bootable ELF once; remembers failure in a
 * `<vmlinux>.unusable` file so it is not retried at every run.
 *
 * @param options the bzImage, the target path, busybox and a progress callback
 * @returns the image QEMU should boot: the ELF if usable, else the bzImage
 */
export async function ensureVmlinux(options: EnsureVmlinuxOptions): Promise<string> {
  const exists = (path: string): boolean => {
    try {
      Deno.statSync(path);
      return true;
    } catch {
      return false;
    }
  };
  if (exists(options.vmlinux)) return options.vmlinux;
  if (exists(`${options.vmlinux}.unusable`)) return options.vmlinuz;
  options.log?.(`Unpacking ${options.vmlinuz} for a faster boot`);
  let reason: string;
  try {
    const image = await Deno.readFile(options.vmlinuz);
    const payload = findBzImagePayload(image);
    const compressed = payload && image.subarray(payload.offset, payload.offset + payload.length);
    const elf = payload && compressed && await decompress(payload.format, compressed, options);
    if (elf && hasPvhEntry(elf)) {
      const partial = `${options.vmlinux}.${Deno.pid}.partial`;
      await Deno.writeFile(partial, elf);
      await Deno.rename(partial, options.vmlinux); // atomic
      return options.vmlinux;
    }
    reason = !payload
      ? "not a bzImage we understand"
      : !elf
      ? `cannot decompress ${payload.format}`
      : "no PVH entry point";
  } catch (error) {
    reason = errorText(error);
  }
  options.log?.(`Booting the compressed kernel (slower): ${reason}`);
  await Deno.writeTextFile(`${options.vmlinux}.unusable`, `${reason}\n`).catch(() => {});
  return options.vmlinuz;
}

/** Decompresses with a host tool; undefined if there is none for the format. */
async function decompress(
  format: BzImagePayload["format"],
  data: Uint8Array,
  options: EnsureVmlinuxOptions,
): Promise<Uint8Array | undefined> {
  let program: string | undefined;
  let args: string[];
  if (format === "xz") {
    program = findExecutable("xz");
    args = ["-dc"];
    if (!program) [program, args] = [options.busybox, ["unxz", "-c"]];
  } else if (format === "gzip") {
    [program, args] = [findExecutable("gzip"), ["-dc"]];
  } else if (format === "zstd") {
    [program, args] = [findExecutable("zstd"), ["-dc"]];
  } else {
    return undefined;
  }
  if (!program) return undefined;
  const { stdoutBytes } = await runTool(program, args, {
    stdin: data,
    purpose: "unpack the kernel image",
  });
  return stdoutBytes;
}
