/**
 * Lab-VM test tool (run as a normal user, inside `deno task vm --iommu`):
 * shows that VFIO's IOMMU lets a device read only what we mapped.
 *
 * QEMU's legacy virtio NICs bypass the IOMMU (see tools/vm/qemu.ts), so this
 * uses the VM's e1000 (82540EM), whose DMA the emulated VT-d translates, with
 * a minimal transmit-only setup after the "PCI/PCI-X Family of Gigabit
 * Ethernet Controllers Software Developer's Manual" (8254x SDM), section 14.5
 * "Transmit Initialization". It sends three test frames (tools/lib/udp_frame.ts):
 *
 * 1. sequence 0 from memory mapped with VFIO_IOMMU_MAP_DMA (must arrive);
 * 2. sequence 7 ("forbidden") from ordinary memory of this process that was
 *    never mapped for the device, its virtual address as the IOVA (must NOT
 *    arrive: the IOMMU faults the read, the kernel logs a DMAR fault);
 * 3. sequence 1 from mapped memory again (must arrive: device and VM go on).
 *
 * Prints `DMA_RESULT={...}` with the descriptors' DD bits.
 *
 *     deno run -A --no-check tests/vm/guest/vfio_iommu_dma.ts 0000:00:1e.0
 *
 * @module
 */

import { VfioDmaAllocator, VfioPciDevice } from "../../../src/vfio.ts";
import { parsePciAddress } from "../../../src/pci.ts";
import { sleepMicros, waitForFlags32 } from "../../../src/mmio.ts";
import { runTool } from "../../../src/error.ts";
import { hi32, lo32 } from "../../../src/memory.ts";
import { FrameTemplate } from "../../../tools/lib/udp_frame.ts";

/** 8254x registers (SDM section 13.4, "Register Descriptions"), byte offsets in BAR0. */
const E1000 = {
  CTRL: 0x0000,
  STATUS: 0x0008,
  IMC: 0x00d8,
  TCTL: 0x0400,
  TIPG: 0x0410,
  TDBAL: 0x3800,
  TDBAH: 0x3804,
  TDLEN: 0x3808,
  TDH: 0x3810,
  TDT: 0x3818,
} as const;
/** CTRL.RST (bit 26, self-clearing) and CTRL.SLU "set link up" (bit 6), SDM 13.4.1. */
const CTRL_RST = 1 << 26;
const CTRL_SLU = 1 << 6;
/** TCTL (13.4.33): EN, PSP (pad short packets), CT = 0x0f, COLD = 0x40 (full duplex). */
const TCTL_VALUE = (1 << 1) | (1 << 3) | (0x0f << 4) | (0x40 << 12);
/** TIPG for IEEE 802.3 (13.4.34): IPGT 10, IPGR1 8, IPGR2 6. */
const TIPG_VALUE = 10 | (8 << 10) | (6 << 20);
/** Legacy TX descriptor (3.3.3): CMD.EOP | CMD.IFCS | CMD.RS; STA.DD. */
const CMD_EOP_IFCS_RS = 0x01 | 0x02 | 0x08;
const STA_DD = 0x01;
const RING_ENTRIES = 8; // 8 × 16 bytes = 128: TDLEN must be a multiple of 128
const FRAME_SIZE = 60;

async function main(): Promise<void> {
  const address = parsePciAddress(Deno.args[0] ?? "0000:00:1e.0");
  const vfio = VfioPciDevice.open(address);
  vfio.enableBusMastering();
  const regs = vfio.mapBar(0);
  const dma = VfioDmaAllocator.open({ container: vfio.container });
  const mem = dma.allocate(4096); // one hugepage: ring at 0, frames at 4096+

  // Reset (SDM 14.3 / 13.4.1), mask all interrupts (IMC, 13.4.21), link up.
  regs.write32(E1000.CTRL, regs.read32(E1000.CTRL) | CTRL_RST);
  sleepMicros(10_000);
  waitForFlags32(regs, E1000.CTRL, CTRL_RST, false, { what: "e1000 reset" });
  regs.write32(E1000.IMC, 0xffffffff);
  regs.write32(E1000.CTRL, regs.read32(E1000.CTRL) | CTRL_SLU);

  // Transmit initialization (SDM 14.5): ring base/length, head = tail = 0.
  const ring = mem.physAddr(0);
  regs.write32(E1000.TDBAL, lo32(ring));
  regs.write32(E1000.TDBAH, hi32(ring));
  regs.write32(E1000.TDLEN, RING_ENTRIES * 16);
  regs.write32(E1000.TDH, 0);
  regs.write32(E1000.TDT, 0);
  regs.write32(E1000.TIPG, TIPG_VALUE);
  regs.write32(E1000.TCTL, TCTL_VALUE);

  const desc = new DataView(mem.buffer, 0, RING_ENTRIES * 16);
  const template = new FrameTemplate({ size: FRAME_SIZE });
  // Memory the device was never given: a plain JS buffer of this process.
  const forbidden = new Uint8Array(4096);
  const forbiddenIova = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(forbidden)));

  const frames: { seq: number; iova: number; mapped: boolean }[] = [];
  const put = (i: number, seq: number, mapped: boolean): void => {
    const bytes = template.bytes.slice();
    template.stamp(bytes, seq);
    let iova: number;
    if (mapped) {
      new Uint8Array(mem.buffer, 4096 * (i + 1), FRAME_SIZE).set(bytes);
      iova = mem.physAddr(4096 * (i + 1));
    } else {
      forbidden.set(bytes);
      iova = forbiddenIova;
    }
    desc.setBigUint64(16 * i, BigInt(iova), true);
    desc.setUint16(16 * i + 8, FRAME_SIZE, true);
    desc.setUint8(16 * i + 11, CMD_EOP_IFCS_RS);
    desc.setUint8(16 * i + 12, 0);
    frames.push({ seq, iova, mapped });
  };

  const dd: boolean[] = [];
  const plan: [number, boolean][] = [[0, true], [7, false], [1, true]];
  for (const [i, [seq, mapped]] of plan.entries()) {
    put(i, seq, mapped);
    regs.write32(E1000.TDT, i + 1); // the doorbell: descriptor i is the device's
    const deadline = performance.now() + 2000;
    while (!(Atomics.load(new Uint8Array(mem.buffer), 16 * i + 12) & STA_DD)) {
      if (performance.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    dd.push((new Uint8Array(mem.buffer)[16 * i + 12] & STA_DD) !== 0);
    await new Promise((r) => setTimeout(r, 200)); // let the kernel log a fault first
  }
  console.log(
    "DMA_RESULT=" + JSON.stringify({
      uid: Deno.uid(),
      frames: frames.map((f) => ({ ...f, iova: "0x" + f.iova.toString(16) })),
      dd,
      tdh: regs.read32(E1000.TDH),
      status: "0x" + regs.read32(E1000.STATUS).toString(16),
    }),
  );
  regs.write32(E1000.TCTL, 0);
  regs.write32(E1000.CTRL, regs.read32(E1000.CTRL) | CTRL_RST); // stop all DMA
}

if (import.meta.main) runTool(main);
