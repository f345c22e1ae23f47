/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * The ring viewer's web server, in a Worker of its own. server.ts starts it
 * with narrowed permissions (`httpWorkerPermissions`): no file access at
 * all, no FFI, no subprocesses, no environment, and the network only to
 * listen on 127.0.0.1. The driver (app_worker.ts) and the main thread, which
 * reads the rings through FFI on a real NIC, keep theirs. So even a bug in
 * this file, the part the outside talks to, reads no file and runs nothing:
 * Deno refuses (NotCapable).
 *
 * It gets everything it serves at start ({@link HttpStart}): the files, by
 * name, already read, and the configuration. Each request passes the checks
 * of guard.ts (Host, token, Origin for POSTs, numbers); then
 *
 *     /<token>/                      the page (static/index.html)
 *     /<token>/static/app.js, …css   its script and stylesheet
 *     /<token>/src/<file>            a read-only source page step mode links to
 *     /<token>/api/config            ports, rings, steps (GET)
 *     /<token>/api/events            Server-Sent Events: one snapshot per frame (GET)
 *     /<token>/api/state             one snapshot (GET)
 *     /<token>/api/desc?ring=&d=     one descriptor decoded, with its packet (GET)
 *     /<token>/api/pause, resume, step?n=, rate?pps=      (POST)
 *
 * The api/ requests other than config and events are passed to the main
 * thread as messages ({@link ApiCall}) and answered with its reply. The
 * event streams get the snapshots the main thread takes, at most
 * SNAPSHOT_HZ a second and only while at least one stream is open.
 *
 * Why the token is a path segment, not a cookie: cookies ignore the port,
 * so a cookie for 127.0.0.1:8080 also goes to every other server on
 * 127.0.0.1 the browser visits, another user's included. A path segment
 * needs nothing stored in the browser: the page's URLs are all relative
 * ("api/config", "static/app.js", "src/…"), so each request carries the
 * token, the event stream (EventSource cannot send headers) and the source
 * pages (plain links) included. Every response says `Referrer-Policy:
 * no-referrer`, so the address does not travel further.
 *
 * @module
 */

import { allowedHosts, allowedOrigins, sameToken, wholeNumber } from "./guard.ts";
import type { ApiCall, HttpStart, HttpToMain, MainToHttp } from "./protocol.ts";
import { MAX_PPS } from "./protocol.ts";

const send = (m: HttpToMain) => self.postMessage(m);

/**
 * Headers of every response: no caching (packet bytes stay out of the
 * browser's disk cache), no referrer (the token stays in this origin), no
 * framing by other pages (no clicks on "pause" through a transparent frame),
 * and a Content Security Policy allowing this origin's own files only.
 */
