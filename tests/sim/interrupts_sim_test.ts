/**
 * Receive interrupts on the software 82599 (tools/sim82599/interrupts.ts):
 * the ixgbe driver's MSI-X setup (drivers/ixgbe/interrupts.ts), the model's
 * causes / masking / auto-clear / throttling (82599 datasheet 7.3), and
 * ixy's poll-or-sleep policy (src/interrupts.ts): an idle receive loop that
 * uses almost no CPU and loses nothing across sleep and wake.
 */

import assert from "node:assert/strict";
import { createSim82599, type Sim82599, type SimPort } from "../../tools/sim82599/mod.ts";
import { IxgbeDevice, type IxgbeOptions } from "../../drivers/ixgbe/ixgbe.ts";
import { eitrForRate } from "../../drivers/ixgbe/interrupts.ts";
import {
  IXGBE_EIAC,
  IXGBE_EICR,
  IXGBE_EIMC,
  IXGBE_EIMS,
  IXGBE_GPIE,
  IXGBE_IVAR,
} from "../../drivers/ixgbe/constants.ts";
import { Mempool, type PktBuf } from "../../src/mempool.ts";
import { RxInterruptPolicy } from "../../src/interrupts.ts";
import { threadCpuNs } from "../../tools/lib/clock.ts";
import { FrameTemplate, SequenceChecker } from "../../tools/lib/udp_frame.ts";

function attach(port: SimPort, options: IxgbeOptions = {}): IxgbeDevice {
  return IxgbeDevice.attach(port.regs, port.dma, { ...options, name: port.name });
}

/** A started pair: A sends (polling), B receives with interrupts at `rate` per second. */
async function pair(rate: number): Promise<{
  sim: Sim82599;
  a: IxgbeDevice;
  b: IxgbeDevice;
  pool: Mempool;
  template: FrameTemplate;
}> {
  const sim = await createSim82599({ ports: 2, wiring: "cable" });
  try {
    const [pa, pb] = sim.ports;
    const a = attach(pa);
    const b = attach(pb, { interrupts: true, interruptVectors: pb.msix, interruptRate: rate });
    const pool = Mempool.create(pa.dma, { numEntries: 2048 });
    const template = new FrameTemplate({ srcMac: pa.mac, dstMac: pb.mac });
    return { sim, a, b, pool, template };
  } catch (e) {
    sim.stop();
    throw e;
  }
}

/** Sends frames `first..first+count-1` from `a` (retrying while the TX ring is full). */
function send(
  tx: { a: IxgbeDevice; pool: Mempool; template: FrameTemplate },
  range: { first: number; count: number },
): void {
  const bufs: PktBuf[] = new Array(32);
  const size = tx.template.bytes.length;
  for (let seq = range.first; seq < range.first + range.count;) {
    const n = tx.pool.allocBatch(bufs, Math.min(32, range.first + range.count - seq));
    for (let i = 0; i < n; i++) {
      bufs[i].data.set(tx.template.bytes);
      tx.template.stamp(bufs[i].data, seq + i);
      bufs[i].size = size;
    }
    const sent = tx.a.txBatch(0, bufs, n);
    for (let i = sent; i < n; i++) tx.pool.free(bufs[i]);
    seq += sent;
  }
}

/** Receives what is there; returns how many. */
function drain(dev: IxgbeDevice, checker?: SequenceChecker): number {
  const bufs: PktBuf[] = new Array(64);
  let got = 0;
  for (;;) {
    const n = dev.rxBatch(0, bufs, 64);
    if (n === 0) return got;
    for (let i = 0; i < n; i++) {
      checker?.add(bufs[i].data.subarray(0, bufs[i].size));
      bufs[i].pool.free(bufs[i]);
    }
    got += n;
  }
}

