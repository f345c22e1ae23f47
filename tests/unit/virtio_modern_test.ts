import assert from "node:assert/strict";
import {
  findVirtioPciCapabilities,
  type PciConfigRead,
  type VirtioMemoryBar,
  VirtioModernTransport,
} from "../../drivers/virtio/modern.ts";
import { VIRTIO_PCI_COMMON, VIRTIO_STATUS } from "../../drivers/virtio/constants.ts";
import { Virtqueue, virtqueueLayout } from "../../drivers/virtio/virtqueue.ts";
import { SimulatedDmaAllocator } from "../../tools/devices/dma_allocator.ts";
import { IxyError } from "../../src/error.ts";

/** A 256-byte config space with a capability list (PCI 3.0, section 6.7). */
class ConfigSpace {
  readonly bytes = new Uint8Array(256);
  readonly view = new DataView(this.bytes.buffer);
  #last = 0x34; // where the next capability's offset goes

  constructor() {
    this.view.setUint16(0x06, 0x10, true); // status: capabilities list
  }

  /** Appends a capability at `offset` with `body` after {id, next}. */
  add(offset: number, id: number, body: number[]): this {
    this.bytes[this.#last] = offset;
    this.bytes[offset] = id;
    this.bytes[offset + 1] = 0;
    this.bytes.set(body, offset + 2);
    this.#last = offset + 1;
    return this;
  }

  /** A virtio structure capability (virtio 1.1, section 4.1.4). */
  virtio(at: number, type: number, bar: number, offset: number, length: number, extra?: number) {
    const body = new Uint8Array(extra === undefined ? 14 : 18);
    const v = new DataView(body.buffer);
    body[0] = body.length + 2; // cap_len
    body[1] = type;
    body[2] = bar;
    v.setUint32(6, offset, true);
    v.setUint32(10, length, true);
    if (extra !== undefined) v.setUint32(14, extra, true);
    return this.add(at, 0x09, [...body]);
  }

  get read(): PciConfigRead {
    return (o, size) =>
      size === 1
        ? this.view.getUint8(o)
        : size === 2
        ? this.view.getUint16(o, true)
        : this.view.getUint32(o, true);
  }
}

/** QEMU 7.2's modern virtio-net-pci: MSI-X, then the virtio capabilities, all in BAR4. */
function qemuLike(): ConfigSpace {
  return new ConfigSpace()
    .add(0x98, 0x11, [0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00])
    .virtio(0x84, 5, 0, 0, 0) // PCI cfg access window: not needed, still parsed
    .virtio(0x70, 2, 4, 0x3000, 0x1000, 4)
    .virtio(0x60, 4, 4, 0x2000, 0x1000)
    .virtio(0x50, 3, 4, 0x1000, 0x1000)
    .virtio(0x40, 1, 4, 0x0000, 0x1000);
}

Deno.test("findVirtioPciCapabilities: QEMU's modern virtio-net layout", () => {
  const caps = findVirtioPciCapabilities(qemuLike().read);
  assert.ok(caps);
  assert.deepEqual(caps.common, { bar: 4, offset: 0, length: 0x1000, capOffset: 0x40 });
  assert.deepEqual(caps.isr, { bar: 4, offset: 0x1000, length: 0x1000, capOffset: 0x50 });
  assert.deepEqual(caps.device, { bar: 4, offset: 0x2000, length: 0x1000, capOffset: 0x60 });
  assert.deepEqual(caps.notify, { bar: 4, offset: 0x3000, length: 0x1000, capOffset: 0x70 });
  assert.equal(caps.notifyOffMultiplier, 4);
});

Deno.test("findVirtioPciCapabilities: legacy-only and capability-less devices", () => {
  // A legacy virtio NIC (disable-modern=on) has only MSI-X.
  const legacy = new ConfigSpace().add(0x40, 0x11, [0x02, 0, 1, 0, 0, 0, 1, 8, 0, 0]);
  assert.equal(findVirtioPciCapabilities(legacy.read), undefined);
  // Status bit 4 clear: no list at all, whatever 0x34 says.
  const none = qemuLike();
  none.view.setUint16(0x06, 0, true);
  assert.equal(findVirtioPciCapabilities(none.read), undefined);
  // Common and notify, but no ISR: not a complete virtio 1.x device.
  const noIsr = new ConfigSpace().virtio(0x40, 1, 4, 0, 0x1000).virtio(
    0x50,
    2,
    4,
    0x3000,
    0x1000,
    4,
  );
  assert.equal(findVirtioPciCapabilities(noIsr.read), undefined);
});

Deno.test("findVirtioPciCapabilities: first of each type; reserved BARs, short caps, loops", () => {
  const cs = new ConfigSpace()
    .virtio(0x40, 1, 6, 0x100, 0x1000) // BAR 6 is reserved: ignored (section 4.1.4.1)
    .virtio(0x50, 1, 2, 0x200, 0x1000) // the first usable common cfg
    .virtio(0x60, 1, 4, 0x300, 0x1000) // a second one: ignored
    .virtio(0x70, 2, 2, 0x400, 0x1000) // notify without multiplier (cap_len 16): ignored
    .virtio(0x80, 2, 2, 0x500, 0x1000, 0) // notify, multiplier 0: all queues share one doorbell
    .virtio(0xa0, 3, 2, 0x600, 4);
  // Low two bits of a pointer are reserved and masked; then make the list loop.
  cs.bytes[0x34] = 0x43;
  cs.bytes[0xa1] = 0x40;
  const caps = findVirtioPciCapabilities(cs.read);
  assert.ok(caps);
  assert.equal(caps.common.offset, 0x200);
  assert.equal(caps.notify.offset, 0x500);
  assert.equal(caps.notifyOffMultiplier, 0);
  assert.equal(caps.device, undefined);
});

/**
 * A common configuration structure with the behaviour the driver relies on
 * (virtio 1.1, section 4.1.4.3): feature words behind select registers,
 * per-queue fields behind queue_select.
 */
class FakeBar implements VirtioMemoryBar {
  readonly byteLength = 0x4000;
  readonly mem = new DataView(new ArrayBuffer(0x4000));
  features = 0x0000_0003_0006_0020n; // VERSION_1, ACCESS_PLATFORM, CTRL_VQ, CTRL_RX, MAC
  driverFeatures = [0, 0];
  queues = new Map<number, Map<number, number>>();
  notifications: [number, number][] = [];

