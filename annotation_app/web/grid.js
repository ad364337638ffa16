"use strict";
// The grid of machine labels: a page of audit tiles (POST /api/review/{project}/grid), each showing the
// item small (a text line, an image thumbnail, an audio waveform) and the machine's answer. The keyboard
// does everything: arrows move, A / R decide the focused tile, Shift+A accepts every undecided tile,
// Enter submits the decided ones in one request; the next page comes right after. Nothing is loaded from
// the network but this app: the waveform is drawn here from the WAV bytes.
(() => {
const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem("annoflow-token") || "", project: null, tiles: [], focus: 0,
                decided: new Map(), submitted: 0, busy: false, thread: null, beat: null, gone: new Set() };
// For the browser benchmark and tests: when the last page was asked for, drawn, and its submit answered.
window.gridTimes = { requested: 0, shown: 0, submitStarted: 0, submitted: 0 };
window.gridHistory = [];  // the timings of every page submitted, oldest first

async function api(method, path, body) {
  const r = await fetch(path, { method, headers: { "Authorization": "Bearer " + state.token,
    "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) { const e = new Error(data.message || ("HTTP " + r.status)); e.code = data.error; throw e; }
  return data;
}

function show(id) { for (const s of ["login", "work", "empty"]) $(s).classList.toggle("hidden", s !== id); }

function counter() {
  let acc = 0, rej = 0;
  for (const d of state.decided.values()) { if (d.decision === "accept") acc += 1; else rej += 1; }
  const left = state.tiles.length - acc - rej;
  $("counter").textContent = `${acc} accepted · ${rej} rejected · ${left} undecided of ${state.tiles.length}` +
    ` · ${state.submitted} submitted`;
}

// ---- what a tile shows ---------------------------------------------------------------------
// The answer is drawn from its JSON shape, whatever the project's kind: a label, a list of labels, or
// parts that carry a label (text offsets are marked in the line, pixel boxes drawn over the thumbnail).
function answerText(answer) {
  if (answer === null || answer === undefined) return "—";
  if (typeof answer === "string") return answer;
  if (Array.isArray(answer)) {
    if (!answer.length) return "(none)";
    if (answer.every((x) => typeof x === "string")) return answer.join(", ");
    const counts = new Map();
    for (const part of answer) { const l = part && part.label !== undefined ? String(part.label) : "?"; counts.set(l, (counts.get(l) || 0) + 1); }
    return [...counts].map(([l, n]) => n > 1 ? `${l} ×${n}` : l).join(", ");
  }
  return JSON.stringify(answer).slice(0, 80);
}

function textLine(payload, answer) {
  const line = document.createElement("div"); line.className = "line"; line.title = payload || "";
  const text = payload || "";
  const parts = Array.isArray(answer) ? answer.filter((p) => p && Number.isInteger(p.start) && Number.isInteger(p.end)) : [];
  if (!parts.length) { line.textContent = text.slice(0, 300); return line; }
  const chars = Array.from(text);  // offsets count code points
  let at = 0;
  for (const p of [...parts].sort((a, b) => a.start - b.start)) {
    if (p.start < at) continue;
    line.append(chars.slice(at, p.start).join(""));
    const m = document.createElement("mark"); m.title = String(p.label); m.textContent = chars.slice(p.start, p.end).join("");
    line.append(m); at = p.end;
  }
  line.append(chars.slice(at).join(""));
  return line;
}

function boxesOver(img, answer) {
  const boxes = Array.isArray(answer) ? answer.filter((b) => b && ["x", "y", "w", "h"].every((k) => typeof b[k] === "number")) : [];
  if (!boxes.length) return null;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  img.addEventListener("load", () => {
    svg.setAttribute("viewBox", `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
    svg.style.width = img.clientWidth + "px"; svg.style.height = img.clientHeight + "px";
    for (const b of boxes) {
      const r = document.createElementNS(ns, "rect");
      for (const [k, v] of [["x", b.x], ["y", b.y], ["width", b.w], ["height", b.h]]) r.setAttribute(k, v);
      r.setAttribute("fill", "none"); r.setAttribute("stroke", "#ff3b30"); r.setAttribute("vector-effect", "non-scaling-stroke");
      r.setAttribute("stroke-width", "2"); svg.appendChild(r);
    }
  }, { once: true });
  return svg;
}

// A WAV's samples (PCM 8/16/24/32-bit or float32), first channel, from however many bytes arrived:
// the snippet is the file's first bytes, asked for with a Range request.
function wavSamples(buf) {
  const v = new DataView(buf);
  const tag = (o) => String.fromCharCode(v.getUint8(o), v.getUint8(o + 1), v.getUint8(o + 2), v.getUint8(o + 3));
  if (buf.byteLength < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") return null;
  let o = 12, fmt = null;
  while (o + 8 <= buf.byteLength) {
    const id = tag(o), size = v.getUint32(o + 4, true), body = o + 8;
    if (id === "fmt ") fmt = { format: v.getUint16(body, true), channels: v.getUint16(body + 2, true), bits: v.getUint16(body + 14, true) };
    if (id === "data" && fmt) {
      const step = fmt.channels * fmt.bits / 8, end = Math.min(buf.byteLength, body + size);
      const n = Math.floor((end - body) / step), out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const p = body + i * step;
        out[i] = fmt.format === 3 ? v.getFloat32(p, true) : fmt.bits === 8 ? (v.getUint8(p) - 128) / 128
          : fmt.bits === 16 ? v.getInt16(p, true) / 32768
          : fmt.bits === 24 ? ((v.getInt8(p + 2) << 16) | (v.getUint8(p + 1) << 8) | v.getUint8(p)) / 8388608
          : v.getInt32(p, true) / 2147483648;
      }
      return out;
    }
    o = body + size + (size % 2);
  }
  return null;
}

function drawWave(canvas, samples) {
  const w = canvas.width = canvas.clientWidth || 160, h = canvas.height = canvas.clientHeight || 60;
  const g = canvas.getContext("2d");
  g.fillStyle = "#f0f3f9"; g.fillRect(0, 0, w, h);
  g.strokeStyle = "#2f6fed"; g.beginPath();
  const per = Math.max(1, Math.floor(samples.length / w));
  for (let x = 0; x < w; x++) {
    let lo = 0, hi = 0;
    for (let i = x * per; i < Math.min(samples.length, (x + 1) * per); i++) { const s = samples[i]; if (s < lo) lo = s; if (s > hi) hi = s; }
    g.moveTo(x + .5, (1 - hi) * h / 2); g.lineTo(x + .5, (1 - lo) * h / 2 + 1);
  }
  g.stroke();
  canvas.dataset.drawn = "1";
}

async function waveform(canvas, url) {
  try {
    const r = await fetch(url, { headers: { Range: "bytes=0-262143" } });  // about 3 s of 16-bit 44.1 kHz mono
    const samples = wavSamples(await r.arrayBuffer());
    if (samples && samples.length) drawWave(canvas, samples);
  } catch (e) { canvas.title = "no waveform: " + e.message; }
}

// Media (thumbnails, waveform snippets) is fetched when its tile comes near the screen (a tighter margin
// than the browser's own lazy loading, which would fetch most of the 200 at once): the page takes keys
// before the files arrive.
const fetchers = new WeakMap();
const onScreen = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (!e.isIntersecting) continue;
    onScreen.unobserve(e.target);
    fetchers.get(e.target)();
  }
}, { rootMargin: "200px 0px" });

function whenNear(el, fetch) { fetchers.set(el, fetch); onScreen.observe(el); }

function tileFor(t, i, dataKind) {
  const el = document.createElement("div");
  el.className = "tile"; el.setAttribute("role", "gridcell"); el.dataset.index = i; el.dataset.lease = t.lease_id;
  const answer = t.machine ? t.machine.answer : null;
  if (t.media_url && dataKind === "image") {
    const thumb = document.createElement("div"); thumb.className = "thumb";
    const img = document.createElement("img"); img.alt = ""; img.decoding = "async";
    const svg = boxesOver(img, answer);
    thumb.append(img); if (svg) thumb.append(svg);
    whenNear(img, () => { img.src = t.media_url; });
    el.append(thumb);
  } else if (t.media_url && dataKind === "audio") {
    const thumb = document.createElement("div"); thumb.className = "thumb";
    const c = document.createElement("canvas"); thumb.append(c); el.append(thumb);
    whenNear(c, () => waveform(c, t.media_url));
  }
  if (t.payload) el.append(textLine(t.payload, answer));
  const a = document.createElement("div"); a.className = "answer"; a.textContent = answerText(answer); a.title = a.textContent;
  const mark = document.createElement("span"); mark.className = "mark";
  el.append(a, mark);
  el.addEventListener("click", () => setFocus(i));
  return el;
}

// ---- the page --------------------------------------------------------------------------------
async function loadPage() {
  state.busy = true;
  window.gridTimes = { requested: performance.now(), shown: 0, submitStarted: 0, submitted: 0 };
  let page;
  try { page = await api("POST", `/api/review/${encodeURIComponent(state.project)}/grid?n=200`); }
  catch (e) { show("work"); $("message").textContent = e.message; state.busy = false; return; }
  state.tiles = page.items; state.focus = 0; state.decided = new Map(); state.gone = new Set();
  clearInterval(state.beat);  // the leases last lease_seconds: extend them while the page is open
  state.beat = setInterval(heartbeat, Math.max(5, page.lease_seconds / 3) * 1000);
  const grid = $("grid"); grid.textContent = ""; onScreen.disconnect(); closeThread();
  if (!page.items.length) { show("empty"); counter(); state.busy = false; return; }
  show("work");
  const frag = document.createDocumentFragment();
  page.items.forEach((t, i) => frag.append(tileFor(t, i, page.data_kind)));
  grid.append(frag);
  setFocus(0); counter();
  state.busy = false;
  requestAnimationFrame(() => { window.gridTimes.shown = performance.now(); });
}

// A tile whose lease ended (expired while the machine slept, withdrawn) can no longer be decided: it is
// greyed out and left out of the submit, so the rest of the page still goes through.
async function heartbeat() {
  const live = state.tiles.map((t) => t.lease_id).filter((l) => !state.gone.has(l));
  if (!live.length) return;
  try {
    const out = await api("POST", "/api/review/grid/heartbeat", { lease_ids: live });
    for (const lid of Object.keys(out.ended)) {
      state.gone.add(lid); state.decided.delete(lid);
      const i = state.tiles.findIndex((t) => t.lease_id === lid);
      if (i >= 0) { const el = tileEl(i); el.classList.remove("accept", "reject"); el.classList.add("gone"); }
    }
    counter();
  } catch (e) { $("message").textContent = "Could not extend the page's leases: " + e.message; }
}

function tileEl(i) { return $("grid").children[i]; }

function setFocus(i) {
  if (!state.tiles.length) return;
  const prev = tileEl(state.focus); if (prev) prev.classList.remove("focus");
  state.focus = Math.max(0, Math.min(state.tiles.length - 1, i));
  const el = tileEl(state.focus); el.classList.add("focus"); el.scrollIntoView({ block: "nearest" });
}

function columns() {
  const kids = $("grid").children;
  if (!kids.length) return 1;
  const top = kids[0].offsetTop; let n = 0;
  while (n < kids.length && kids[n].offsetTop === top) n += 1;
  return Math.max(1, n);
}

function decide(i, decision) {
  const t = state.tiles[i];
  if (state.gone.has(t.lease_id)) return;
  const el = tileEl(i);
  el.classList.remove("accept", "reject");
  if (decision === null) { state.decided.delete(t.lease_id); }
  else {
    // A client id per decision, kept while the decision stands: a retried submit is stored once.
    const old = state.decided.get(t.lease_id);
    state.decided.set(t.lease_id, { decision, client_id: old && old.decision === decision ? old.client_id : crypto.randomUUID() });
    el.classList.add(decision);
  }
  counter();
}

async function submitPage() {
  if (state.busy) return;
  const decisions = [...state.decided].map(([lease_id, d]) => ({ lease_id, decision: d.decision, client_id: d.client_id }));
  if (!decisions.length) { $("message").textContent = "Decide some tiles first (A, R, or Shift+A for the whole page)."; return; }
  state.busy = true; $("message").textContent = "";
  window.gridTimes.submitStarted = performance.now();
  try {
    const out = await api("POST", "/api/review/grid/submit", { decisions });
    window.gridTimes.submitted = performance.now();
    state.submitted += out.stored;
    window.gridLast = out;
    window.gridHistory.push({ ...window.gridTimes, stored: out.stored });
    state.busy = false;
    await loadPage();
  } catch (e) {
    state.busy = false;
    $("message").textContent = e.message + (e.code === "lease_expired" || e.code === "unknown_lease"
      ? " — reload the page to get fresh tiles." : "");
  }
}

function onKey(ev) {
  if ($("work").classList.contains("hidden") || ev.target.tagName === "INPUT" || ev.target.tagName === "TEXTAREA") return;
  const cols = columns();
  const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -cols, ArrowDown: cols };
  if (ev.key in moves) { ev.preventDefault(); setFocus(state.focus + moves[ev.key]); return; }
  const k = ev.key.toLowerCase();
  if (k === "a" && ev.shiftKey) {
    ev.preventDefault();
    window.gridTimes.pageAccepted = performance.now();
    state.tiles.forEach((t, i) => { if (!state.decided.has(t.lease_id)) decide(i, "accept"); });
  } else if (k === "a" || k === "r") {
    ev.preventDefault(); decide(state.focus, k === "a" ? "accept" : "reject");
    if (state.focus < state.tiles.length - 1) setFocus(state.focus + 1);
  } else if (k === "u" || ev.key === "Backspace") {
    ev.preventDefault(); decide(state.focus, null);
  } else if (k === "p") {
    const t = state.tiles[state.focus];
    if (t && t.media_url) { ev.preventDefault(); new Audio(t.media_url).play().catch(() => {}); }
  } else if (k === "c") {
    ev.preventDefault(); openThread();
  } else if (ev.key === "Escape") {
    closeThread();
  } else if (ev.key === "Enter") {
    ev.preventDefault(); submitPage();
  }
}

// The focused item's comment thread (web/comments.js) beside the grid: a question about the guidelines
// goes to the project owner's list, a comment to whoever reviews the item next.
function openThread() {
  const t = state.tiles[state.focus];
  if (!t) return;
  closeThread();
  const panel = $("thread-panel"); panel.classList.remove("hidden");
  state.thread = window.annoflowComments.mount(panel, { project: state.project, item: t.item_id, token: state.token,
    kinds: ["comment", "guideline_question"] });
  panel.querySelector("textarea").focus();
}

function closeThread() {
  if (state.thread) { state.thread.destroy(); state.thread = null; }
  $("thread-panel").classList.add("hidden");
}

async function login(token) {
  state.token = token.trim();
  let me;
  try { me = await api("GET", "/api/me"); }
  catch (e) { $("login-error").textContent = e.message; $("login-error").classList.remove("hidden"); return; }
  sessionStorage.setItem("annoflow-token", state.token);
  const sel = $("project"); sel.textContent = "";
  for (const p of me.projects) { const o = document.createElement("option"); o.value = o.textContent = p.project_id; sel.append(o); }
  sel.classList.toggle("hidden", me.projects.length < 2);
  $("logout").classList.remove("hidden");
  if (!me.projects.length) { show("empty"); return; }
  const wanted = new URLSearchParams(location.search).get("project");
  state.project = me.projects.some((p) => p.project_id === wanted) ? wanted : me.projects[0].project_id;
  sel.value = state.project;
  await loadPage();
}

$("login-form").addEventListener("submit", (e) => { e.preventDefault(); login($("token").value); });
$("project").addEventListener("change", (e) => { state.project = e.target.value; loadPage(); });
$("logout").addEventListener("click", () => { sessionStorage.removeItem("annoflow-token"); location.reload(); });
document.addEventListener("keydown", onKey);
if (state.token) login(state.token); else show("login");
})();
