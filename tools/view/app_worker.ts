/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * The application thread of the ring viewer: the driver and a small
 * application, exactly as any ixy.ts app runs them — rxBatch and txBatch in
 * a loop, nothing added inside them. The loop also
 *
 * - publishes, once every {@link PUBLISH_EVERY} rounds, what only this thread
 *   knows: the driver's own ring indices (`driverIndex()` of
 *   `describeRings`), the mempools' fill levels and once a second the rates;
 * - looks at the control words (protocol.ts) every 64 rounds: pause, steps,
 *   speed.
 *
 * With `--nic sim` it runs the software 82599 (tools/sim82599/) with two
 * cabled ports: port 0 is a packet generator, port 1 receives and sends every
 * frame back (a forwarder), and port 0 counts what returns — so all four
 * rings move. With a PCI address: one port that sends generated frames and
 * receives whatever arrives.
 *
 * @module
 */

import { IxgbeDevice } from "../../drivers/ixgbe/ixgbe.ts";
import { dmaAllocatorFor, ixyInit } from "../../drivers/mod.ts";
import type { DmaAllocator } from "../../src/memory.ts";
import type { IxyDevice } from "../../src/device.ts";
import { formatMac } from "../../src/device.ts";
import { Mempool, PKT_BUF_HEADER, type PktBuf } from "../../src/mempool.ts";
import { DeviceStats } from "../../src/stats.ts";
import { canDescribeRings, type RingDescription } from "../../src/introspect.ts";
import { FrameTemplate, MIN_FRAME_SIZE } from "../lib/udp_frame.ts";
import { createSim82599, type Sim82599 } from "../sim82599/mod.ts";
import { InstantIxgbeDevice } from "../devices/instant_ixgbe.ts";
import { fwdScenario } from "../devices/forward.ts";
import {
  type AppStart,
  CTRL,
  CTRL_WORDS,
  type DmaRegion,
  type PortInfo,
  PUBLISH_EVERY,
  RATE,
  RATE_WORDS,
  type RingInfo,
  type SharedMemory,
  STEPS,
  threadCpuNs,
  type ViewInit,
} from "./protocol.ts";

/** Buffers of the generator's mempool (as ixy-pktgen). */
const GEN_BUFS = 2048;

/** A piece of memory as the server thread can reach it. */
function shareable(buffer: ArrayBufferLike, offset: number, length: number): SharedMemory {
  if (buffer instanceof SharedArrayBuffer) return { kind: "shared", buffer, offset, length };
  // Real DMA memory is mapped in this process: the other thread maps the same address.
  const address = Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer as ArrayBuffer));
  return { kind: "pointer", address: BigInt(address) + BigInt(offset), length };
}

/** Everything the application loop needs. */
interface App {
  devs: IxyDevice[];
  rings: RingDescription[][];
  sim?: Sim82599;
  /** `--nic instant`: the benchmarks' instant 82599s (tools/devices/instant_ixgbe.ts). */
  instant?: InstantIxgbeDevice[];
  gen: Mempool;
  template: FrameTemplate;
}

async function setUp(start: AppStart): Promise<App> {
  const devs: IxyDevice[] = [];
  let sim: Sim82599 | undefined;
  let instant: InstantIxgbeDevice[] | undefined;
  if (start.nic === "instant") {
    instant = [new InstantIxgbeDevice(), new InstantIxgbeDevice()];
    instant.forEach((dev, i) =>
      devs.push(
        IxgbeDevice.attach(dev, dev.dma, {
          name: `instant-${i}`,
          linkTimeoutMs: 0,
          rxRingSize: start.ringSize,
          txRingSize: start.ringSize,
        }),
      )
    );
  } else if (start.nic === "sim") {
    sim = await createSim82599({ ports: 2, wiring: "cable" });
    for (const p of sim.ports) {
      devs.push(
        IxgbeDevice.attach(p.regs, p.dma, {
          name: p.name,
          rxRingSize: start.ringSize,
          txRingSize: start.ringSize,
        }),
      );
    }
  }
  let dma: DmaAllocator;
  if (instant) {
    dma = instant[0].dma;
  } else if (sim) {
    dma = sim.dma;
  } else {
    // The same allocator for the driver and our generator (one VFIO container).
    dma = dmaAllocatorFor(start.nic);
    devs.push(ixyInit(start.nic, { dma }));
  }
  const rings = devs.map((d) => canDescribeRings(d) ? d.describeRings() : []);
  const gen = Mempool.create(dma, { numEntries: GEN_BUFS });
  const template = new FrameTemplate({ size: MIN_FRAME_SIZE, srcMac: devs[0].getMacAddress() });
  for (const buf of gen.buffers) {
    buf.data.set(template.bytes);
    buf.size = MIN_FRAME_SIZE;
  }
  return { devs, rings, sim, instant, gen, template };
}

