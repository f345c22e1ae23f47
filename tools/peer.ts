/**
 * peer: the *kernel's* side of a test — sends or receives our test frames on
 * a Linux network interface through an AF_PACKET socket (packet(7)).
 *
 * In the lab VM one NIC is ours and another belongs to the kernel's own
 * virtio_net driver; this tool speaks for the kernel's NIC, so what it sees
 * went through a driver we did not write.
 *
 *     deno task peer recv eth1 --count 1000      # check frames from pktgen
 *     deno task peer send eth1 --count 1000      # frames for our rxBatch
 *
 * It prints one JSON line at the end with what it counted.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { cString, LIBC, libc } from "../src/ffi.ts";
import { IxyError, sysError } from "../src/error.ts";
import { runApp } from "./lib/app.ts";
import {
  FrameTemplate,
  MAX_FLOWS,
  MIN_FRAME_SIZE,
  parseMac,
  SequenceChecker,
} from "./lib/udp_frame.ts";
import { intOption } from "./lib/cli.ts";
import { sleepMicros } from "../src/mmio.ts";

const HELP = `Usage: deno task peer <recv|send> <interface> [options]

recv: receives frames on a kernel interface and checks our test frames
      (count, sequence numbers in range, duplicates, corruption).
send: sends --count test frames with sequence numbers 0..count-1.
Brings the interface up. Needs root (AF_PACKET socket). Prints a JSON summary.

Options:
  --count N      frames to send, or to expect (default 1000)
  --size N       frame size for send (default 60)
  --timeout S    recv: give up S seconds after the last frame (default 5)
  --dst-mac MAC  send: destination MAC (default broadcast)
  --flows N      send: spread the frames over N UDP flows, source ports
                 42 .. 42+N-1 (frame seq in flow seq mod N; default 1)
  --ready-file F recv: create file F once the socket listens (for scripts)
  -h, --help     show this help`;

/** htons(ETH_P_ALL): every protocol, in network byte order. */
const ETH_P_ALL_BE = ((LIBC.ETH_P_ALL & 0xff) << 8) | (LIBC.ETH_P_ALL >> 8);

/**
 * Opens an AF_PACKET socket bound to `ifname` (brought up first); returns its
 * file descriptor. Also used by the lab 7 checker (tools/lab/lab7_guest.ts).
 */
export function openPacketSocket(ifname: string): number {
  if (!/^[\w.-]{1,15}$/.test(ifname)) throw new IxyError(`Malformed interface name "${ifname}".`);
  const ifindex = libc().if_nametoindex(cString(ifname));
  if (ifindex === 0) {
    throw new IxyError(`No network interface "${ifname}". List them with: ip link`);
  }
  const up = new Deno.Command("ip", { args: ["link", "set", ifname, "up"] }).outputSync();
  if (!up.success) {
    throw new IxyError(`Cannot bring ${ifname} up: ${new TextDecoder().decode(up.stderr)}`);
  }
  const fd = libc().socket(LIBC.AF_PACKET, LIBC.SOCK_RAW, ETH_P_ALL_BE);
  if (fd < 0) throw sysError("Cannot open an AF_PACKET socket", "Run as root (sudo).");
  // struct sockaddr_ll: family u16, protocol u16 (BE), ifindex i32, then
  // hatype, pkttype, halen, addr[8] which bind ignores.
  const sll = new Uint8Array(20);
  const v = new DataView(sll.buffer);
  v.setUint16(0, LIBC.AF_PACKET, true);
  v.setUint16(2, ETH_P_ALL_BE, true);
  v.setInt32(4, ifindex, true);
  if (libc().bind(fd, sll, sll.length) !== 0) throw sysError(`Cannot bind to ${ifname}`);
  // A big receive buffer (4 MiB) so a burst is not dropped while we check frames.
  const size = new Int32Array([4 << 20]);
  libc().setsockopt(fd, LIBC.SOL_SOCKET, LIBC.SO_RCVBUFFORCE, size, 4);
  // recv gives up after 100 ms so we can check the clock (struct timeval).
  const tv = new BigInt64Array([0n, 100_000n]);
  libc().setsockopt(fd, LIBC.SOL_SOCKET, LIBC.SO_RCVTIMEO, tv, 16);
  return fd;
}

function recv(ifname: string, count: number, options: { timeoutS: number; readyFile?: string }) {
  const fd = openPacketSocket(ifname);
  if (options.readyFile) Deno.writeTextFileSync(options.readyFile, "ready\n");
  const timeoutS = options.timeoutS;
  const checker = new SequenceChecker(count);
  const buf = new Uint8Array(2048);
  let last = performance.now();
  let frames = 0;
  while (checker.good < count && performance.now() - last < timeoutS * 1000) {
    const n = Number(libc().recv(fd, buf, 2048n, 0));
    if (n <= 0) continue; // timeout (EAGAIN): look at the clock
    frames++;
    last = performance.now();
    checker.add(buf.subarray(0, n));
  }
  libc().close(fd);
  console.log(JSON.stringify({
    interface: ifname,
    frames,
    ...checker.counts(),
  }));
}

function send(
  ifname: string,
  count: number,
  options: { size: number; dstMac?: Uint8Array; flows: number },
) {
  const fd = openPacketSocket(ifname);
  const mac = Deno.readTextFileSync(`/sys/class/net/${ifname}/address`).trim();
  const template = new FrameTemplate({
    size: options.size,
    dstMac: options.dstMac,
    srcMac: parseMac(mac),
    flows: options.flows,
  });
  const frame = template.bytes.slice();
  let sent = 0;
  for (let seq = 0; seq < count; seq++) {
    template.stamp(frame, seq);
    // A full socket queue (ENOBUFS) is retried; the kernel drains it quickly.
    for (let tries = 0; Number(libc().send(fd, frame, BigInt(frame.length), 0)) < 0; tries++) {
      if (tries > 1000) throw sysError(`Cannot send on ${ifname}`);
      sleepMicros(1000);
    }
    sent++;
  }
  libc().close(fd);
  console.log(JSON.stringify({ interface: ifname, sent, flows: options.flows }));
}

function main(): void {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      count: { type: "string", default: "1000" },
      size: { type: "string", default: "60" },
      timeout: { type: "string", default: "5" },
      "dst-mac": { type: "string" },
      "ready-file": { type: "string" },
      flows: { type: "string", default: "1" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return console.log(HELP);
  const [mode, ifname] = positionals;
  if (positionals.length !== 2 || (mode !== "recv" && mode !== "send")) {
    throw new IxyError(`Expected "recv <interface>" or "send <interface>".\n${HELP}`);
  }
  const count = intOption("count", values.count, { min: 1 });
  if (mode === "recv") {
    const timeoutS = intOption("timeout", values.timeout, { min: 1 });
    recv(ifname, count, { timeoutS, readyFile: values["ready-file"] });
  } else {
    const size = intOption("size", values.size, { min: MIN_FRAME_SIZE, max: 1514 });
    const dstMac = values["dst-mac"] === undefined ? undefined : parseMac(values["dst-mac"]);
    const flows = intOption("flows", values.flows, { min: 1, max: MAX_FLOWS });
    send(ifname, count, { size, dstMac, flows });
  }
}

if (import.meta.main) runApp(main);
