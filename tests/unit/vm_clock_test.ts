import assert from "node:assert/strict";
import {
  CLOCK_SLACK_SECONDS,
  guestClockError,
  guestClockSkew,
  MAX_CLOCK_RATIO,
} from "../../tools/vm/guest_clock.ts";
import { VmError } from "../../tools/vm/errors.ts";
import { parseUptime } from "../../tools/vm/run_dir.ts";

Deno.test("guestClockSkew: a guest clock that keeps the host's pace is fine", () => {
  // What the lab VM measured: boots of 4-8 s host time with the guest
  // counting a little less (QEMU's own start is not guest uptime), commands
  // within a few percent.
  for (
    const [host, guest] of [[6.0, 4.9], [8.2, 7.6], [30, 29.8], [600, 601], [0.2, 0.1], [0, 0]]
  ) {
    assert.equal(guestClockSkew(host, guest), undefined, `host ${host} s, guest ${guest} s`);
  }
});

Deno.test("guestClockSkew: the 43× fast clock once seen is caught, and a slow one", () => {
  // The incident: guest uptime 11787 s in 272 s of host time.
  const fast = guestClockSkew(272, 11787);
  assert.equal(fast?.direction, "fast");
  assert.ok(Math.abs(fast.ratio - 11787 / 272) < 1e-9);
  // During boot: 5 s on the host, the guest believes 225 s passed.
  assert.equal(guestClockSkew(5, 225)?.direction, "fast");
  // A clock that crawls (e.g. ticks lost under load): 60 s host, 6 s guest.
  const slow = guestClockSkew(60, 6);
  assert.equal(slow?.direction, "slow");
  assert.equal(slow.ratio, 10);
});

Deno.test("guestClockSkew: the bound is MAX_CLOCK_RATIO plus a slack for short intervals", () => {
  const host = 100;
  const edge = MAX_CLOCK_RATIO * host + CLOCK_SLACK_SECONDS;
  assert.equal(guestClockSkew(host, edge), undefined);
  assert.equal(guestClockSkew(host, edge + 0.01)?.direction, "fast");
  const slowEdge = (host - CLOCK_SLACK_SECONDS) / MAX_CLOCK_RATIO;
  assert.equal(guestClockSkew(host, slowEdge), undefined);
  assert.equal(guestClockSkew(host, slowEdge - 0.01)?.direction, "slow");
  // Short intervals: jitter of the 50 ms poll and of a busy host is no skew.
  assert.equal(guestClockSkew(0.05, 1.0), undefined);
  assert.equal(guestClockSkew(1.5, 0.0), undefined);
});

Deno.test("guestClockSkew: nonsense input is no verdict", () => {
  for (const [host, guest] of [[NaN, 5], [5, NaN], [-1, 5], [5, -1], [Infinity, 1]]) {
    assert.equal(guestClockSkew(host, guest), undefined, `host ${host}, guest ${guest}`);
  }
});

Deno.test("guestClockError: a VmError that says what happened and what to do", () => {
  assert.equal(guestClockError("boot", { min: 0, max: 6 }, 5), undefined);
  const error = guestClockError("boot", { min: 0, max: 5 }, 225);
  assert.ok(error instanceof VmError);
  assert.equal(error.exitCode, 125);
  assert.match(error.message, /45× faster than the host's/);
  assert.match(error.message, /225\.0 s while at most 5\.0 s/);
  assert.match(error.message, /while the guest booted/);
  assert.match(error.message, /Run it again/);
  assert.match(error.message, /--verbose/);
  // A boot that counted little is QEMU's and the firmware's time, not a slow clock.
  assert.equal(guestClockError("boot", { min: 0, max: 60 }, 6), undefined);
  const slow = guestClockError("command", { min: 60, max: 60.1 }, 6, 0);
  assert.match(slow?.message ?? "", /10× slower than the host's/);
  assert.match(slow?.message ?? "", /at least 60\.0 s/);
  assert.match(slow?.message ?? "", /while the command ran/);
  assert.match(slow?.message ?? "", /exited with 0/);
});

Deno.test("guestClockError: a host that saw a file late is no verdict either way", () => {
  // The host's poll ran 3 s late when "started" appeared: a 1 s command is
  // known only as 0-4 s long on the host. A guest that counted 1 s is fine
  // (judged on 4 s it is not fast, on 0 s it is not slow)...
  assert.equal(guestClockError("command", { min: 0, max: 4 }, 1, 0), undefined);
  // ...and so is a 20 s command whose end the host saw 5 s late.
  assert.equal(guestClockError("command", { min: 19.9, max: 25 }, 20, 0), undefined);
  // A clock 43× fast is caught whatever the bracket.
  assert.match(guestClockError("command", { min: 0, max: 4 }, 172, 0)?.message ?? "", /faster/);
});

Deno.test("parseUptime: the first field of /proc/uptime, none from a half-written file", () => {
  assert.equal(parseUptime("4.93 6.20\n"), 4.93);
  assert.equal(parseUptime("11787.00 20012.51"), 11787);
  for (const partial of [undefined, "", "4.9", "4.93"]) {
    assert.equal(parseUptime(partial), undefined);
  }
});
