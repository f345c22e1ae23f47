/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * The device thread of the software 82599: receives the shared memory once
 * (protocol.ts `InitMessage`), then loops like the chip does, until stopped:
 *
 * 1. consume every port's request ring in order (register writes take
 *    effect, reads and test hooks are answered),
 * 2. run timers (end of reset, link up, throttled interrupts),
 * 3. fetch and send transmit descriptors (a bounded number per queue, so
 *    register requests are never starved),
 * 4. move frames waiting in a packet buffer to receive descriptors.
 *
 * When a round did nothing, it answers pending "settle" requests and sleeps on
 * the doorbell (Atomics.wait) until the driver posts a request or a timer is
 * due — an idle model uses no CPU.
 *
 * @module
 */

import { CTRL, ENTRY_WORDS, type InitMessage, OP, RING, RING_CAPACITY } from "./protocol.ts";
import { DmaSpace, PortModel } from "./model.ts";

/** Descriptors per transmit queue per round. */
const TX_BUDGET = 64;
/** Longest sleep when nothing is due (ms); the doorbell wakes us earlier. */
const IDLE_SLEEP_MS = 100;

self.onmessage = (e: MessageEvent<InitMessage>): void => {
  const init = e.data;
  const ctrl = new Int32Array(init.ctrl);
  const log = new Uint8Array(init.log);
  const encoder = new TextEncoder();
  const dma = new DmaSpace(init.slabs, {
    use: new Int32Array(init.slabUse),
    layout: new Int32Array(init.slabLayout),
    base: init.dmaBase,
    slabSize: init.slabSize,
  });

  const ports: PortModel[] = [];
  const rings: Int32Array[] = [];
  const settles: number[] = [];
  for (const p of init.ports) {
    const name = p.name;
    const irq = new Int32Array(p.irq);
    ports.push(
      new PortModel(name, {
        mac: p.mac,
        dma,
        registerFile: p.registerFile,
        // An MSI-X message: bump the vector's word and wake a waiting driver.
        interrupt: (vector) => {
          Atomics.add(irq, vector, 1);
          Atomics.notify(irq, vector);
        },
        timing: { linkDelayMs: init.linkDelayMs, resetDelayMs: init.resetDelayMs },
        violation: (register, section, message) => {
          // Append one JSON line; count it even when the log is full.
          Atomics.add(ctrl, CTRL.VIOLATIONS, 1);
          const line = encoder.encode(
            JSON.stringify({ port: name, register, section, message }) + "\n",
          );
          const used = Atomics.load(ctrl, CTRL.LOG_BYTES);
          if (used + line.length <= log.length) {
            log.set(line, used);
            Atomics.store(ctrl, CTRL.LOG_BYTES, used + line.length);
          }
        },
      }),
    );
    rings.push(new Int32Array(p.ring));
    settles.push(0);
  }
  if (init.wiring === "cable") {
    // Cables between pairs of ports: 0-1, 2-3, ...
    for (let i = 0; i + 1 < ports.length; i += 2) {
      ports[i].peer = ports[i + 1];
      ports[i + 1].peer = ports[i];
    }
  } else if (init.wiring === "loopback") {
    for (const p of ports) p.peer = p;
  }

  const reply = (ring: Int32Array, seq: number, value: number): void => {
    Atomics.store(ring, RING.REPLY_VALUE, value | 0);
    Atomics.store(ring, RING.REPLY_SEQ, seq);
    Atomics.notify(ring, RING.REPLY_SEQ);
  };

  /** Consumes port i's request ring; returns how many requests it took. */
  const consume = (i: number): number => {
    const ring = rings[i];
    const port = ports[i];
    const head = Atomics.load(ring, RING.HEAD);
    let tail = Atomics.load(ring, RING.TAIL);
    let n = 0;
    while (tail !== head) {
      const e = RING.ENTRIES + (tail & (RING_CAPACITY - 1)) * ENTRY_WORDS;
      const op = ring[e];
      const a = ring[e + 1] >>> 0;
      const b = ring[e + 2] >>> 0;
      const seq = ring[e + 3];
      const time = ring[e + 4];
      if (op === OP.WRITE) port.write(a, b, time);
      else if (op === OP.READ) reply(ring, seq, port.read(a, time));
      else if (op === OP.INJECT_RX) {
        const ok = port.injectRxDescriptor(a, { length: b & 0xffff, eop: (b & 0x10000) !== 0 });
        reply(ring, seq, ok ? 1 : 0);
      } else if (op === OP.SETTLE) settles[i] = seq;
      else if (op === OP.SYNC) reply(ring, seq, 0);
      tail = (tail + 1) | 0;
      n++;
    }
    if (n > 0) {
      Atomics.store(ring, RING.TAIL, tail);
      Atomics.notify(ring, RING.TAIL);
    }
    return n;
  };

  postMessage("ready");
  while (Atomics.load(ctrl, CTRL.STOP) === 0) {
    const bell = Atomics.load(ctrl, CTRL.DOORBELL);
    let work = 0;
    for (let i = 0; i < ports.length; i++) work += consume(i);
    const now = performance.now();
    for (const p of ports) work += p.tick(now);
    for (const p of ports) work += p.transmit(TX_BUDGET);
    for (const p of ports) work += p.receive();
    if (work > 0) continue;
    let wait = IDLE_SLEEP_MS;
    let timers = false;
    for (const p of ports) {
      if (p.timerPending) {
        timers = true;
        wait = Math.min(wait, p.nextTimer(now));
      }
    }
    if (!timers) {
      // Idle: every earlier request has taken full effect.
      for (let i = 0; i < ports.length; i++) {
        if (settles[i] !== 0) {
          reply(rings[i], settles[i], 0);
          settles[i] = 0;
        }
      }
    }
    if (wait > 0) Atomics.wait(ctrl, CTRL.DOORBELL, bell, wait);
  }
  self.close();
};
