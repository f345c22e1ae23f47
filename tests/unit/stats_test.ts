import assert from "node:assert/strict";
import { DeviceStats, diffMbit, diffMpps, formatStatsDiff } from "../../src/stats.ts";

Deno.test("statistics as ixy prints them", () => {
  const before = new DeviceStats();
  const now = new DeviceStats();
  now.txPackets = 1_000_000;
  now.txBytes = 60_000_000;
  // 1 Mpps of 60-byte frames: 60 + 20 bytes of framing = 640 Mbit/s.
  assert.equal(diffMpps(now.txPackets, before.txPackets, 1e9), 1);
  assert.equal(diffMbit({ now: 60e6, before: 0 }, { now: 1e6, before: 0 }, 1e9), 640);
  const text = formatStatsDiff("0000:00:10.0", { now, before }, 2e9);
  assert.equal(
    text,
    "[0000:00:10.0] RX: 0.00 Mbit/s 0.00 Mpps\n[0000:00:10.0] TX: 320.00 Mbit/s 0.50 Mpps",
  );
  const copy = new DeviceStats();
  copy.copyFrom(now);
  assert.deepEqual(copy, now);
});

Deno.test("statistics show write-backs the driver ignored (deviceErrors)", () => {
  const before = new DeviceStats();
  const now = new DeviceStats();
  now.deviceErrors = 3;
  const text = formatStatsDiff("lying", { now, before }, 1e9);
  assert.match(text, /\[lying\] device errors \(bad write-backs ignored\): 3$/);
  const copy = new DeviceStats();
  copy.copyFrom(now);
  assert.equal(copy.deviceErrors, 3);
});
