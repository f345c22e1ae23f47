import assert from "node:assert/strict";
import { DEFAULTS, parseCliArgs, resolveVmOptions } from "../../tools/vm/options.ts";
import { EXIT_USAGE, VmError } from "../../tools/vm/errors.ts";

/** Asserts that `fn` throws a usage error (exit code 2) whose message matches `pattern`. */
function assertUsage(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VmError, `expected a VmError, got ${e}`);
    assert.equal(e.exitCode, EXIT_USAGE);
    assert.match(e.message, pattern);
    assert.match(e.message, /deno task vm --help/);
    return true;
  });
}

Deno.test("parseCliArgs: the command is everything after --", () => {
  const request = parseCliArgs(["--cpus", "3", "--", "uname", "-r;", "exit 3"]);
  assert.equal(request.kind, "run");
  if (request.kind !== "run") return;
  assert.equal(request.command, "uname -r; exit 3");
  assert.equal(request.options.cpus, 3);
  assert.equal(request.options.memoryMiB, undefined); // default applied later
});

Deno.test("parseCliArgs: options after -- belong to the command", () => {
  const request = parseCliArgs(["--", "ls", "--verbose"]);
  assert.equal(request.kind, "run");
  if (request.kind !== "run") return;
  assert.equal(request.command, "ls --verbose");
  assert.equal(request.options.verbose, false);
});

Deno.test("parseCliArgs: without --, the positionals are the command", () => {
  const request = parseCliArgs(["--verbose", "uname -r"]);
  assert.deepEqual(request.kind === "run" && [request.command, request.options.verbose], [
    "uname -r",
    true,
  ]);
});

Deno.test("parseCliArgs: all options", () => {
  const request = parseCliArgs([
    "--cpus=1",
    "--memory",
    "2048",
    "--hugepages",
    "512",
    "--nics",
    "4",
    "--hubs",
    "0,0,1,1",
    "--timeout",
    "1.5",
    "--env",
    "A=1",
    "--env",
    "B=x=y",
    "--",
    "true",
  ]);
  assert.equal(request.kind, "run");
  if (request.kind !== "run") return;
  const o = request.options;
  assert.deepEqual(
    [o.cpus, o.memoryMiB, o.hugepages, o.nics, o.hubs, o.timeoutSeconds],
    [1, 2048, 512, 4, [0, 0, 1, 1], 1.5],
  );
  assert.deepEqual(o.env, { A: "1", B: "x=y" });
});

Deno.test("parseCliArgs: udp back end with a port", () => {
  const request = parseCliArgs(["--nic-backend", "udp", "--udp-port", "40000", "--", "true"]);
  assert.ok(request.kind === "run");
  assert.equal(request.options.nicBackend, "udp");
  assert.equal(request.options.udpBasePort, 40000);
});

Deno.test("parseCliArgs: help and setup", () => {
  assert.deepEqual(parseCliArgs(["--help"]), { kind: "help" });
  assert.deepEqual(parseCliArgs(["-h", "--", "x"]), { kind: "help" });
  assert.deepEqual(parseCliArgs(["--setup"]), { kind: "setup", verbose: false });
});

Deno.test("parseCliArgs: bad options are usage errors", () => {
  assertUsage(() => parseCliArgs(["--bogus", "--", "true"]), /Unknown option '--bogus'/);
  assertUsage(() => parseCliArgs(["--cpus", "two", "--", "true"]), /--cpus must be a whole number/);
  assertUsage(() => parseCliArgs(["--cpus", "-1", "--", "true"]), /--cpus/);
  assertUsage(() => parseCliArgs(["--cpus"]), /--cpus/);
  assertUsage(() => parseCliArgs([]), /no command given/);
  assertUsage(() => parseCliArgs(["--", "  "]), /no command given/);
  assertUsage(() => parseCliArgs(["--nic-backend", "tap", "--", "x"]), /"hub" or "udp"/);
  assertUsage(() => parseCliArgs(["--env", "NOEQUALS", "--", "x"]), /KEY=VALUE/);
  assertUsage(() => parseCliArgs(["--timeout", "0", "--", "x"]), /--timeout/);
  assertUsage(() => parseCliArgs(["--hubs", "0,x", "--", "x"]), /--hubs/);
});

Deno.test("resolveVmOptions: defaults", () => {
  const resolved = resolveVmOptions();
  assert.deepEqual(
    [
      resolved.cpus,
      resolved.memoryMiB,
      resolved.hugepages,
      resolved.nics,
      resolved.nicBackend,
      resolved.hubs,
      resolved.udpBasePort,
      resolved.timeoutSeconds,
      resolved.verbose,
    ],
    [
      DEFAULTS.cpus,
      DEFAULTS.memoryMiB,
      DEFAULTS.hugepages,
      DEFAULTS.nics,
      "hub",
      [0, 0],
      undefined,
      DEFAULTS.timeoutSeconds,
      false,
    ],
  );
  assert.deepEqual(resolveVmOptions({ nics: 3 }).hubs, [0, 0, 0]);
});

Deno.test("resolveVmOptions: checks ranges and combinations", () => {
  assertUsage(() => resolveVmOptions({ nics: 17 }), /--nics .* 0 to 16/);
  assertUsage(() => resolveVmOptions({ cpus: 0 }), /--cpus/);
  assertUsage(() => resolveVmOptions({ memoryMiB: 100 }), /--memory/);
  assertUsage(() => resolveVmOptions({ hugepages: 400 }), /raise --memory or lower --hugepages/);
  assertUsage(() => resolveVmOptions({ nics: 4, hubs: [0, 1] }), /one hub number per NIC/);
  assertUsage(
    () => resolveVmOptions({ nicBackend: "udp", hubs: [0, 0] }),
    /--hubs only applies/,
  );
  assertUsage(() => resolveVmOptions({ udpBasePort: 40000 }), /--udp-port only applies/);
  assertUsage(() => resolveVmOptions({ nicBackend: "udp", udpBasePort: 80 }), /--udp-port/);
  assertUsage(() => resolveVmOptions({ timeoutSeconds: Infinity }), /--timeout/);
  assert.equal(resolveVmOptions({ memoryMiB: 2048, hugepages: 800 }).hugepages, 800);
  assert.equal(resolveVmOptions({ hugepages: 0 }).hugepages, 0);
});

Deno.test("NIC models: parsed, counted, checked", () => {
  const request = parseCliArgs([
    "--nic-models",
    "e1000,e1000,virtio",
    "--qemu-log",
    "q.log",
    "--",
    "x",
  ]);
  assert.ok(request.kind === "run");
  assert.deepEqual(request.options.nicModels, ["e1000", "e1000", "virtio"]);
  assert.equal(request.options.qemuLog, "q.log");
  const resolved = resolveVmOptions(request.options);
  assert.equal(resolved.nics, 3);
  assert.deepEqual(resolved.nicModels, ["e1000", "e1000", "virtio"]);
  assert.deepEqual(resolveVmOptions().nicModels, ["virtio", "virtio"]);
  assertUsage(
    () => parseCliArgs(["--nic-models", "e1000,ne2k", "--", "x"]),
    /unknown model "ne2k"/,
  );
  assertUsage(
    () => resolveVmOptions({ nics: 3, nicModels: ["e1000"] }),
    /one model per NIC \(3\), got 1/,
  );
  assertUsage(
    () => resolveVmOptions({ nicModels: Array.from({ length: 11 }, () => "igb" as const) }),
    /no PCI slot left for another igb/,
  );
});