Deno.test("sim82599 interrupts: setup, causes, masking, auto-clear (7.3)", async (t) => {
  const { sim, a, b, pool, template } = await pair(0);
  const regs = sim.ports[1].regs;
  const vector = sim.ports[1].msix[0];
  const tx = { a, pool, template };
  let seq = 0;
  const frames = (n: number): void => {
    send(tx, { first: seq, count: n });
    seq += n;
    sim.settle();
  };
  try {
    await t.step("the driver programmed GPIE, IVAR, EIAC; everything still masked", () => {
      assert.ok(b.interrupts);
      assert.equal(regs.read32(IXGBE_GPIE) & 0x10, 0x10, "GPIE.Multiple_MSIX");
      assert.equal(regs.read32(IXGBE_IVAR(0)) & 0xff, 0x80, "RX queue 0 -> vector 0, valid");
      assert.equal(regs.read32(IXGBE_EIAC) & 1, 1, "EIAC auto-clears queue cause 0");
      assert.equal(regs.read32(IXGBE_EIMS), 0);
      assert.deepEqual(sim.violations(), []);
    });

    await t.step("masked: frames set the cause in EICR but send no interrupt", () => {
      frames(10);
      assert.equal(vector.total, 0);
      assert.equal(regs.read32(IXGBE_EICR) & 1, 1, "cause latched (EICR read clears it)");
      assert.equal(drain(b), 10);
    });

    await t.step("unmasked: one frame, one interrupt; wait() sees it", async () => {
      b.interrupts!.enable(0);
      frames(1);
      assert.equal(vector.total, 1);
      assert.equal(await b.interrupts!.wait(0, 1000), true);
      assert.equal(b.interrupts!.count, 1);
      assert.equal(drain(b), 1);
    });

    await t.step("auto-clear (EIAC): the cause is gone, the next frame interrupts again", () => {
      assert.equal(regs.read32(IXGBE_EICR) & 1, 0);
      frames(1);
      assert.equal(vector.total, 2);
      drain(b);
    });

    await t.step("masked again (EIMC): no interrupt", async () => {
      b.interrupts!.disable(0);
      frames(5);
      assert.equal(vector.total, 2);
      assert.equal(await b.interrupts!.wait(0, 20), true, "the one from the last step");
      assert.equal(await b.interrupts!.wait(0, 20), false, "nothing new: timeout");
      drain(b);
    });

    await t.step("unmasking a latched cause interrupts at once", () => {
      regs.read32(IXGBE_EICR); // clear
      frames(1); // masked: latched only
      assert.equal(vector.total, 2);
      regs.write32(IXGBE_EIMS, 1);
      regs.read32(IXGBE_EIMS); // flush
      assert.equal(vector.total, 3);
      drain(b);
    });

    await t.step("without auto-clear: one interrupt until software clears EICR", () => {
      regs.write32(IXGBE_EIAC, 0);
      regs.read32(IXGBE_EICR);
      frames(1);
      assert.equal(vector.total, 4);
      frames(3);
      assert.equal(vector.total, 4, "cause still set: no new message");
      assert.equal(regs.read32(IXGBE_EICR) & 1, 1);
      frames(1);
      assert.equal(vector.total, 5, "cleared by the read: interrupts again");
      regs.write32(IXGBE_EIMC, 1);
      regs.write32(IXGBE_EIAC, 1);
      drain(b);
      assert.deepEqual(sim.violations(), []);
    });

    await t.step("violations: unmasking an unmapped cause, or without MSI-X mode", () => {
      regs.write32(IXGBE_EIMS, 1 << 5); // no IVAR entry maps to vector 5
      regs.write32(IXGBE_EIMC, 1 << 5);
      regs.write32(IXGBE_GPIE, 0);
      regs.write32(IXGBE_EIMS, 1);
      regs.write32(IXGBE_EIMC, 1);
      const v = sim.violations();
      assert.equal(v.length, 2, JSON.stringify(v));
      assert.equal(v[0].register, "EIMS");
      assert.match(v[0].message, /no valid IVAR entry/);
      assert.equal(v[0].section, "7.3.4");
      assert.match(v[1].message, /Multiple_MSIX/);
    });
  } finally {
    sim.stop();
  }
});

/** Keeps B's interrupt unmasked while A sends for `ms`; returns [interrupts, frames]. */
async function interruptsUnderLoad(rate: number, ms: number): Promise<[number, number]> {
  const { sim, a, b, pool, template } = await pair(rate);
  try {
    const vector = sim.ports[1].msix[0];
    b.interrupts!.enable(0);
    const before = vector.total;
    let got = 0;
    const end = performance.now() + ms;
    for (let seq = 0; performance.now() < end; seq += 8) {
      send({ a, pool, template }, { first: seq, count: 8 });
      got += drain(b);
    }
    const n = vector.total - before;
    assert.deepEqual(sim.violations(), []);
    return [n, got];
  } finally {
    sim.stop();
  }
}

Deno.test("sim82599 interrupts: EITR throttling limits the rate (7.3.2.1)", async (t) => {
  const MS = 400;
  await t.step("eitrForRate: ixy's values", () => {
    assert.equal(eitrForRate(100_000), 0x028);
    assert.equal(eitrForRate(20_000), 0x0c0);
    assert.equal(eitrForRate(0), 0);
    assert.equal(eitrForRate(1), 0xff8);
  });
  const [throttled, framesT] = await interruptsUnderLoad(1000, MS);
  const [free, framesF] = await interruptsUnderLoad(0, MS);
  console.log(
    `  EITR 1000/s: ${throttled} interrupts for ${framesT} frames in ${MS} ms; ` +
      `unthrottled: ${free} for ${framesF}`,
  );
  await t.step("at 1000/s: at most one per ~1 ms", () => {
    assert.ok(throttled >= 1, "no interrupt at all");
    assert.ok(throttled <= MS * 1.05 + 5, `${throttled} interrupts in ${MS} ms`);
    assert.ok(framesT > throttled * 2, `${framesT} frames, ${throttled} interrupts`);
  });
  await t.step("unthrottled: many more", () => {
    assert.ok(free > 2 * throttled, `unthrottled ${free} vs throttled ${throttled}`);
  });
});

