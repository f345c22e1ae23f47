/**
 * `deno task view`: the rings of a running ixy.ts driver, live, in a web page.
 *
 *     deno task view                      # software 82599, no root, no NIC
 *     deno task view --nic 0000:00:04.0   # a NIC of the lab VM (root)
 *
 * See docs/view.md.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { runTool } from "../../src/error.ts";
import { atExit, setStopHandler } from "../../src/exit_guard.ts";
import { PciDevice } from "../../src/pci.ts";
import { intOption } from "../lib/cli.ts";
import { MAX_PPS } from "./protocol.ts";
import { startView } from "./server.ts";

const HELP = `Usage: deno task view [options]

Runs a driver and a small application and shows its descriptor rings live in
a web page on 127.0.0.1: who owns each descriptor, the head and tail
pointers, one descriptor decoded, the packet it points at, rates, and a step
mode (pause, then one driver call at a time, with the driver's code).

The address it prints holds a per-run random token: only who has it gets
an answer (other users of the machine and other web pages do not). The web
server runs in a Worker that may only listen on 127.0.0.1: no files, no
FFI, no programs (Deno's permissions; see docs/view.md, "Security").

Options:
  --nic sim|instant|<pci>
                    sim: the software 82599, two cabled ports (generator and
                    forwarder; no root). instant: the benchmarks' instant
                    82599s, forwarding at full speed (no step mode). A PCI
                    address: that NIC (root or vfio-pci), sending generated
                    frames. Default sim.
  --port N          TCP port on 127.0.0.1 (default 8080)
  --ring-size N     descriptors per ring, ixgbe (default 64; the driver's
                    own default is 512)
  --pps N           generator rate, packets/s (default 0 = full speed;
                    the page can change it)
  --seconds N       stop after N seconds (default: run until Ctrl-C)
  -h, --help        show this help`;

/**
 * If `name` is a PCI function we took from the kernel (sysfs mode: no driver
 * bound now), clears its Bus Master Enable when the process ends. Through
 * VFIO nothing is needed: closing the device fd resets the device.
 */
function quietAtExit(name: string): void {
  let pci: PciDevice;
  try {
    pci = PciDevice.open(name);
  } catch {
    return; // the software 82599: no PCI function
  }
  if (pci.driver !== undefined) return;
  atExit(() => {
    if (pci.busMastering) pci.disableBusMastering();
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      nic: { type: "string", default: "sim" },
      port: { type: "string", default: "8080" },
      "ring-size": { type: "string", default: "64" },
      pps: { type: "string", default: "0" },
      seconds: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return console.log(HELP);
  const view = await startView({
    nic: values.nic,
    port: intOption("port", values.port, { min: 0, max: 65535 }),
    ringSize: intOption("ring-size", values["ring-size"], { min: 8, max: 4096 }),
    pps: intOption("pps", values.pps, { min: 0, max: MAX_PPS }),
  });
  console.log(`view: ${view.init.ports.map((p) => `${p.name} (${p.driver})`).join(", ")}`);
  if (view.permissions) {
    const net = [view.permissions.net].flat().join(", ");
    console.log(
      `view: web server: a Worker without read, write, run, ffi, env, sys; net ${net} only`,
    );
  }
  console.log(`view: open ${view.url} (Ctrl-C stops)`);
  // The driver runs in a Worker (app_worker.ts): Ctrl-C, SIGTERM or SIGHUP
  // has it close its NICs (reset, bus mastering off), then we exit. Should
  // the process end any other way (a second signal, an error), the exit
  // guard (src/exit_guard.ts) at least turns off bus mastering of each NIC
  // we took in sysfs mode (no kernel driver now), from this thread.
  for (const port of view.init.ports) quietAtExit(port.name);
  const stop = async () => {
    await view.close();
    Deno.exit(0);
  };
  setStopHandler(() => void stop());
  const seconds = values.seconds;
  if (seconds !== undefined) {
    const ms = 1000 * intOption("seconds", seconds, { min: 1, max: 86400 });
    await new Promise((r) => setTimeout(r, ms));
    await view.close();
    setStopHandler(undefined);
  }
}

if (import.meta.main) runTool(main);