/** Where each packet buffer of `pool` is, for the hex dump (real memory only). */
function poolRegions(pool: Mempool): DmaRegion[] {
  return pool.buffers.map((buf) => ({
    phys: buf.physAddr,
    memory: shareable(buf.data.buffer, buf.data.byteOffset - PKT_BUF_HEADER, pool.entrySize),
  }));
}

function describe(
  app: App,
  start: AppStart,
  shared: Omit<ViewInit, "type" | "nic" | "ports" | "rings" | "regions" | "steps">,
): ViewInit {
  const ports: PortInfo[] = app.devs.map((dev, i) => ({
    name: dev.pciAddress,
    driver: dev.driverName,
    mac: formatMac(dev.getMacAddress()),
    role: app.instant
      ? i === 0
        ? "receives frames from an instant device and forwards them to port 1"
        : "sends the forwarded frames; the instant device completes them at once"
      : app.devs.length === 1
      ? "sends generated frames, receives what arrives"
      : i === 0
      ? "packet generator; counts the frames that come back"
      : "forwarder: receives every frame and sends it back",
    registerFile: app.sim
      ? {
        kind: "shared",
        buffer: app.sim.ports[i].registerFile,
        offset: 0,
        length: app.sim.ports[i].registerFile.byteLength,
      }
      : app.instant
      ? {
        kind: "shared",
        buffer: app.instant[i].regs.buffer as SharedArrayBuffer,
        offset: 0,
        length: app.instant[i].regs.byteLength,
      }
      : undefined,
  }));
  const rings: RingInfo[] = [];
  app.rings.forEach((list, port) => {
    for (const r of list) {
      const virtio = app.devs[port] as { features?: bigint };
      rings.push({
        port,
        kind: r.kind,
        queue: r.queue,
        size: r.size,
        physAddr: r.physAddr,
        memory: shareable(r.memory, 0, r.byteLength),
        registers: r.registers,
        virtqueue: r.virtqueue,
        poolSize: r.pool?.numEntries,
        // VIRTIO_F_VERSION_1 (bit 32) makes the header 12 bytes (virtio 1.1, 5.1.6).
        netHeaderBytes: r.kind.startsWith("virtio")
          ? ((virtio.features ?? 0n) & (1n << 32n) ? 12 : 10)
          : undefined,
      });
    }
  });
  let regions: DmaRegion[];
  const blocks = app.sim?.dma.blocks ?? app.instant?.flatMap((d) => d.dma.blocks);
  if (blocks) {
    regions = blocks.map((b) => ({
      phys: b.phys,
      memory: { kind: "shared", buffer: b.buffer, offset: 0, length: b.size },
    }));
  } else {
    regions = [app.gen, ...app.rings.flat().map((r) => r.pool).filter((p) => p !== undefined)]
      .flatMap(poolRegions);
  }
  return { type: "ready", nic: start.nic, ports, rings, regions, steps: stepIds(app), ...shared };
}

/** The steps this application offers: four with two ports, two with one. */
function stepIds(app: App): string[] {
  if (app.instant) return []; // a benchmark set-up: the device answers inside the loop
  return app.devs.length === 2 ? STEPS.map((s) => s.id) : ["send", "receive"];
}