Deno.test("sim82599 interrupts: an idle receive loop sleeps (CPU time)", async (t) => {
  const { sim, b } = await pair(100_000);
  try {
    const bufs: PktBuf[] = new Array(32);
    /**
     * Runs a receive loop for `ms`; returns CPU seconds per wall second of this
     * thread, the loop's: `deno test --parallel` runs other test files as
     * threads of this process, so the process's CPU time counted theirs too (a
     * 70% "idle" loop beside three busy files).
     */
    const run = async (ms: number, sleep: boolean): Promise<number> => {
      const policy = new RxInterruptPolicy(b, 0, { timeoutMs: 100 });
      const cpu0 = threadCpuNs();
      const t0 = performance.now();
      while (performance.now() - t0 < ms) {
        const n = b.rxBatch(0, bufs, 32);
        for (let i = 0; i < n; i++) bufs[i].pool.free(bufs[i]);
        if (sleep && policy.onPoll(n)) await policy.sleep(); // else: pure polling
      }
      policy.stop();
      return (threadCpuNs() - cpu0) / 1e6 / (performance.now() - t0);
    };
    const polling = await run(1000, false);
    const sleeping = await run(1500, true);
    const load = Deno.loadavg()[0].toFixed(2);
    console.log(
      `  idle receive loop CPU: polling ${(polling * 100).toFixed(1)}%, with interrupts ` +
        `${
          (sleeping * 100).toFixed(1)
        }% (load average ${load}, ${navigator.hardwareConcurrency} CPUs)`,
    );
    await t.step("with interrupts: well below polling (< 20% of a core)", () => {
      assert.ok(sleeping < 0.2, `${(sleeping * 100).toFixed(1)}% CPU while idle`);
    });
    assert.deepEqual(sim.violations(), []);
  } finally {
    sim.stop();
  }
});

Deno.test("sim82599 interrupts: nothing is lost across sleep and wake", async () => {
  const { sim, a, b, pool, template } = await pair(100_000);
  try {
    // Bursts of 1..200 frames with 2..20 ms pauses (a fixed pseudo-random pattern).
    let x = 12345;
    const rand = (n: number): number => {
      x = (x * 1103515245 + 12345) % 2147483648;
      return 1 + (x % n);
    };
    const bursts = Array.from({ length: 40 }, () => ({ size: rand(200), pause: 1 + rand(20) }));
    const total = bursts.reduce((s, b) => s + b.size, 0);
    const checker = new SequenceChecker(total, template);
    const policy = new RxInterruptPolicy(b, 0, { emptyPolls: 16, timeoutMs: 50 });

    let sending = true;
    const sender = (async () => {
      let seq = 0;
      for (const burst of bursts) {
        send({ a, pool, template }, { first: seq, count: burst.size });
        seq += burst.size;
        await new Promise((r) => setTimeout(r, burst.pause));
      }
      sending = false;
    })();

    const bufs: PktBuf[] = new Array(32);
    const deadline = performance.now() + 20_000;
    while ((sending || checker.good < total) && performance.now() < deadline) {
      const n = b.rxBatch(0, bufs, 32);
      for (let i = 0; i < n; i++) {
        checker.add(bufs[i].data.subarray(0, bufs[i].size));
        bufs[i].pool.free(bufs[i]);
      }
      if (policy.onPoll(n)) await policy.sleep();
    }
    await sender;
    policy.stop();
    console.log(
      `  ${total} frames in ${bursts.length} bursts: ${policy.sleeps} sleeps, ` +
        `${policy.wakeups} woken by an interrupt, ${policy.timeouts} timeouts, ` +
        `${b.interrupts!.count} interrupts`,
    );
    assert.equal(checker.good, total, checker.summary());
    assert.equal(checker.distinct, total, checker.summary());
    assert.equal(checker.mismatched + checker.bad + checker.duplicates, 0, checker.summary());
    assert.ok(policy.wakeups >= bursts.length / 2, `only ${policy.wakeups} interrupt wake-ups`);
    assert.ok(b.interrupts!.count >= policy.wakeups);
    assert.deepEqual(sim.violations(), []);
  } finally {
    sim.stop();
  }
});
