/**
 * For tests/sim/view_security_test.ts: starts a Worker with exactly the
 * permissions the ring viewer gives its web server
 * (`httpWorkerPermissions` of tools/view/server.ts), tries in it what an
 * attacker who took over the web server's JavaScript would try, and prints
 * one JSON object: each attempt and "ok" or the error's name (NotCapable:
 * refused by Deno's permissions).
 *
 *     deno run -A --unstable-worker-options --no-prompt tests/sim/view_confine_probe.ts <planted file>
 *
 * The same file is the Worker (it knows by its name).
 *
 * @module
 */

import { httpWorkerPermissions } from "../../tools/view/server.ts";

const NAME = "view-confine-probe";

interface Probe {
  port: number;
  planted: string;
  root: string;
}

async function probe({ port, planted, root }: Probe): Promise<Record<string, string>> {
  const results: Record<string, string> = {};
  const attempt = async (what: string, f: () => unknown) => {
    try {
      await f();
      results[what] = "ok";
    } catch (e) {
      results[what] = (e as Error).name;
    }
  };
  const dir = planted.slice(0, planted.lastIndexOf("/"));
  await attempt("read a file outside the project", () => Deno.readTextFileSync(planted));
  await attempt("read /etc/passwd", () => Deno.readTextFile("/etc/passwd"));
  await attempt("read a project file", () => Deno.readTextFileSync(`${root}deno.json`));
  await attempt("list a directory", () => [...Deno.readDirSync(dir)]);
  await attempt("stat a file", () => Deno.statSync(planted));
  await attempt("write a file", () => Deno.writeTextFileSync(`${dir}/written.txt`, "x"));
  await attempt("run a program", () => new Deno.Command("true").outputSync());
  await attempt("dlopen libc", () => Deno.dlopen("libc.so.6", {}));
  await attempt("read the environment", () => Deno.env.get("HOME"));
  await attempt("system information", () => Deno.hostname());
  await attempt(
    "listen on another port",
    () =>
      Deno.listen({ hostname: "127.0.0.1", port: port === 65535 ? port - 1 : port + 1 }).close(),
  );
  await attempt(
    "listen on all interfaces",
    () => Deno.listen({ hostname: "0.0.0.0", port }).close(),
  );
  await attempt(
    "connect to another local port",
    async () => (await Deno.connect({ hostname: "127.0.0.1", port: 22 })).close(),
  );
  await attempt("resolve a name", () => Deno.resolveDns("localhost", "A"));
  await attempt("listen on its port", () => Deno.listen({ hostname: "127.0.0.1", port }).close());
  return results;
}

if ((globalThis as { name?: string }).name === NAME) {
  self.onmessage = async (e: MessageEvent<Probe>) => {
    self.postMessage(await probe(e.data));
    self.close();
  };
} else {
  // A free port for the probe's own "listen on its port".
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  const worker = new Worker(import.meta.url, {
    type: "module",
    name: NAME,
    deno: { permissions: httpWorkerPermissions(port) },
  });
  const results = await new Promise<Record<string, string>>((resolve, reject) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(e.message));
    };
    worker.postMessage({
      port,
      planted: Deno.args[0],
      root: new URL("../../", import.meta.url).pathname,
    });
  });
  worker.terminate();
  console.log(JSON.stringify(results));
}