/** Runs the application until CTRL.STOP. */
async function run(start: AppStart): Promise<void> {
  const app = await setUp(start);
  const ctrlBuffer = new SharedArrayBuffer(CTRL_WORDS * 4);
  const ringCount = app.rings.flat().length;
  const indicesBuffer = new SharedArrayBuffer(4 * Math.max(1, ringCount));
  const poolBuffer = new SharedArrayBuffer(4 * Math.max(1, ringCount));
  const ratesBuffer = new SharedArrayBuffer(8 * RATE_WORDS * app.devs.length);
  const ctrl = new Int32Array(ctrlBuffer);
  const indices = new Int32Array(indicesBuffer);
  const poolFree = new Int32Array(poolBuffer);
  const rates = new Float64Array(ratesBuffer);
  Atomics.store(ctrl, CTRL.RATE, start.pps);
  self.postMessage(
    describe(app, start, {
      ctrl: ctrlBuffer,
      indices: indicesBuffer,
      poolFree: poolBuffer,
      rates: ratesBuffer,
    }),
  );

  const { devs, gen, template, sim } = app;
  const steps = stepIds(app);
  const flat = app.rings.flat();
  const batch = start.batch;
  const a = devs[0];
  const b = devs[1] as IxyDevice | undefined;
  const txBufs: PktBuf[] = new Array(batch);
  const fwdBufs: PktBuf[] = new Array(batch);
  const backBufs: PktBuf[] = new Array(batch);
  const held: PktBuf[] = []; // step mode: frames port 1 received and holds
  const stats = devs.map(() => new DeviceStats());
  const before = devs.map(() => new DeviceStats());
  let seq = 0;
  // --nic instant: frames forwarded so far. A Float64Array, not a number
  // array: at 25 Mpps a count passes 2^31 within 90 s, and an array of small
  // integers would change its elements kind then (a deoptimization).
  const counted = new Float64Array(1);
  let lastSecond = performance.now();
  let lastCpu = threadCpuNs();
  let rateStart = lastSecond;
  let rateSent = 0;
  let lastPps = start.pps;
  let sample = 0;

  const publish = (): void => {
    for (let i = 0; i < flat.length; i++) {
      indices[i] = flat[i].driverIndex();
      poolFree[i] = flat[i].pool?.freeCount ?? -1;
    }
    const now = performance.now();
    if (now - lastSecond < 1000) return;
    const seconds = (now - lastSecond) / 1000;
    const cpu = threadCpuNs();
    const cpuShare = (cpu - lastCpu) / 1e9 / seconds;
    lastCpu = cpu;
    sample++;
    if (app.instant) {
      // The instant device B sends everything queued after each batch, so B's
      // ring always has room: port 0 received what port 1 sent.
      stats[0].rxPackets = counted[0];
      stats[1].txPackets = counted[0];
    }
    devs.forEach((dev, p) => {
      if (!app.instant) dev.readStats(stats[p]);
      const s = stats[p], o = before[p], w = p * RATE_WORDS;
      rates[w + RATE.RX_PPS] = (s.rxPackets - o.rxPackets) / seconds;
      rates[w + RATE.TX_PPS] = (s.txPackets - o.txPackets) / seconds;
      rates[w + RATE.DROPS] = (s.rxMissed + s.rxErrors - o.rxMissed - o.rxErrors) / seconds;
      rates[w + RATE.CPU] = cpuShare;
      rates[w + RATE.SAMPLE] = sample;
      o.copyFrom(s);
    });
    lastSecond = now;
  };

  /** Sends up to `max` generated frames from port 0; returns how many. */
  const generate = (max: number): number => {
    const n = gen.allocBatch(txBufs, max);
    for (let k = 0; k < n; k++) template.stamp(txBufs[k].data, seq + k);
    const sent = a.txBatch(0, txBufs, n);
    for (let k = sent; k < n; k++) gen.free(txBufs[k]);
    seq += sent;
    return sent;
  };
  const drain = (dev: IxyDevice, bufs: PktBuf[]): number => {
    const r = dev.rxBatch(0, bufs, batch);
    for (let k = 0; k < r; k++) bufs[k].pool.free(bufs[k]);
    return r;
  };
  const forward = (bufs: PktBuf[], n: number): number => {
    const f = b!.txBatch(0, bufs, n);
    for (let k = f; k < n; k++) bufs[k].pool.free(bufs[k]);
    return f;
  };
  /** Waits until the device has done its part (the model: settle; real NIC: a moment). */
  const settle = (): void => {
    if (sim) sim.settle();
    else Atomics.wait(ctrl, CTRL.STOP, 0, 20);
  };

  const doStep = (id: string): number => {
    switch (id) {
      case "send":
        return generate(1);
      case "receive": {
        if (!b) return drain(a, backBufs);
        const r = b.rxBatch(0, fwdBufs, batch);
        for (let k = 0; k < r; k++) held.push(fwdBufs[k]);
        return r;
      }
      case "forward": {
        const n = held.length;
        for (let k = 0; k < n; k++) fwdBufs[k] = held[k];
        held.length = 0;
        return b ? forward(fwdBufs, n) : 0;
      }
      case "receive-back":
        return drain(a, backBufs);
    }
    return 0;
  };

  const paused = (): void => {
    // Finish the frames in flight, so that each step starts from quiet rings.
    for (let k = 0; k < 1000; k++) {
      settle();
      let moved = drain(a, backBufs);
      if (b) {
        const r = b.rxBatch(0, fwdBufs, batch);
        if (r > 0) moved += forward(fwdBufs, r);
      }
      if (moved === 0) break;
    }
    publish();
    Atomics.store(ctrl, CTRL.PAUSED, 1);
    let done = Atomics.load(ctrl, CTRL.STEP_SEQ);
    Atomics.store(ctrl, CTRL.STEP_DONE, done);
    while (Atomics.load(ctrl, CTRL.PAUSE) === 1 && Atomics.load(ctrl, CTRL.STOP) === 0) {
      Atomics.wait(ctrl, CTRL.STEP_SEQ, done, 200);
      const want = Atomics.load(ctrl, CTRL.STEP_SEQ);
      if (want === done) {
        publish();
        continue;
      }
      const step = steps[Atomics.load(ctrl, CTRL.STEP)];
      Atomics.store(ctrl, CTRL.STEP_RESULT, step ? doStep(step) : 0);
      settle();
      publish();
      done = want;
      Atomics.store(ctrl, CTRL.STEP_DONE, done);
      Atomics.notify(ctrl, CTRL.STEP_DONE);
    }
    // Frames held between steps go back to their pool.
    for (const buf of held) buf.pool.free(buf);
    held.length = 0;
    Atomics.store(ctrl, CTRL.PAUSED, 0);
    rateStart = performance.now();
    rateSent = 0;
  };

  if (app.instant) forwardInstant(app, batch, ctrl, counted, publish);
  let pps = start.pps;
  for (let i = 0; !app.instant; i++) {
    if ((i & 63) === 0) {
      if (Atomics.load(ctrl, CTRL.STOP) !== 0) break;
      if (Atomics.load(ctrl, CTRL.PAUSE) !== 0) paused();
      if ((i & (PUBLISH_EVERY - 1)) === 0) publish();
      pps = Atomics.load(ctrl, CTRL.RATE);
      if (pps !== lastPps) {
        lastPps = pps;
        rateStart = performance.now();
        rateSent = 0;
      }
    }
    if (pps === 0) {
      generate(batch);
    } else {
      // Slow motion for a lecture: send what the rate allows so far.
      const allowed = Math.floor((performance.now() - rateStart) * pps / 1000) - rateSent;
      if (allowed > 0) rateSent += generate(Math.min(allowed, batch));
      else Atomics.wait(ctrl, CTRL.STOP, 0, 1);
    }
    if (b) {
      const r = b.rxBatch(0, fwdBufs, batch);
      if (r > 0) forward(fwdBufs, r);
    }
    drain(a, backBufs);
  }
  for (const dev of devs) dev.close();
  sim?.stop();
  self.postMessage({ type: "stopped" });
}

