// The span tool of the annotation page: mark entity spans in a text, by mouse or keyboard.
//
// Loaded by the page for `task_kind = "spans"`; it registers a factory with the page's shell, which owns
// leasing, submit, skip, key help and layout (see tasks/kinds/spans/queue.py for the server side).
// Offsets in and out are Unicode code points of the text (Python string indices), end exclusive; the
// DOM counts UTF-16 code units, so every crossing goes through the `u16`/`cp` tables below.
// Suggested spans (pre-labels) start as drafts: each one must be accepted, retyped or deleted before
// the answer can be submitted, and an empty answer must be confirmed with the "no entities" key, so a
// bare Enter never sends an unreviewed answer.
"use strict";
(function () {
  const WS = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";  // Python's str.isspace()
  // The tokenisers of tasks/kinds/spans/tokens.py: Python's \w is letters, numbers and "_".
  const TOKENIZERS = {
    words: () => new RegExp(`[\\p{L}\\p{N}]+|[^\\p{L}\\p{N}_${WS}]|_`, "gu"),
    whitespace: () => new RegExp(`[^${WS}]+`, "gu"),
  };
  const FALLBACK = (i) => `hsl(${(i * 67) % 360} 80% 85%)`;
  const LETTERS = "bcdefghijklmopqrtuvwxyz";  // a (accept), n (no entities) and s (the shell's skip) are taken

  function cmpStr(a, b) {  // code-point order, as Python sorts labels
    const x = Array.from(a, (c) => c.codePointAt(0)), y = Array.from(b, (c) => c.codePointAt(0));
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
    return x.length - y.length;
  }
  const cmpSpan = (a, b) => a.start - b.start || a.end - b.end || cmpStr(a.label, b.label);
  const esc = (t) => t.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

  const CSS = `
  .afs { display: flex; flex-direction: column; min-height: 0; gap: .5rem; }
  .afs-text { font-size: 1.15rem; line-height: 2.1; white-space: pre-wrap; overflow: auto; max-height: 60vh;
    padding: .3rem .2rem; border: 1px solid #d5d9e2; border-radius: 6px; outline: none; cursor: text; }
  .afs-text:focus-visible { box-shadow: 0 0 0 3px #9fb6e8; }
  .afs-text .m { padding: .12em 0; border-top: 2px solid transparent; border-bottom: 2px solid transparent; }
  .afs-text .m.start { border-top-left-radius: 5px; border-bottom-left-radius: 5px; padding-left: .15em; }
  .afs-text .m.end { border-top-right-radius: 5px; border-bottom-right-radius: 5px; }
  .afs-text .m.draft { border-top: 2px dashed #6b7385; border-bottom: 2px dashed #6b7385;
    background-image: repeating-linear-gradient(135deg, rgba(255,255,255,.6) 0 4px, transparent 4px 8px); }
  .afs-text .m.active { border-top: 2px solid #1d2330; border-bottom: 2px solid #1d2330; }
  .afs-text .m.active.start { border-left: 2px solid #1d2330; }
  .afs-text .m.active.end { border-right: 2px solid #1d2330; }
  .afs-text .sel { background: #cfe0ff; box-shadow: 0 2px 0 #2f6fed; }
  .afs-text [data-tag]::after { content: attr(data-tag); font-size: .68em; font-weight: 600; letter-spacing: .02em;
    margin: 0 .25em 0 .2em; padding: 0 .3em; border-radius: 3px; background: #1d2330; color: #fff; vertical-align: .15em;
    user-select: none; }
  .afs-legend { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; }
  .afs-legend button { display: inline-flex; gap: .4rem; align-items: center; padding: .3rem .6rem; font-size: .95rem;
    border: 2px solid #c9cfdb; border-radius: 6px; background: #fff; cursor: pointer; color: #1d2330; }
  .afs-legend .sw { width: 1rem; height: 1rem; border-radius: 3px; border: 1px solid rgba(0,0,0,.25); }
  .afs-legend .none { margin-left: auto; }
  .afs-legend .none.on { border-color: #2f6fed; background: #e6eeff; }
  .afs-status { font-size: .9rem; color: #333; min-height: 1.3rem; }
  .afs-status button { margin-left: .4rem; font-size: .85rem; padding: .1rem .5rem; cursor: pointer; }
  .afs kbd { background: #eef0f4; border: 1px solid #d5d9e2; border-radius: 3px; padding: 0 .3rem; font-size: .8rem; }`;

  function factory(ctx) {
    const text = ctx.task.payload || "";
    const labels = ctx.labels.slice();
    const opts = Object.assign({ allow_overlap: false, snap_to_tokens: true, tokenizer: "words" }, ctx.options || {});
    const colors = labels.map((_, i) => (opts.colors && opts.colors[i]) || FALLBACK(i));

    // cp -> UTF-16 offset (u16) and UTF-16 offset -> cp (cpAt; -1 inside a surrogate pair).
    const u16 = [0], cpAt = [0];
    for (const ch of text) {
      if (ch.length === 2) cpAt.push(-1);
      u16.push(u16[u16.length - 1] + ch.length);
      cpAt.push(u16.length - 1);
    }
    const nCp = u16.length - 1;
    const slice = (s, e) => text.slice(u16[s], u16[e]);
    const tokens = [];  // [start, end] in code points
    for (const m of text.matchAll((TOKENIZERS[opts.tokenizer] || TOKENIZERS.words)())) {
      tokens.push([cpAt[m.index], cpAt[m.index + m[0].length]]);
    }
    const tokenAt = (cp) => {  // index of the first token ending after cp
      let lo = 0, hi = tokens.length;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (tokens[mid][1] <= cp) lo = mid + 1; else hi = mid; }
      return lo;
    };

    // Keys: 1-9 then 0 for the first ten types, then free letters.
    const keyOf = new Map(), labelOf = new Map();
    const pool = [..."1234567890", ...LETTERS];
    labels.forEach((l, i) => { if (i < pool.length) { keyOf.set(l, pool[i]); labelOf.set(pool[i], l); } });

    let spans = [];        // {start, end, label, draft}
    let sel = null;        // pending selection {start, end} in code points
    let kb = null;         // keyboard token range {anchor, focus} behind sel
    let active = null;     // the selected span (an element of spans)
    let noEntities = false;
    let notice = "";
    let lastValid = null;

    const known = new Set(labels);
    let dropped = 0;
    let pre = ctx.task.prelabel;
    if (typeof pre === "string") { try { pre = JSON.parse(pre); } catch (e) { pre = null; } }
    for (const p of Array.isArray(pre) ? pre : []) {
      const fits = p && Number.isInteger(p.start) && Number.isInteger(p.end) && p.start >= 0 && p.start < p.end &&
        p.end <= nCp && known.has(p.label) && /\S/u.test(slice(p.start, p.end));
      if (!fits) dropped++;
      else if (!spans.some((s) => s.start === p.start && s.end === p.end && s.label === p.label)) {
        spans.push({ start: p.start, end: p.end, label: p.label, draft: true });
      }
    }
    spans.sort(cmpSpan);

    // DOM
    const root = ctx.root;
    root.innerHTML = "";
    const wrap = document.createElement("div");
    wrap.className = "afs";
    wrap.innerHTML = `<style>${CSS}</style>
      <div class="afs-text" tabindex="0" role="textbox" aria-readonly="true" aria-multiline="true"
        aria-label="Text to annotate. Select words with the mouse or with Shift and the arrow keys, then press a type's key."></div>
      <div class="afs-legend" role="toolbar" aria-label="Entity types"></div>
      <div class="afs-status" role="status" aria-live="polite"></div>`;
    root.appendChild(wrap);
    const box = wrap.querySelector(".afs-text"), legend = wrap.querySelector(".afs-legend"), status = wrap.querySelector(".afs-status");
    legend.innerHTML = labels.map((l, i) => `<button type="button" data-label="${esc(l)}" title="${esc(l)}">` +
      `<span class="sw" style="background:${colors[i]}"></span>${esc(l)}${keyOf.has(l) ? ` <kbd>${esc(keyOf.get(l).toUpperCase())}</kbd>` : ""}</button>`).join("") +
      `<button type="button" class="none" data-none="1">No entities <kbd>N</kbd></button>`;

    function render() {
      // Pieces between span and selection boundaries (a few hundred nodes even for long texts, so a
      // re-render stays well within a frame); each piece knows its code-point start (data-s).
      const cuts = new Set([0, nCp]);
      for (const sp of spans) { cuts.add(sp.start); cuts.add(sp.end); }
      if (sel) { cuts.add(sel.start); cuts.add(sel.end); }
      const bounds = [...cuts].sort((a, b) => a - b);
      const starts = new Map(), ends = new Map();
      spans.forEach((sp, i) => {
        (starts.get(sp.start) || starts.set(sp.start, []).get(sp.start)).push(i);
        (ends.get(sp.end) || ends.set(sp.end, []).get(sp.end)).push(i);
      });
      const open = new Set();
      const activeAt = spans.indexOf(active);
      const parts = [];
      for (let b = 0; b < bounds.length - 1; b++) {
        const s = bounds[b], e = bounds[b + 1];
        for (const i of ends.get(s) || []) open.delete(i);
        for (const i of starts.get(s) || []) open.add(i);
        const cls = [], style = [];
        let tag = null, title = null;
        if (open.size) {
          // The shortest covering span gives the colour; any other covering spans show as underlines.
          const cover = [...open].sort((x, y) => (spans[x].end - spans[x].start) - (spans[y].end - spans[y].start));
          const top = spans[cover[0]];
          cls.push("m");
          if (cover.some((i) => spans[i].start === s)) cls.push("start");
          if (cover.some((i) => spans[i].end === e)) cls.push("end");
          if (top.draft) cls.push("draft");
          if (open.has(activeAt)) cls.push("active");
          style.push(`background-color:${colors[labels.indexOf(top.label)]}`);
          if (cover.length > 1) {
            style.push("box-shadow:" + cover.slice(1).map((i, k) => `0 ${3 * (k + 1)}px 0 ${colors[labels.indexOf(spans[i].label)]}`).join(","));
          }
          const closing = cover.filter((i) => spans[i].end === e);
          if (closing.length) tag = closing.map((i) => spans[i].label + (spans[i].draft ? "?" : "")).join(" + ");
          title = cover.map((i) => spans[i].label + (spans[i].draft ? " (suggested)" : "")).join(", ");
        }
        if (sel && s >= sel.start && e <= sel.end) cls.push("sel");
        parts.push(`<span data-s="${s}"${cls.length ? ` class="${cls.join(" ")}"` : ""}${style.length ? ` style="${style.join(";")}"` : ""}` +
          `${tag ? ` data-tag="${esc(tag)}"` : ""}${title ? ` title="${esc(title)}"` : ""}>${esc(slice(s, e))}</span>`);
      }
      const scroll = box.scrollTop;
      box.innerHTML = parts.join("");
      box.scrollTop = scroll;
      const focus = active ? active.start : sel ? (kb ? tokens[kb.focus][0] : sel.start) : null;
      if (focus !== null) {
        let lo = 0, hi = bounds.length - 2;  // the piece holding the focus
        while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (bounds[mid] <= focus) lo = mid; else hi = mid - 1; }
        const el = box.children[lo];
        if (el) el.scrollIntoView({ block: "nearest" });
      }
      renderStatus();
    }

    function problem() {
      const drafts = spans.filter((s) => s.draft).length;
      if (drafts) return `${drafts} suggested span${drafts > 1 ? "s" : ""} still to review: accept (A, or Shift+A for all), retype or delete`;
      if (!spans.length && !noEntities) return "no span marked: mark the entities, or press N if the text has none";
      if (!opts.allow_overlap) {
        let reach = -1;
        for (const s of spans) {  // kept sorted by start
          if (s.start < reach) return `"${slice(s.start, s.end)}" overlaps another span; this project does not allow overlaps`;
          reach = Math.max(reach, s.end);
        }
      }
      return null;
    }

    function renderStatus() {
      let html;
      if (active) {
        html = `Selected: <b>${esc(slice(active.start, active.end))}</b> — ${esc(active.label)}${active.draft ? " (suggested)" : ""}. ` +
          `Type key: retype · <kbd>Del</kbd> delete · <kbd>Shift+←/→</kbd> end · <kbd>,</kbd>/<kbd>.</kbd> start` +
          `${active.draft ? ' · <kbd>A</kbd> accept <button type="button" data-act="accept">Accept</button>' : ""}` +
          ` <button type="button" data-act="delete">Delete</button>`;
      } else if (sel) {
        html = `Selection: <b>${esc(slice(sel.start, sel.end))}</b> — press a type's key or click a type.`;
      } else if (noEntities && !spans.length) {
        html = "Answer: no entities. Submit to send it.";
      } else {
        html = `${spans.length} span${spans.length === 1 ? "" : "s"}. Select text to mark an entity.`;
      }
      const p = problem();
      const none = legend.querySelector("[data-none]");
      none.setAttribute("aria-pressed", String(noEntities && !spans.length));
      none.classList.toggle("on", noEntities && !spans.length);
      if (dropped) html += ` · ${dropped} suggested span${dropped > 1 ? "s" : ""} did not fit this text and were left out`;
      if (notice) html += ` · <b>${esc(notice)}</b>`;
      status.innerHTML = html + (p && !active && !sel ? ` <span class="afs-todo">(${esc(p)})</span>` : "");
      const valid = p === null;
      if (valid !== lastValid) { lastValid = valid; if (ctx.onChange) ctx.onChange(valid); }
    }

    function change(msg) { notice = msg || ""; render(); }

    function overlapping(start, end, except) {
      return spans.filter((s) => s !== except && s.start < end && start < s.end);
    }

    function snap(start, end) {
      if (opts.snap_to_tokens) {
        const first = tokenAt(start);
        let last = first;
        while (last + 1 < tokens.length && tokens[last + 1][0] < end) last++;
        if (first >= tokens.length || tokens[first][0] >= end) return null;
        return { start: Math.min(start, tokens[first][0]), end: Math.max(end, tokens[last][1]) };
      }
      const t = slice(start, end);
      const lead = Array.from(t.match(/^\s*/u)[0]).length, trail = Array.from(t.match(/\s*$/u)[0]).length;
      return end - trail > start + lead ? { start: start + lead, end: end - trail } : null;
    }

    function label(l) {
      if (active) {
        const twin = spans.find((s) => s !== active && s.start === active.start && s.end === active.end && s.label === l);
        if (twin) {  // retyped into a span that is already there: keep one
          spans.splice(spans.indexOf(active), 1);
          active = twin; twin.draft = false;
        } else {
          active.label = l; active.draft = false;
        }
        spans.sort(cmpSpan);
        return change(`${slice(active.start, active.end)} is ${l}`);
      }
      if (!sel) return change("select some text first");
      let msg = `marked ${slice(sel.start, sel.end)} as ${l}`;
      if (!opts.allow_overlap) {
        const gone = overlapping(sel.start, sel.end, null);
        if (gone.length) { spans = spans.filter((s) => !gone.includes(s)); msg += `, replacing ${gone.length} overlapping span${gone.length > 1 ? "s" : ""}`; }
      }
      if (spans.some((s) => s.start === sel.start && s.end === sel.end && s.label === l)) msg = "that span is already marked";
      else spans.push({ start: sel.start, end: sel.end, label: l, draft: false });
      spans.sort(cmpSpan);
      noEntities = false;
      active = spans.find((s) => s.start === sel.start && s.end === sel.end && s.label === l);
      sel = null; kb = null;
      change(msg);
    }

    function remove() {
      const i = spans.indexOf(active);
      const gone = active;
      spans.splice(i, 1);
      active = spans[i] || null;  // review goes on with the next span
      sel = null; kb = null;
      change(`deleted ${slice(gone.start, gone.end)} (${gone.label})`);
    }

    function accept(all) {
      if (all) {
        const n = spans.filter((s) => s.draft).length;
        spans.forEach((s) => { s.draft = false; });
        return change(n ? `accepted ${n} suggested span${n > 1 ? "s" : ""}` : "no suggestion left");
      }
      if (active && active.draft) active.draft = false;
      const next = spans.find((s) => s.draft);
      const msg = active ? `accepted ${slice(active.start, active.end)} (${active.label})` : "";
      active = next || null; sel = null; kb = null;
      change(next ? msg : (msg ? msg + "; no suggestion left" : "no suggestion left"));
    }

    function moveBoundary(which, dir) {  // one token at a time
      const s = active;
      let pos;
      if (which === "end") {
        const cands = tokens.map((t) => t[1]).filter((x) => (dir > 0 ? x > s.end : x < s.end) && x > s.start);
        pos = dir > 0 ? Math.min(...cands) : Math.max(...cands);
      } else {
        const cands = tokens.map((t) => t[0]).filter((x) => (dir > 0 ? x > s.start : x < s.start) && x < s.end);
        pos = dir > 0 ? Math.min(...cands) : Math.max(...cands);
      }
      if (!Number.isFinite(pos)) return change("the span cannot move further");
      const next = which === "end" ? { start: s.start, end: pos } : { start: pos, end: s.end };
      if (!opts.allow_overlap && overlapping(next.start, next.end, s).length) return change("that would overlap another span");
      if (spans.some((o) => o !== s && o.start === next.start && o.end === next.end && o.label === s.label)) {
        return change("that span is already marked");
      }
      s.start = next.start; s.end = next.end; s.draft = false;
      spans.sort(cmpSpan);
      change();
    }

    function setKb(anchor, focus) {
      kb = { anchor, focus };
      const a = Math.min(anchor, focus), b = Math.max(anchor, focus);
      sel = { start: tokens[a][0], end: tokens[b][1] };
      active = null;
      change();
    }

    function cursorFrom() {
      if (kb) return kb.focus;
      if (active) return tokenAt(active.start);
      if (sel) return tokenAt(sel.start);
      return -1;
    }

    function offsetOf(node, off) {  // a DOM position as a code-point offset of the text
      if (!box.contains(node)) return null;
      if (node.nodeType === Node.TEXT_NODE) {
        const piece = node.parentElement.closest("[data-s]");
        if (!piece) return null;
        return Number(piece.dataset.s) + Array.from(node.data.slice(0, off)).length;
      }
      if (node === box) return off >= box.childNodes.length ? nCp : Number(box.childNodes[off].dataset.s);
      const piece = node.closest("[data-s]");
      if (!piece) return null;
      const s = Number(piece.dataset.s);
      return off === 0 ? s : s + Array.from(piece.textContent).length;
    }

    function onMouseUp() {
      const selection = window.getSelection();
      if (!selection.rangeCount) return;
      const r = selection.getRangeAt(0);
      let a = offsetOf(r.startContainer, r.startOffset), b = offsetOf(r.endContainer, r.endOffset);
      if (a === null && b === null) return;  // a selection elsewhere on the page
      // A drag that ends beyond the text box runs to the start or end of the text.
      const outside = (node) => (box.compareDocumentPosition(node) & Node.DOCUMENT_POSITION_PRECEDING ? 0 : nCp);
      if (a === null) a = outside(r.startContainer);
      if (b === null) b = outside(r.endContainer);
      if (a === b) {  // a click: the innermost span there, or the word clicked
        const here = spans.filter((s) => s.start <= a && a < s.end).sort((x, y) => (x.end - x.start) - (y.end - y.start));
        if (here.length) {
          const i = here.indexOf(active);
          active = here[(i + 1) % here.length];  // clicking again cycles through nested spans
          sel = null; kb = null;
          return change();
        }
        const t = tokenAt(a);
        if (t < tokens.length && tokens[t][0] <= a) { selection.removeAllRanges(); return setKb(t, t); }
        active = null; sel = null; kb = null;
        return change();
      }
      const snapped = snap(Math.min(a, b), Math.max(a, b));
      selection.removeAllRanges();
      if (!snapped) return change("the selection holds no word");
      active = null;
      sel = snapped;
      const first = tokenAt(snapped.start);
      let last = tokenAt(snapped.end - 1);
      if (last >= tokens.length) last = tokens.length - 1;
      kb = first < tokens.length ? { anchor: first, focus: Math.max(first, last) } : null;
      box.focus({ preventScroll: true });
      change();
    }

    function onLegend(ev) {
      const b = ev.target.closest("button");
      if (!b) return;
      if (b.dataset.none) return handleKey({ key: "n", preventDefault() {} });
      label(b.dataset.label);
    }
    function onStatus(ev) {
      const b = ev.target.closest("button[data-act]");
      if (!b || !active) return;
      if (b.dataset.act === "delete") remove(); else accept(false);
    }

    function handleKey(ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return false;
      const t = ev.target;
      if (t && t.closest && t.closest("input, textarea, select")) return false;
      const key = ev.key, lower = key.length === 1 ? key.toLowerCase() : key;
      const done = () => { if (ev.preventDefault) ev.preventDefault(); return true; };
      if (!tokens.length && key !== "n" && key !== "N") return false;
      if (key === "ArrowRight" || key === "ArrowLeft") {
        const dir = key === "ArrowRight" ? 1 : -1;
        if (ev.shiftKey && active) { moveBoundary("end", dir); return done(); }
        const at = cursorFrom();
        const focus = Math.min(tokens.length - 1, Math.max(0, at < 0 ? 0 : at + dir));
        if (ev.shiftKey && kb) setKb(kb.anchor, focus); else setKb(focus, focus);
        return done();
      }
      if (key === "Home" || key === "End") { const i = key === "Home" ? 0 : tokens.length - 1; setKb(i, i); return done(); }
      if ((key === "," || key === ".") && active) { moveBoundary("start", key === "," ? -1 : 1); return done(); }
      if (key === "ArrowDown" || key === "ArrowUp") {
        if (!spans.length) return done();
        const ref = active ? active.start : sel ? sel.start : key === "ArrowDown" ? -1 : nCp + 1;
        const i = spans.indexOf(active);
        let next;
        if (active) next = spans[i + (key === "ArrowDown" ? 1 : -1)];
        else next = key === "ArrowDown" ? spans.find((s) => s.start >= ref) : [...spans].reverse().find((s) => s.start < ref);
        if (next) { active = next; sel = null; kb = null; change(); } else change(key === "ArrowDown" ? "last span" : "first span");
        return done();
      }
      if ((key === "Delete" || key === "Backspace") && active) { remove(); return done(); }
      if (key === "Escape" && (active || sel)) { active = null; sel = null; kb = null; change(); return done(); }
      if (lower === "a") { accept(ev.shiftKey); return done(); }
      if (lower === "n" && !ev.shiftKey) {
        if (spans.some((s) => !s.draft)) { change("N (no entities) needs an empty answer: delete the marked spans first"); return done(); }
        const n = spans.length;
        spans = []; active = null; sel = null; kb = null; noEntities = true;
        change(n ? `dropped ${n} suggested span${n > 1 ? "s" : ""}` : "");
        if (typeof ctx.submit === "function") ctx.submit();
        return done();
      }
      if (!ev.shiftKey && labelOf.has(lower)) { label(labelOf.get(lower)); return done(); }
      return false;
    }

    document.addEventListener("mouseup", onMouseUp);
    legend.addEventListener("click", onLegend);
    status.addEventListener("click", onStatus);
    render();

    return {
      keys: [
        { key: "mouse drag / click", action: "select words; click a span to select it" },
        { key: "← →", action: "move the word cursor" },
        { key: "Shift+← →", action: "extend the selection; on a selected span, move its end" },
        { key: ", .", action: "move the selected span's start" },
        { key: "↑ ↓", action: "previous / next span" },
        ...labels.filter((l) => keyOf.has(l)).map((l) => ({ key: keyOf.get(l).toUpperCase(), action: `mark as ${l} (or retype the selected span)` })),
        { key: "Del", action: "delete the selected span" },
        { key: "A", action: "accept the selected suggestion and go to the next" },
        { key: "Shift+A", action: "accept every suggestion" },
        { key: "N", action: "no entities in this text" },
        { key: "Esc", action: "clear the selection" },
      ],
      answer() {
        const p = problem();
        if (p) throw new Error(p);
        return spans.map((s) => ({ start: s.start, end: s.end, label: s.label })).sort(cmpSpan);
      },
      handleKey,
      setAnswer(answer) {  // the adjudicator starts from someone's answer (the conflict view's pick): theirs to edit, no drafts
        const list = Array.isArray(answer) ? answer : [];
        spans = list.filter((p) => p && Number.isInteger(p.start) && Number.isInteger(p.end) && p.start < p.end &&
          p.end <= nCp && known.has(p.label)).map((p) => ({ start: p.start, end: p.end, label: p.label, draft: false }));
        spans.sort(cmpSpan);
        active = null; sel = null; kb = null; noEntities = !list.length;
        change(list.length ? `started from an answer with ${spans.length} span${spans.length === 1 ? "" : "s"}` : "started from \"no entities\"");
      },
      destroy() {
        document.removeEventListener("mouseup", onMouseUp);
        legend.removeEventListener("click", onLegend);
        status.removeEventListener("click", onStatus);
        root.innerHTML = "";
      },
    };
  }

  const CMP_CSS = `
  .afs-cmp { display: flex; flex-direction: column; gap: .4rem; }
  .afs-cmp-text { font-size: 1.05rem; line-height: 2.3; white-space: pre-wrap; max-height: 40vh; overflow: auto;
    padding: .2rem .3rem; border: 1px solid #d5d9e2; border-radius: 6px; }
  .afs-cmp-text .c { cursor: help; }
  .afs-cmp table { border-collapse: collapse; font-size: .9rem; }
  .afs-cmp caption { text-align: left; font-weight: 600; padding: .2rem 0; }
  .afs-cmp th, .afs-cmp td { text-align: left; padding: .15rem .5rem; border-bottom: 1px solid #e3e6ec; }`;

  // Compare mode (the adjudicator's conflict view, annotation_app/web/conflict.js): every answer's spans
  // overlaid on the text, one underline per source in the source's colour (stacked where answers
  // overlap; hover names who marked what), and the consensus spans with their confidence.
  function compare(cctx) {
    const text = cctx.task.payload || "";
    const u16 = [0];
    for (const ch of text) u16.push(u16[u16.length - 1] + ch.length);
    const nCp = u16.length - 1;
    const slice = (s, e) => text.slice(u16[s], u16[e]);
    const visible = cctx.answers.map(() => true);
    const parts = cctx.answers.flatMap((a, i) => (Array.isArray(a.answer) ? a.answer : [])
      .filter((p) => Number.isInteger(p.start) && Number.isInteger(p.end) && 0 <= p.start && p.start < p.end && p.end <= nCp)
      .map((p) => ({ start: p.start, end: p.end, label: String(p.label), i })));
    const wrap = document.createElement("div");
    wrap.className = "afs-cmp";
    wrap.innerHTML = `<style>${CMP_CSS}</style><div class="afs-cmp-text" aria-label="every answer's spans"></div><table class="afs-cmp-post"></table>`;
    cctx.root.appendChild(wrap);
    const box = wrap.querySelector(".afs-cmp-text"), post = wrap.querySelector(".afs-cmp-post");
    function render() {
      const shown = parts.filter((p) => visible[p.i]);
      const cuts = new Set([0, nCp]);
      for (const p of shown) { cuts.add(p.start); cuts.add(p.end); }
      const b = [...cuts].sort((x, y) => x - y);
      let html = "";
      for (let k = 0; k + 1 < b.length; k++) {
        const s = b[k], e = b[k + 1], piece = esc(slice(s, e));
        const over = shown.filter((p) => p.start <= s && e <= p.end);
        if (!over.length) { html += piece; continue; }
        const lines = over.map((p, j) => `inset 0 -${3 * (j + 1)}px 0 ${cctx.answers[p.i].colour}`).join(", ");
        const who = over.map((p) => `${cctx.answers[p.i].source_id}: ${p.label}`).join("\n");
        html += `<span class="c" data-sources="${over.map((p) => p.i).join(" ")}" data-labels="${esc(over.map((p) => p.label).join(" "))}"` +
          ` style="box-shadow:${lines};padding-bottom:${3 * over.length}px" title="${esc(who)}">${piece}</span>`;
      }
      box.innerHTML = html;
      const rows = (cctx.posterior || []).filter((p) => p.end <= nCp).map((p) => `<tr><td>“${esc(slice(p.start, p.end))}”</td>` +
        `<td>${esc(String(p.label))}</td><td>${p.p == null ? "–" : p.p.toFixed(2)}</td><td>${(p.sources || []).map(esc).join(", ")}</td></tr>`);
      post.innerHTML = "<caption>Consensus spans</caption><thead><tr><th>span</th><th>type</th><th>confidence</th><th>drawn by</th></tr></thead>" +
        `<tbody>${rows.join("") || "<tr><td colspan=\"4\">no entities</td></tr>"}</tbody>`;
    }
    render();
    return {
      toggle(i, on) { visible[i] = on; render(); },
      describe(answer) {
        const list = Array.isArray(answer) ? answer : [];
        return list.length ? list.map((p) => `“${slice(p.start, p.end)}” ${p.label}`).join(", ") : "no entities";
      },
      destroy() { wrap.remove(); },
    };
  }
  factory.compare = compare;

  window.annoflowKinds = window.annoflowKinds || { factories: {}, register(name, f) { this.factories[name] = f; } };
  window.annoflowKinds.register("spans", factory);
})();
