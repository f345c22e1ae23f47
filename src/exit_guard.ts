/**
 * The last thing a driver does: leave the NIC quiet, however the process
 * ends. A NIC we started has armed descriptor rings that point into our DMA
 * memory; when the process is gone, the kernel hands that memory (hugepages)
 * to the next process, and a NIC still running would write received frames
 * into it. So every way out must stop the device first:
 *
 * | how the process ends                        | what runs {@link atExit}'s tasks       |
 * |---------------------------------------------|----------------------------------------|
 * | `main` returns, or `Deno.exit(n)`            | the `unload` event                     |
 * | an uncaught exception or rejected Promise    | the `error` / `unhandledrejection` event |
 * | SIGINT (Ctrl-C), SIGTERM, SIGHUP             | our signal listener, then `Deno.exit`  |
 * | SIGKILL, a crash of Deno itself, power loss   | nothing can: see docs/security.md       |
 *
 * Signals: an app whose loop can stop by itself (tools/lib/app.ts
 * `StopSignal`) asks for the first signal with {@link setStopHandler}: its
 * loop ends, it prints its final statistics and closes its devices. A second
 * signal, or a signal while no loop listens (during bring-up, e.g. the link
 * wait), stops at once: the tasks run, then the process exits with 128 + the
 * signal's number, as a shell reports a process killed by it.
 *
 * JavaScript note: a signal is delivered by Deno's event loop, so it waits
 * until synchronous code (a driver's bring-up, a busy receive loop) returns
 * or awaits. That is why the apps `await` once a second (StatsPrinter.tick):
 * a Ctrl-C during a 10 s link wait is acted on when the wait ends. Once a
 * listener is installed, the signal no longer kills the process outright, so
 * nothing is lost in between.
 *
 * @module
 */

/** The signals we catch and their numbers (signal(7), x86-64 Linux). */
const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

const tasks: (() => void)[] = [];
let installed = false;
let running = false;
let stopHandler: (() => void) | undefined;
let stopRequested = false;

/**
 * Runs `task` once when the process ends (each path in the table above).
 * Tasks run in the order they were added (the same task added twice runs
 * once); one that throws is reported on stderr and the others still run. A
 * task must be synchronous: nothing awaited at exit is sure to finish.
 */
export function atExit(task: () => void): void {
  if (!tasks.includes(task)) tasks.push(task);
  install();
}

/**
 * Lets an app's loop take the first SIGINT/SIGTERM/SIGHUP (`handler` sets a
 * flag the loop polls); `undefined` gives signals back to the exit path.
 * While a handler is set, a second signal stops the process at once.
 */
export function setStopHandler(handler: (() => void) | undefined): void {
  stopHandler = handler;
  stopRequested = false;
  install();
}

/** Runs the tasks now (once): what every exit path calls. */
export function runExitTasks(): void {
  if (running) return;
  running = true;
  for (const task of tasks.splice(0)) {
    try {
      task();
    } catch (e) {
      console.error(`error while stopping: ${(e as Error).message}`);
    }
  }
  running = false;
}

function onSignal(name: keyof typeof SIGNALS): void {
  if (stopHandler !== undefined && !stopRequested) {
    stopRequested = true;
    stopHandler();
    return;
  }
  runExitTasks();
  Deno.exit(128 + SIGNALS[name]);
}

/**
 * Installs the listeners, once. They do not keep the process alive. In a
 * Worker, signals stay the main thread's business (every thread's listener
 * would see them, and `Deno.exit` there ends only the Worker): the main
 * thread must have the Worker close its devices (tools/view/main.ts does).
 */
function install(): void {
  if (installed) return;
  installed = true;
  if (!("WorkerGlobalScope" in globalThis)) {
    for (const name of Object.keys(SIGNALS) as (keyof typeof SIGNALS)[]) {
      Deno.addSignalListener(name, () => onSignal(name));
    }
  }
  // unload: after main returned or Deno.exit. error/unhandledrejection: before
  // Deno prints the uncaught error and exits (we do not preventDefault it).
  globalThis.addEventListener("unload", runExitTasks);
  globalThis.addEventListener("error", runExitTasks);
  globalThis.addEventListener("unhandledrejection", runExitTasks);
}