const COMMON: Record<string, string> = {
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "content-security-policy":
    "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

/** A refusal: a status and one plain line, nothing else. */
function refuse(status: number, text: string): Response {
  return new Response(text + "\n", {
    status,
    headers: { ...COMMON, "content-type": "text/plain; charset=utf-8" },
  });
}

function serve(start: HttpStart): void {
  const encoder = new TextEncoder();
  // The files, encoded once.
  const files = new Map<string, { type: string; body: Uint8Array<ArrayBuffer> }>();
  for (const [path, f] of Object.entries(start.files)) {
    files.set(path, { type: f.type, body: encoder.encode(f.body) });
  }
  files.set("api/config", { type: "application/json", body: encoder.encode(start.config) });
  let hosts = new Set<string>();
  let origins = new Set<string>();
  const token = start.token;

  // Open event streams. The main thread takes snapshots only while there are any.
  const clients = new Set<ReadableStreamDefaultController<Uint8Array<ArrayBuffer>>>();
  const drop = (c: ReadableStreamDefaultController<Uint8Array<ArrayBuffer>>) => {
    if (clients.delete(c)) send({ type: "listeners", count: clients.size });
  };
  const events = (): Response => {
    let me: ReadableStreamDefaultController<Uint8Array<ArrayBuffer>>;
    const body = new ReadableStream<Uint8Array<ArrayBuffer>>({
      start(c) {
        me = c;
        clients.add(c);
        send({ type: "listeners", count: clients.size });
      },
      cancel() {
        drop(me);
      },
    });
    return new Response(body, { headers: { ...COMMON, "content-type": "text/event-stream" } });
  };

  // API calls waiting for the main thread's reply.
  let nextId = 1;
  const pending = new Map<number, (r: Response) => void>();
  const call = (c: ApiCall): Promise<Response> => {
    const id = nextId++;
    send({ type: "api", id, call: c });
    return new Promise((resolve) => pending.set(id, resolve));
  };

  const handler = (req: Request): Response | Promise<Response> => {
    // 1. Host: ours, under one of its names (DNS rebinding ends here).
    if (!hosts.has((req.headers.get("host") ?? "").toLowerCase())) {
      return refuse(403, "Wrong Host: open the address the viewer printed (127.0.0.1).");
    }
    const post = req.method === "POST";
    if (!post && req.method !== "GET") return refuse(405, "Only GET and POST.");
    // 2. The token: the first path segment. The URL parser has resolved dot
    // segments already; nothing below decodes anything.
    const url = new URL(req.url);
    const path = url.pathname;
    const cut = path.indexOf("/", 1);
    if (!sameToken(cut < 0 ? path.slice(1) : path.slice(1, cut), token)) {
      return refuse(403, "Wrong or missing token: open the address the viewer printed.");
    }
    if (cut < 0) {
      return new Response(null, { status: 308, headers: { ...COMMON, location: `/${token}/` } });
    }
    const rest = path.slice(cut + 1);
    if (post) {
      // 3. POSTs: from a page of this server only.
      if (!origins.has(req.headers.get("origin") ?? "")) {
        return refuse(403, "Cross-origin request refused.");
      }
      const q = url.searchParams;
      switch (rest) {
        case "api/pause":
          return call({ op: "pause" });
        case "api/resume":
          return call({ op: "resume" });
        case "api/step": {
          // 4. Numbers: digits only, in range.
          const n = wholeNumber(q.get("n"), start.steps - 1);
          return n === undefined ? refuse(400, `n: a step, 0 to ${start.steps - 1}.`) : call({
            op: "step",
            n,
          });
        }
        case "api/rate": {
          const pps = wholeNumber(q.get("pps"), MAX_PPS);
          return pps === undefined
            ? refuse(400, `pps: a whole number from 0 to ${MAX_PPS}.`)
            : call({ op: "rate", pps });
        }
      }
      return files.has(rest) || rest.startsWith("api/")
        ? refuse(405, "Not with POST.")
        : refuse(404, "Not found.");
    }
    if (rest === "api/events") return events();
    if (rest === "api/state") return call({ op: "state" });
    if (rest === "api/desc") {
      const ring = wholeNumber(url.searchParams.get("ring"), start.rings - 1);
      const d = wholeNumber(url.searchParams.get("d"), 65535);
      return ring === undefined || d === undefined
        ? refuse(400, "ring, d: a ring and a descriptor number.")
        : call({ op: "desc", ring, d });
    }
    const file = files.get(rest);
    if (file) return new Response(file.body, { headers: { ...COMMON, "content-type": file.type } });
    return rest.startsWith("api/") ? refuse(405, "Only with POST.") : refuse(404, "Not found.");
  };

  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: "127.0.0.1",
      port: start.port,
      onListen: (addr) => {
        hosts = allowedHosts(addr.port);
        origins = allowedOrigins(addr.port);
        send({ type: "listening", port: addr.port });
      },
      // A bug of ours: a bare 500, no message, no stack.
      onError: () => refuse(500, "Internal error."),
    }, handler);
  } catch (e) {
    send({ type: "error", message: (e as Error).message });
    return;
  }

  self.onmessage = async (e: MessageEvent<MainToHttp>) => {
    const m = e.data;
    if (m.type === "snapshot") {
      for (const c of clients) {
        try {
          c.enqueue(m.bytes);
        } catch {
          drop(c);
        }
      }
    } else if (m.type === "reply") {
      const ok = m.status < 300;
      pending.get(m.id)?.(
        ok
          ? new Response(m.body, { headers: { ...COMMON, "content-type": "application/json" } })
          : refuse(m.status, m.body),
      );
      pending.delete(m.id);
    } else if (m.type === "close") {
      for (const c of clients) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
      clients.clear();
      for (const resolve of pending.values()) resolve(refuse(503, "The viewer stopped."));
      pending.clear();
      await server.shutdown();
      send({ type: "closed" });
    }
  };
}

self.onmessage = (e: MessageEvent<MainToHttp>) => {
  if (e.data.type === "start") serve(e.data);
};