/**
 * `--nic instant`: the forwarding benchmark's own step (tools/devices/
 * forward.ts `fwdScenario`: the instant device fills port 0's ring,
 * tools/fwd.ts's `forward()` moves the batch to port 1, the instant device
 * sends it at once), {@link PUBLISH_EVERY} steps at a time, then the control
 * words and `publish()`. Paused, it only waits (bench:view measures the same
 * step without the viewer then). No step mode here: the device answers inside
 * the loop.
 *
 * Its own small function, and the benchmark's own step, not a loop inside
 * `run()`: so that bench:view compares the very same code with and without
 * the viewer, and V8 optimizes it as it does the benchmark's. As a loop in
 * the middle of the big async `run()` it was compiled on-stack (OSR) with
 * everything around it and thrown out again (--trace-deopt) at the first
 * pause and at the first once-a-second publish. It forwarded 7–23 % fewer
 * frames per CPU-second than the same step without the viewer; now the two
 * are within 3.3 % (medians per round, docs/performance.md section 6).
 */
function forwardInstant(
  app: App,
  batch: number,
  ctrl: Int32Array,
  counted: Float64Array,
  publish: () => void,
): void {
  const [devA, devB] = app.instant!;
  const { step } = fwdScenario(
    { drv: app.devs[0], dev: devA },
    { drv: app.devs[1], dev: devB },
    batch,
  );
  for (;;) {
    if (Atomics.load(ctrl, CTRL.STOP) !== 0) return;
    if (Atomics.load(ctrl, CTRL.PAUSE) !== 0) {
      Atomics.store(ctrl, CTRL.PAUSED, 1);
      while (Atomics.load(ctrl, CTRL.PAUSE) !== 0 && Atomics.load(ctrl, CTRL.STOP) === 0) {
        Atomics.wait(ctrl, CTRL.PAUSE, 1, 100);
      }
      Atomics.store(ctrl, CTRL.PAUSED, 0);
    }
    let n = 0;
    for (let k = 0; k < PUBLISH_EVERY; k++) n += step();
    counted[0] += n;
    publish();
  }
}

self.onmessage = (e: MessageEvent<AppStart>): void => {
  run(e.data).catch((err) => {
    self.postMessage({ type: "error", message: err instanceof Error ? err.message : String(err) });
  }).finally(() => self.close());
};