  read8(o: number): number {
    return this.mem.getUint8(o);
  }
  read16(o: number): number {
    const q = this.#queueField(o);
    if (q) return q.get(o) ?? (o === VIRTIO_PCI_COMMON.QUEUE_NOTIFY_OFF ? this.#selected() : 0);
    return this.mem.getUint16(o, true);
  }
  read32(o: number): number {
    if (o === VIRTIO_PCI_COMMON.DEVICE_FEATURE) {
      const sel = this.mem.getUint32(VIRTIO_PCI_COMMON.DEVICE_FEATURE_SELECT, true);
      return Number((this.features >> BigInt(32 * sel)) & 0xffff_ffffn);
    }
    return this.mem.getUint32(o, true);
  }
  write8(o: number, v: number): void {
    this.mem.setUint8(o, v);
  }
  write16(o: number, v: number): void {
    if (o >= 0x3000) this.notifications.push([o, v]);
    const q = this.#queueField(o);
    if (q) q.set(o, v);
    else this.mem.setUint16(o, v, true);
  }
  write32(o: number, v: number): void {
    if (o === VIRTIO_PCI_COMMON.DRIVER_FEATURE) {
      this.driverFeatures[this.mem.getUint32(VIRTIO_PCI_COMMON.DRIVER_FEATURE_SELECT, true)] = v;
    }
    const q = this.#queueField(o);
    if (q) q.set(o, v);
    else this.mem.setUint32(o, v, true);
  }
  #selected(): number {
    return this.mem.getUint16(VIRTIO_PCI_COMMON.QUEUE_SELECT, true);
  }
  #queueField(o: number): Map<number, number> | undefined {
    if (o < VIRTIO_PCI_COMMON.QUEUE_SIZE || o >= VIRTIO_PCI_COMMON.SIZE) return undefined;
    const i = this.#selected();
    if (!this.queues.has(i)) this.queues.set(i, new Map([[VIRTIO_PCI_COMMON.QUEUE_SIZE, 256]]));
    return this.queues.get(i);
  }
}

Deno.test("VirtioModernTransport: features, queue addresses, doorbells, bounds", async (t) => {
  const bar = new FakeBar();
  const caps = findVirtioPciCapabilities(qemuLike().read)!;
  const transport = VirtioModernTransport.open({
    name: "t",
    capabilities: caps,
    mapBar: (n) => {
      assert.equal(n, 4);
      return bar;
    },
  });
  await t.step("64 feature bits through the select registers", () => {
    assert.equal(transport.deviceFeatures(), bar.features);
    transport.writeDriverFeatures(0x3_0000_0020n);
    assert.deepEqual(bar.driverFeatures, [0x20, 3]);
  });
  await t.step("status is the 8-bit device_status", () => {
    transport.writeStatus(VIRTIO_STATUS.ACKNOWLEDGE);
    assert.equal(transport.readStatus(), VIRTIO_STATUS.ACKNOWLEDGE);
    assert.equal(bar.mem.getUint8(VIRTIO_PCI_COMMON.DEVICE_STATUS), 1);
  });
  await t.step("queue: size, three addresses, enable; doorbell at notify_off * multiplier", () => {
    assert.equal(transport.queueSize(1), 256);
    const vq = new Virtqueue(new SimulatedDmaAllocator(), { index: 1, size: 256 });
    transport.activateQueue(vq);
    const q = bar.queues.get(1)!;
    const C = VIRTIO_PCI_COMMON;
    const phys = vq.memory.physAddr(0);
    assert.equal(q.get(C.QUEUE_DESC), phys >>> 0);
    assert.equal(q.get(C.QUEUE_DESC + 4), Math.floor(phys / 2 ** 32));
    assert.equal(q.get(C.QUEUE_DRIVER), (phys + virtqueueLayout(256).availOffset) >>> 0);
    assert.equal(q.get(C.QUEUE_DEVICE), (phys + virtqueueLayout(256).usedOffset) >>> 0);
    assert.equal(q.get(C.QUEUE_ENABLE), 1);
    transport.notify(1);
    assert.deepEqual(bar.notifications, [[0x3000 + 1 * 4, 1]]);
  });
  await t.step("a structure outside its BAR is an IxyError", () => {
    const small = { ...caps, device: { bar: 4, offset: 0x3f00, length: 0x1000, capOffset: 0x60 } };
    assert.throws(
      () => VirtioModernTransport.open({ name: "t", capabilities: small, mapBar: () => bar }),
      (e: unknown) => e instanceof IxyError && /does not fit into BAR4/.test(e.message),
    );
  });
});
