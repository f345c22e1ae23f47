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

import { errorText, findExecutable, pathExists, runTool } from "./host.ts";

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
  const startsWith = (...magic: number[]): boolean =>
    magic.every((b, i) => image[offset + i] === b);
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
  /** Where progress messages go (default: nowhere). */
  readonly log?: (message: string) => void;
}

/** The host program that decompresses each payload format, and its Debian package. */
const DECOMPRESSORS = {
  xz: { program: "xz", pkg: "xz-utils" },
  gzip: { program: "gzip", pkg: "gzip" },
  zstd: { program: "zstd", pkg: "zstd" },
} as const;

/**
 * Unpacks the bzImage into a bootable ELF once. A kernel that cannot be
 * booted that way is remembered in a `<vmlinux>.unusable` file; a missing
 * decompressor is not (it may be installed later).
 *
 * @param options the bzImage, the target path and a progress callback
 * @returns the image QEMU should boot: the ELF if usable, else the bzImage
 */
export async function ensureVmlinux(options: EnsureVmlinuxOptions): Promise<string> {
  if (pathExists(options.vmlinux)) return options.vmlinux;
  if (pathExists(`${options.vmlinux}.unusable`)) return options.vmlinuz;
  const fallBack = (reason: string): string => {
    options.log?.(`Booting the compressed kernel, about 2 s slower per boot: ${reason}`);
    return options.vmlinuz;
  };
  const unusable = async (reason: string): Promise<string> => {
    await Deno.writeTextFile(`${options.vmlinux}.unusable`, `${reason}\n`).catch(() => {});
    return fallBack(reason);
  };
  try {
    const image = await Deno.readFile(options.vmlinuz);
    const payload = findBzImagePayload(image);
    if (!payload || payload.format === "other") {
      return await unusable("not a bzImage with an xz, gzip or zstd payload");
    }
    const tool = DECOMPRESSORS[payload.format];
    const program = findExecutable(tool.program);
    if (!program) return fallBack(`${tool.program} is missing (apt-get install ${tool.pkg})`);
    options.log?.(`Unpacking ${options.vmlinuz} once, for faster boots`);
    const elf = await decompress(program, payload, image);
    if (!elf) return await unusable(`${tool.program} did not give the expected size`);
    if (!hasPvhEntry(elf)) return await unusable("the kernel has no PVH entry point");
    const partial = `${options.vmlinux}.${Deno.pid}.partial`;
    await Deno.writeFile(partial, elf);
    await Deno.rename(partial, options.vmlinux); // atomic: parallel runs see all or nothing
    return options.vmlinux;
  } catch (error) {
    return fallBack(errorText(error));
  }
}

/** Runs `<program> -dc` on the payload; undefined if the result has the wrong size. */
async function decompress(
  program: string,
  payload: BzImagePayload,
  image: Uint8Array,
): Promise<Uint8Array | undefined> {
  let data = image.subarray(payload.offset, payload.offset + payload.length);
  // The kernel build appends the unpacked size (4 bytes, little-endian) to
  // xz and zstd payloads; the tools would take it for a broken second stream.
  let expectedSize: number | undefined;
  if (payload.format !== "gzip") {
    expectedSize = new DataView(data.buffer, data.byteOffset + data.length - 4, 4)
      .getUint32(0, true);
    data = data.subarray(0, data.length - 4);
  }
  const { stdoutBytes } = await runTool(program, ["-dc"], {
    stdin: data,
    purpose: "unpack the kernel image",
  });
  return expectedSize === undefined || stdoutBytes.length === expectedSize
    ? stdoutBytes
    : undefined;
}
