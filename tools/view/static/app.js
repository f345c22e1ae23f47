// The ring viewer's page: plain JavaScript and SVG, no build step, no library.
// It asks the server for the layout once (api/config), then redraws from
// the snapshots the server streams (api/events, Server-Sent Events).
//
// Every URL here is relative: the page lives at http://127.0.0.1:PORT/<token>/,
// so each request (and each source link) carries the per-run token the
// server checks. The browser adds the Origin header to the POSTs itself.

const SVG = "http://www.w3.org/2000/svg";
const R = 130; // outer radius of a ring
const r = 96; // inner radius
const C = R + 100; // centre
const KIND_TITLE = {
  "ixgbe-rx": "RX queue",
  "ixgbe-tx": "TX queue",
  "virtio-rx": "receiveq",
  "virtio-tx": "transmitq",
};

let config;
const ringViews = [];
const poolHistory = [];
let selected; // [ring, d]
let touched = [];

function el(name, attrs = {}, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

function html(tag, text, parent, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}

function polar(angle, radius) {
  return [C + radius * Math.cos(angle), C + radius * Math.sin(angle)];
}

function angleOf(d, size) {
  return -Math.PI / 2 + (2 * Math.PI * d) / size;
}

// One wedge per descriptor, clockwise from the top.
function wedge(d, size) {
  const a0 = angleOf(d, size);
  const a1 = angleOf(d + 1, size);
  const [x0, y0] = polar(a0, R);
  const [x1, y1] = polar(a1, R);
  const [x2, y2] = polar(a1, r);
  const [x3, y3] = polar(a0, r);
  return `M${x0},${y0} A${R},${R} 0 0 1 ${x1},${y1} L${x2},${y2} A${r},${r} 0 0 0 ${x3},${y3} Z`;
}

function buildRing(i, info, parent) {
  const box = html("div", undefined, parent, "ring");
  const svg = el("svg", {
    width: 2 * C,
    height: 2 * C,
    viewBox: `0 0 ${2 * C} ${2 * C}`,
    "data-ring": i,
  }, box);
  const descs = [];
  for (let d = 0; d < info.size; d++) {
    const p = el("path", { d: wedge(d, info.size), class: "desc own-F", "data-d": d }, svg);
    const t = el("title", {}, p);
    t.textContent = `${KIND_TITLE[info.kind]} ${info.queue}, ${
      info.kind.startsWith("virtio") ? "slot" : "descriptor"
    } ${d}`;
    p.addEventListener("click", () => showDescriptor(i, d));
    descs.push(p);
  }
  const pointers = {};
  for (const [key, radius] of [["head", R + 16], ["tail", R + 34], ["driver", r - 34]]) {
    const g = el("g", { class: `ptr ptr-${key}`, "data-pointer": key }, svg);
    const line = el("line", {}, g);
    const text = el("text", { "text-anchor": "middle", "dominant-baseline": "middle" }, g);
    // Head and tail labels a line apart, so they stay readable when the pointers meet.
    pointers[key] = { g, line, text, radius, dy: key === "head" ? -8 : key === "tail" ? 8 : 0 };
  }
  // Captions under the ring, so the centre stays free for the driver's pointer.
  html(
    "div",
    `${KIND_TITLE[info.kind]} ${info.queue}: ${info.size} ${
      info.kind.startsWith("virtio") ? "slots" : "descriptors"
    }`,
    box,
    "caption",
  );
  const counts = html("div", "", box, "counts");
  ringViews[i] = { info, svg, descs, pointers, counts, owners: "" };
}

function placePointer(p, label, value, size, inside) {
  const slot = value & (size - 1);
  const a = angleOf(slot + 0.5, size);
  const [x0, y0] = polar(a, inside ? r : R);
  const [x1, y1] = polar(a, inside ? r - 12 : p.radius - 8);
  const [tx, ty] = polar(a, p.radius + (inside ? 0 : 6));
  p.line.setAttribute("x1", x0);
  p.line.setAttribute("y1", y0);
  p.line.setAttribute("x2", x1);
  p.line.setAttribute("y2", y1);
  p.text.setAttribute("x", tx);
  // Outward: above the ring the outer (tail) label goes up, below it down.
  p.text.setAttribute("y", ty + p.dy * (Math.sin(a) < 0 ? -1 : 1));
  // Outside the ring, labels grow away from it: left of the ring to the left.
  const side = Math.cos(a);
  p.text.setAttribute(
    "text-anchor",
    inside || Math.abs(side) < 0.3 ? "middle" : side > 0 ? "start" : "end",
  );
  p.text.textContent = `${label}=${value}`;
  p.g.setAttribute("data-value", value);
}

function plot(parent, title, color) {
  const box = html("div", undefined, parent, "plot");
  const svg = el("svg", { width: 220, height: 70 }, box);
  const line = el("polyline", { stroke: color }, svg);
  const label = el("text", { x: 4, y: 13, class: "label" }, svg);
  return { svg, line, label, title };
}

function drawPlot(p, values, unit) {
  const max = Math.max(1e-9, ...values);
  const pts = values.map((v, k) => `${(k * 218) / 59 + 1},${68 - (v / max) * 50}`);
  p.line.setAttribute("points", pts.join(" "));
  const last = values.length ? values[values.length - 1] : 0;
  p.label.textContent = unit === "pps"
    ? `${p.title}: ${
      last >= 1e5 ? (last / 1e6).toFixed(3) + " Mpps" : Math.round(last) + " packets/s"
    }`
    : `${p.title}: ${Math.round(last)} ${unit}`;
}

async function setup() {
  config = await (await fetch("api/config")).json();
  document.getElementById("nic").textContent = config.nic === "sim"
    ? "Software 82599 (tools/sim82599), two ports cabled back to back."
    : `NIC ${config.nic}.`;
  const ports = document.getElementById("ports");
  config.ports.forEach((port, p) => {
    const box = html("div", undefined, ports, "port");
    html("h2", `port ${p}: ${port.name} — ${port.driver} driver, MAC ${port.mac}`, box);
    html("p", port.role, box);
    const rings = html("div", undefined, box, "rings");
    config.rings.forEach((info, i) => {
      if (info.port === p) buildRing(i, info, rings);
    });
    const plots = html("div", undefined, box, "plots");
    port.plots = {
      rx: plot(plots, "RX", "#3b7dd8"),
      tx: plot(plots, "TX", "#2a8a2a"),
      drops: plot(plots, "drops", "#d0206a"),
    };
    port.pools = [];
    config.rings.forEach((info, i) => {
      if (info.port === p && info.poolSize) {
        port.pools.push({
          ring: i,
          plot: plot(plots, `RX mempool free of ${info.poolSize}`, "#b06000"),
        });
      }
    });
  });
  const steps = document.getElementById("steps");
  config.steps.forEach((s, n) => {
    const b = html("button", s.label, steps);
    b.className = "step";
    b.disabled = true;
    b.dataset.step = s.id;
    b.addEventListener("click", () => step(n));
  });
  document.getElementById("pause").addEventListener("click", togglePause);
  document.getElementById("speed").addEventListener("change", async (e) => {
    await post(`api/rate?pps=${e.target.value}`);
  });
  const events = new EventSource("api/events");
  events.onmessage = (e) => update(JSON.parse(e.data));
}

let paused = false;

function update(s) {
  paused = s.paused;
  document.getElementById("pause").textContent = paused ? "resume traffic" : "pause traffic";
  for (const b of document.querySelectorAll("button.step")) b.disabled = !paused;
  document.getElementById("status").textContent = s.error
    ? `application stopped: ${s.error}`
    : paused
    ? "paused: the application loop waits; each step is one driver call"
    : "traffic flowing";
  document.getElementById("speed").value = String(s.pps);
  s.rings.forEach((ring, i) => {
    const v = ringViews[i];
    if (!v || !ring.owners) return;
    if (ring.owners !== v.owners) {
      for (let d = 0; d < v.descs.length; d++) {
        if (ring.owners[d] !== v.owners[d]) {
          v.descs[d].classList.remove("own-D", "own-W", "own-F");
          v.descs[d].classList.add(`own-${ring.owners[d]}`);
        }
      }
      v.owners = ring.owners;
    }
    const n = v.info.names;
    const p = ring.pointers;
    placePointer(v.pointers.head, n.head, p.head, v.info.size, false);
    placePointer(v.pointers.tail, n.tail, p.tail, v.info.size, false);
    placePointer(v.pointers.driver, "driver", p.driver, v.info.size, true);
    const count = (c) => ring.owners.split(c).length - 1;
    v.counts.textContent = `device owns ${count("D")} · ${count("W")} waiting · driver holds ${
      count("F")
    }`;
    if (ring.poolFree !== undefined) {
      const h = (poolHistory[i] ??= []);
      h.push(ring.poolFree);
      if (h.length > 60) h.shift();
    }
  });
  config.ports.forEach((port, p) => {
    const h = s.rates[p];
    drawPlot(port.plots.rx, h.rx, "pps");
    drawPlot(port.plots.tx, h.tx, "pps");
    drawPlot(port.plots.drops, h.drops, "/s");
    for (const pool of port.pools) drawPlot(pool.plot, poolHistory[pool.ring] ?? [], "buffers");
  });
}

// A POST; resolves to its JSON answer, or to { error } with the server's
// one-line refusal.
async function post(path) {
  const res = await fetch(path, { method: "POST" });
  return res.ok ? await res.json() : { error: (await res.text()).trim() };
}

async function togglePause() {
  await post(paused ? "api/resume" : "api/pause");
  if (paused) clearTouched();
}

function clearTouched() {
  for (const [i, d] of touched) ringViews[i]?.descs[d]?.classList.remove("touched");
  touched = [];
}

async function step(n) {
  const res = await post(`api/step?n=${n}`);
  const box = document.getElementById("step-text");
  document.getElementById("step-result").hidden = false;
  box.textContent = "";
  if (res.error) {
    box.textContent = res.error;
    return;
  }
  clearTouched();
  touched = res.touched;
  for (const [i, d] of touched) ringViews[i]?.descs[d]?.classList.add("touched");
  html("p", `${res.label}: the driver call returned ${res.packets}.`, box);
  const moved = html("ul", undefined, box);
  for (const m of res.moved) {
    const ring = config.rings[m.ring];
    html(
      "li",
      `port ${ring.port} ${KIND_TITLE[ring.kind]} ${ring.queue}: ${m.name} ${m.from} → ${m.to}`,
      moved,
    );
  }
  const t = new Map();
  for (const [i] of res.touched) t.set(i, (t.get(i) ?? 0) + 1);
  for (const [i, k] of t) {
    const ring = config.rings[i];
    html(
      "li",
      `port ${ring.port} ${KIND_TITLE[ring.kind]} ${ring.queue}: ${k} entries written (outlined)`,
      moved,
    );
  }
  html("p", "The driver code that did it:", box);
  const code = html("ul", undefined, box);
  for (const c of res.code) {
    const li = html("li", undefined, code);
    const a = html("a", `${c.file}:${c.line}`, li);
    a.href = `src/${c.file}#L${c.line}`;
    a.target = "_blank";
    html("span", `  ${c.label}: ${c.text}`, li);
  }
}

async function showDescriptor(i, d) {
  const got = await fetch(`api/desc?ring=${i}&d=${d}`);
  if (!got.ok) return;
  const res = await got.json();
  if (selected) ringViews[selected[0]].descs[selected[1]].classList.remove("selected");
  selected = [i, d];
  ringViews[i].descs[d].classList.add("selected");
  const info = config.rings[i];
  const box = document.getElementById("detail");
  box.hidden = false;
  box.dataset.ring = i;
  box.dataset.d = d;
  document.getElementById("detail-title").textContent = `port ${info.port} ${
    KIND_TITLE[info.kind]
  } ${info.queue}, ${info.kind.startsWith("virtio") ? "slot" : "descriptor"} ${d} (ring at 0x${
    info.physAddr.toString(16)
  })`;
  const body = document.querySelector("#fields tbody");
  body.textContent = "";
  for (const f of res.fields) {
    const tr = html("tr", undefined, body);
    tr.dataset.name = f.name;
    html("td", f.name, tr);
    html("td", f.bits, tr);
    html("td", f.value, tr);
    html("td", f.note ?? "", tr);
  }
  document.getElementById("raw").textContent = `raw 32-bit words: ${res.raw.join(" ")}`;
  const marks = document.getElementById("marks");
  const hex = document.getElementById("hexdump");
  marks.textContent = "";
  hex.textContent = "";
  if (!res.packet) {
    hex.textContent = res.buffer
      ? "(the buffer is not in memory this page can read)"
      : "(the device overwrote the buffer address in the write-back; it is shown once seen in the read format)";
    return;
  }
  if (res.packet.stale) {
    html("p", "Old contents: the device has not written into this buffer yet.", marks);
  }
  for (const m of res.packet.marks) html("span", `${m.name} ${m.fields}`, marks, `m-${m.name}`);
  const bytes = res.packet.hex.match(/../g) ?? [];
  const markOf = (k) => res.packet.marks.find((m) => k >= m.start && k < m.end)?.name;
  for (let row = 0; row < bytes.length; row += 16) {
    html("span", `${row.toString(16).padStart(4, "0")}  `, hex);
    for (let k = row; k < Math.min(row + 16, bytes.length); k++) {
      const m = markOf(k);
      html("span", bytes[k], hex, m ? `m-${m}` : undefined);
      hex.appendChild(document.createTextNode(k % 8 === 7 ? "  " : " "));
    }
    hex.appendChild(document.createTextNode("\n"));
  }
  html("div", `${bytes.length} bytes at device address 0x${res.packet.phys.toString(16)}`, hex);
}

setup();
