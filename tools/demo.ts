/**
 * The demo: ixy.ts moving real (emulated) packets, in one command.
 *
 *     deno task demo              # lab VM: our driver -> the kernel's driver
 *     deno task demo --sim        # software 82599: our ixgbe driver on both ends
 *     deno task demo --nic igb    # lab VM: our igb driver on QEMU's Intel 82576 -> the kernel
 *
 * It boots the lab VM (tools/vm/) with two virtio NICs on one QEMU hub, runs
 * our pktgen on the first NIC with live statistics, and asks the Linux
 * kernel, whose own virtio_net driver owns the second NIC, how many frames it
 * received. It succeeds if the frames arrived there.
 *
 * At full speed the kernel's receive path (emulated, like everything in the
 * VM) is slower than our sender, and what the kernel's ring cannot take is
 * lost on the way — so the demo reports how many arrived, not that all did. The
 * tests (tests/vm/) check every single frame at a rate both sides sustain.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type NicModel, runInVm, vmNicAddress } from "./vm/mod.ts";
import { IxyError, runTool } from "../src/error.ts";
import { intOption } from "./lib/cli.ts";
import { runSimDemo } from "./sim82599/demo.ts";

const HELP = `Usage: deno task demo [options]

Boots the lab VM (QEMU, two virtio NICs on one hub), sends test frames with
our driver on ${vmNicAddress(0)} for a few seconds (live statistics), and shows
how many of them the kernel's virtio_net driver on ${vmNicAddress(1)} counted.
Exits 0 if frames arrived there.
Needs root (QEMU, the Debian kernel download on first use).

With --sim, no VM: our ixgbe driver sends on port A of a software 82599
(tools/sim82599/) cabled to port B, where our ixgbe driver receives; no root.

Options:
  --sim         use the software 82599 instead of the lab VM
  --nic MODEL   the NIC our driver sends on: virtio (default) or igb (Intel
                82576, QEMU 8.0 or newer); the kernel's peer stays virtio
  --seconds N   how long pktgen runs (default 5)
  --verbose     also show the guest kernel's console
  -h, --help    show this help`;

/** What runs inside the VM (plain sh; see tests/vm/guest/ for the tests). */
function guestScript(seconds: number, models: NicModel[]): string {
  const ours = vmNicAddress(0, models);
  const peer = vmNicAddress(1, models);
  return `set -eu
PEER=$(ls /sys/bus/pci/devices/${peer}/virtio*/net/)
echo 1 > /proc/sys/net/ipv6/conf/$PEER/disable_ipv6   # only our frames on the wire
ip link set "$PEER" up
BEFORE=$(cat /sys/class/net/$PEER/statistics/rx_packets)
echo "demo: the kernel's virtio_net owns ${peer} as $PEER; ixy.ts takes ${ours}"
$IXY_DENO run -A --no-check tools/pktgen.ts ${ours} --seconds ${seconds}
sleep 1
AFTER=$(cat /sys/class/net/$PEER/statistics/rx_packets)
echo "DEMO_PEER=$PEER DEMO_PEER_RX=$((AFTER - BEFORE))"`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "5" },
      verbose: { type: "boolean", default: false },
      sim: { type: "boolean", default: false },
      nic: { type: "string", default: "virtio" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return console.log(HELP);
  const seconds = intOption("seconds", values.seconds, { min: 1, max: 3600 });
  if (values.sim) {
    console.log("demo: software 82599, port A cabled to port B, ixgbe driver on both");
    const r = await runSimDemo({ seconds });
    console.log(
      `demo: sent ${r.sent}, received ${r.received}, checked ${r.good} intact, ${r.bad} bad, ` +
        `missed ${r.rxMissed}, model violations ${r.violations}`,
    );
    if (r.received === 0 || r.bad > 0 || r.violations > 0) {
      throw new IxyError("The software 82599 demo failed (see the lines above).");
    }
    return;
  }
  if (values.nic !== "virtio" && values.nic !== "igb") {
    throw new IxyError(`Invalid --nic "${values.nic}": use virtio or igb.`);
  }
  const models: NicModel[] = [values.nic, "virtio"];
  if (values.nic === "igb") await requireQemuDevice("igb", "the Intel 82576 (igb)");
  console.log("demo: booting the lab VM (QEMU without KVM: ~15 s) ...");
  const result = await runInVm(guestScript(seconds, models), {
    nicModels: models,
    stream: true,
    verbose: values.verbose,
    log: (m) => console.log(`demo: ${m}`),
    timeoutSeconds: 300 + seconds,
  });
  const sent = Number(/pktgen: sent (\d+) frames/.exec(result.output)?.[1] ?? NaN);
  const peer = /DEMO_PEER=(\S+) DEMO_PEER_RX=(\d+)/.exec(result.output);
  if (result.code !== 0 || !peer || Number.isNaN(sent)) {
    throw new IxyError(
      `The demo failed inside the VM (exit ${result.code}); see the output above.`,
    );
  }
  const received = Number(peer[2]);
  const share = sent > 0 ? (100 * received / sent).toFixed(1) : "0";
  console.log(
    `demo: ixy.ts sent ${sent} frames; the kernel's virtio_net (${peer[1]}) counted ` +
      `${received} (${share}%).`,
  );
  if (received === 0 || received > sent) {
    throw new IxyError(`The kernel peer counted ${received} of ${sent} frames: the demo failed.`);
  }
  if (received < sent) {
    console.log(
      "demo: the rest were lost on the way (QEMU's queue or the kernel's receive ring): the " +
        "kernel's emulated receive path is slower than our sender. `deno task test` checks " +
        "every frame at a rate both sustain.",
    );
  }
  console.log("demo: frames sent by ixy.ts arrived at the Linux kernel's driver.");
}

/** Throws a clear error when this machine's QEMU has no `-device name` (igb: QEMU 8.0 or newer). */
async function requireQemuDevice(name: string, what: string): Promise<void> {
  const out = await new Deno.Command("qemu-system-x86_64", { args: ["-device", "help"] }).output()
    .catch(() => undefined);
  const text = out === undefined ? "" : new TextDecoder().decode(out.stdout);
  if (!text.includes(`name "${name}"`)) {
    throw new IxyError(
      `This QEMU has no ${what} model (-device ${name}); it needs QEMU 8.0 or newer. On Debian ` +
        `12: apt-get install -t bookworm-backports qemu-system-x86`,
    );
  }
}

if (import.meta.main) runTool(main);
