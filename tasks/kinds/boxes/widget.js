// The box tool of the annotation page: draw, move, resize and label boxes on an image, on a canvas.
//
// Loaded by the page for `task_kind = "boxes"`; it registers a factory with the page's shell, which owns
// leasing, submit, skip and layout (see tasks/kinds/boxes/queue.py for the server side, which checks
// every answer again). The factory is marked `drawsMedia`: the tool draws the image itself, so the shell
// leaves the picture to it. Coordinates in and out are pixels of the stored image, (x, y) the top-left
// corner; the view (zoom, pan) only changes how they are shown. A small image is fitted to the space,
// so a 96×64 picture is drawn several times larger, blocky rather than blurred.
// Suggested boxes (pre-labels) start as drafts (dashed): each one must be accepted, fixed (moved,
// resized or relabelled) or deleted before the answer can be submitted; an empty answer is given by
// the "no objects" key, so a bare Enter never sends an unreviewed answer.
// The canvas carries `afb` ({view(), boxes()}) so tests and the benchmark can find boxes on screen.
"use strict";
(function () {
  const FALLBACK = (i) => `hsl(${(i * 67) % 360} 80% 60%)`;
  const HANDLE = 5;        // half the side of a resize handle, screen px
  const GRAB = 7;          // how near (screen px) a pointer must be to a handle or edge to take it
  const MAX_ZOOM = 40;
  const CSS = `
  .afb { display: flex; flex-direction: column; gap: .4rem; min-height: 0; height: 100%; }
  .afb-bar { display: flex; flex-wrap: wrap; gap: .35rem; align-items: center; flex: none; }
  .afb-bar button { display: inline-flex; gap: .35rem; align-items: center; padding: .25rem .55rem; font-size: .92rem;
    border: 2px solid #c9cfdb; border-radius: 6px; background: #fff; cursor: pointer; color: #1d2330; }
  .afb-bar button.on { border-color: #1d2330; background: #eef2fb; }
  .afb-bar .sw { width: .95rem; height: .95rem; border-radius: 3px; border: 1px solid rgba(0,0,0,.3); }
  .afb-bar .gap { margin-left: auto; }
  .afb-stage { position: relative; flex: 1 1 auto; min-height: 220px; border: 1px solid #d5d9e2; border-radius: 6px;
    overflow: hidden; background: #2b2f38; outline: none; }
  .afb-stage:focus-visible { box-shadow: 0 0 0 3px #9fb6e8; }
  .afb-stage canvas { position: absolute; inset: 0; width: 100%; height: 100%; display: block; }
  .afb-status { font-size: .88rem; color: #333; min-height: 1.25rem; flex: none; }
  .afb kbd { background: #eef0f4; border: 1px solid #d5d9e2; border-radius: 3px; padding: 0 .3rem; font-size: .78rem; }`;

  const round2 = (v) => Math.round(v * 100) / 100;
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const esc = (t) => String(t).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

  function factory(ctx) {
    const labels = ctx.labels.slice();
    const opts = Object.assign({ min_size_px: 2, no_objects_key: "0" }, ctx.options || {});
    const colors = labels.map((_, i) => (opts.colors && opts.colors[i]) || FALLBACK(i));
    const keys = labels.map((_, i) => (opts.keys && opts.keys[i]) || (i < 9 ? String(i + 1) : ""));
    const noKey = opts.no_objects_key;
    const colorOf = new Map(labels.map((l, i) => [l, colors[i]]));

    // --- state: boxes in image pixels; drafts are unreviewed suggestions ---
    let boxes = (Array.isArray(ctx.task.prelabel) ? ctx.task.prelabel : []).map((b) =>
      ({ x: +b.x, y: +b.y, w: +b.w, h: +b.h, label: String(b.label), draft: true }));
    let selected = -1, current = 0;                 // selected box; the label new boxes get
    let img = null, iw = 0, ih = 0;                 // the image and its natural size
    let scale = 1, ox = 0, oy = 0, fitted = true;   // view: screen = image * scale + offset
    let drag = null, spaceDown = false, hover = null, frame = 0, message = "";
    let answerEmpty = false;                        // "no objects" was asked for

    // --- DOM ---
    if (!document.getElementById("afb-css")) {
      const st = document.createElement("style"); st.id = "afb-css"; st.textContent = CSS; document.head.appendChild(st);
    }
    const root = ctx.root;
    root.innerHTML = "";
    const wrap = document.createElement("div"); wrap.className = "afb";
    const bar = document.createElement("div"); bar.className = "afb-bar";
    const stage = document.createElement("div"); stage.className = "afb-stage"; stage.tabIndex = 0;
    stage.setAttribute("aria-label", "image: drag to draw a box");
    const canvas = document.createElement("canvas");
    const status = document.createElement("div"); status.className = "afb-status"; status.setAttribute("aria-live", "polite");
    stage.appendChild(canvas); wrap.append(bar, stage, status); root.appendChild(wrap);
    const g = canvas.getContext("2d");

    const labelButtons = labels.map((label, i) => {
      const b = document.createElement("button"); b.type = "button";
      b.innerHTML = `<span class="sw" style="background:${esc(colors[i])}"></span>${esc(label)}` +
        (keys[i] ? ` <kbd>${esc(keys[i])}</kbd>` : "");
      b.onclick = () => { setLabel(i); stage.focus(); };
      bar.appendChild(b); return b;
    });
    const tool = (text, title, fn, cls) => {
      const b = document.createElement("button"); b.type = "button"; b.innerHTML = text; b.title = title;
      if (cls) b.className = cls;
      b.onclick = () => { fn(); stage.focus(); }; bar.appendChild(b); return b;
    };
    tool(`No objects <kbd>${esc(noKey)}</kbd>`, "this image has no objects to box (submits)", noObjects, "gap");
    tool("−", "zoom out (-)", () => zoomAt(1 / 1.25));
    tool("+", "zoom in (+)", () => zoomAt(1.25));
    tool("Fit", "fit the image (Home)", fit);

    // --- geometry ---
    const toScreen = (x, y) => [x * scale + ox, y * scale + oy];
    const toImage = (sx, sy) => [(sx - ox) / scale, (sy - oy) / scale];
    const clampBox = (b) => {  // keep a box inside the image, its size kept when it can be
      if (!iw) return b;
      b.w = Math.min(b.w, iw); b.h = Math.min(b.h, ih);
      b.x = clamp(b.x, 0, iw - b.w); b.y = clamp(b.y, 0, ih - b.h); return b;
    };
    function handles(b) {  // [name, sx, sy]: corners and edge middles on screen
      const [x1, y1] = toScreen(b.x, b.y), [x2, y2] = toScreen(b.x + b.w, b.y + b.h);
      const mx = (x1 + x2) / 2, my = (y1 + y2) / 2;
      return [["nw", x1, y1], ["n", mx, y1], ["ne", x2, y1], ["e", x2, my], ["se", x2, y2], ["s", mx, y2],
              ["sw", x1, y2], ["w", x1, my]];
    }
    function hit(sx, sy) {  // {index, handle} under the pointer: the selected box's handles first, then the smallest box
      if (selected >= 0) {
        for (const [name, hx, hy] of handles(boxes[selected])) {
          if (Math.abs(sx - hx) <= GRAB && Math.abs(sy - hy) <= GRAB) return { index: selected, handle: name };
        }
      }
      const [x, y] = toImage(sx, sy), pad = GRAB / scale;
      let best = -1, area = Infinity;
      for (let i = 0; i < boxes.length; i++) {
        const b = boxes[i];
        if (x >= b.x - pad && x <= b.x + b.w + pad && y >= b.y - pad && y <= b.y + b.h + pad && b.w * b.h < area) {
          best = i; area = b.w * b.h;
        }
      }
      return best >= 0 ? { index: best, handle: null } : null;
    }

    // --- view ---
    function resize() {
      const r = stage.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
      canvas.width = Math.max(1, Math.round(r.width * dpr)); canvas.height = Math.max(1, Math.round(r.height * dpr));
      if (fitted) fit(); else draw();
    }
    function fit() {
      const r = stage.getBoundingClientRect();
      if (!iw || !r.width) { draw(); return; }
      scale = Math.min(r.width / iw, r.height / ih) * 0.98;
      ox = (r.width - iw * scale) / 2; oy = (r.height - ih * scale) / 2; fitted = true; draw();
    }
    function zoomAt(factor, sx, sy) {
      const r = stage.getBoundingClientRect();
      if (sx === undefined) { sx = r.width / 2; sy = r.height / 2; }
      const fitScale = iw ? Math.min(r.width / iw, r.height / ih) * 0.98 : 1;
      const next = clamp(scale * factor, fitScale / 4, fitScale * MAX_ZOOM);
      const [x, y] = toImage(sx, sy);
      scale = next; ox = sx - x * scale; oy = sy - y * scale; fitted = false; draw();
    }

    // --- drawing (one frame per burst of changes) ---
    function draw() { if (!frame) frame = requestAnimationFrame(paint); }
    function paint() {
      frame = 0;
      const dpr = window.devicePixelRatio || 1;
      g.setTransform(1, 0, 0, 1, 0, 0);
      g.fillStyle = "#2b2f38"; g.fillRect(0, 0, canvas.width, canvas.height);
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      if (img) {
        g.imageSmoothingEnabled = scale < 2;
        g.drawImage(img, ox, oy, iw * scale, ih * scale);
      }
      g.font = "600 12px system-ui, sans-serif"; g.textBaseline = "top";
      const order = boxes.map((_, i) => i).filter((i) => i !== selected);
      if (selected >= 0) order.push(selected);  // the selected box on top
      for (const i of order) {
        const b = boxes[i], [x1, y1] = toScreen(b.x, b.y), w = b.w * scale, h = b.h * scale;
        const color = colorOf.get(b.label) || "#ff00ff", on = i === selected;
        g.fillStyle = color; g.globalAlpha = on ? 0.22 : 0.12; g.fillRect(x1, y1, w, h); g.globalAlpha = 1;
        g.setLineDash(b.draft ? [6, 4] : []);
        g.lineWidth = on ? 4 : 3; g.strokeStyle = "rgba(0,0,0,.75)"; g.strokeRect(x1, y1, w, h);
        g.lineWidth = on ? 2 : 1.5; g.strokeStyle = color; g.strokeRect(x1, y1, w, h);
        g.setLineDash([]);
        const tag = b.draft ? `${b.label}?` : b.label, tw = g.measureText(tag).width + 8;
        const ty = y1 >= 16 ? y1 - 16 : y1;
        g.fillStyle = on ? "#1d2330" : "rgba(29,35,48,.8)"; g.fillRect(x1, ty, tw, 16);
        g.fillStyle = "#fff"; g.fillText(tag, x1 + 4, ty + 2);
      }
      if (selected >= 0) {
        for (const [, hx, hy] of handles(boxes[selected])) {
          g.fillStyle = "#fff"; g.fillRect(hx - HANDLE, hy - HANDLE, 2 * HANDLE, 2 * HANDLE);
          g.lineWidth = 1.5; g.strokeStyle = "#1d2330"; g.strokeRect(hx - HANDLE, hy - HANDLE, 2 * HANDLE, 2 * HANDLE);
        }
      }
      if (drag && drag.mode === "draw") {
        const [x1, y1] = toScreen(drag.box.x, drag.box.y);
        g.setLineDash([4, 3]); g.lineWidth = 2; g.strokeStyle = colors[current]; g.strokeRect(x1, y1, drag.box.w * scale, drag.box.h * scale);
        g.setLineDash([]);
      }
      stage.style.cursor = spaceDown || (drag && drag.mode === "pan") ? "grab" : cursorFor(hover);
    }
    function cursorFor(h) {
      if (!h) return "crosshair";
      if (!h.handle) return "move";
      return { n: "ns-resize", s: "ns-resize", e: "ew-resize", w: "ew-resize", nw: "nwse-resize", se: "nwse-resize",
               ne: "nesw-resize", sw: "nesw-resize" }[h.handle];
    }

    // --- answer state ---
    const drafts = () => boxes.reduce((n, b) => n + (b.draft ? 1 : 0), 0);
    function changed(note) {
      if (note !== undefined) message = note;
      labelButtons.forEach((b, i) => b.classList.toggle("on", i === current));
      const n = boxes.length, d = drafts();
      let text = `${n} box${n === 1 ? "" : "es"}`;
      if (d) text += ` · ${d} suggested, to accept (<kbd>A</kbd>, all: <kbd>Shift+A</kbd>), fix or delete`;
      if (selected >= 0) {
        const b = boxes[selected];
        text += ` · selected: ${esc(b.label)} ${Math.round(b.x)},${Math.round(b.y)} ${Math.round(b.w)}×${Math.round(b.h)} px`;
      } else text += ` · new boxes: ${esc(labels[current])}`;
      if (!n) text += ` · none yet: draw one, or <kbd>${esc(noKey)}</kbd> for no objects`;
      status.innerHTML = text + (message ? ` · <strong>${esc(message)}</strong>` : "");
      message = "";
      ctx.onChange(n > 0 ? d === 0 : answerEmpty);
      draw();
    }
    function select(i) { selected = i; changed(); }
    function setLabel(i) {
      current = i;
      if (selected >= 0) { boxes[selected].label = labels[i]; boxes[selected].draft = false; }
      changed();
    }
    function removeSelected() {
      if (selected < 0) return;
      boxes.splice(selected, 1); selected = Math.min(selected, boxes.length - 1); changed("box deleted");
    }
    function accept(all) {  // one suggestion: accept it and go to the next one still to review
      if (all) boxes.forEach((b) => { b.draft = false; });
      else if (selected >= 0) {
        boxes[selected].draft = false;
        const later = boxes.findIndex((b, i) => b.draft && i > selected), first = boxes.findIndex((b) => b.draft);
        if (first >= 0) selected = later >= 0 ? later : first;
      }
      changed();
    }
    function noObjects() {  // drop the suggestions; submit "no objects" unless the person drew boxes of their own
      const own = boxes.filter((b) => !b.draft).length;
      if (own) { changed(`${own} box${own === 1 ? "" : "es"} drawn: delete them first to answer "no objects"`); return; }
      boxes = []; selected = -1; answerEmpty = true; changed();
      if (ctx.submit) ctx.submit();
    }

    // --- pointer ---
    const local = (ev) => { const r = stage.getBoundingClientRect(); return [ev.clientX - r.left, ev.clientY - r.top]; };
    stage.addEventListener("pointerdown", (ev) => {
      stage.focus();
      const [sx, sy] = local(ev);
      try { stage.setPointerCapture(ev.pointerId); } catch (e) { /* a synthetic pointer: no capture */ }
      if (spaceDown || ev.button === 1) { drag = { mode: "pan", sx, sy, ox, oy }; ev.preventDefault(); draw(); return; }
      if (ev.button !== 0 || !img) return;
      const h = hit(sx, sy), [x, y] = toImage(sx, sy);
      if (h) {
        selected = h.index;
        const b = boxes[h.index];
        drag = { mode: h.handle ? "resize" : "move", handle: h.handle, x, y, start: { ...b }, moved: false };
      } else {
        selected = -1;
        const px = clamp(x, 0, iw), py = clamp(y, 0, ih);
        drag = { mode: "draw", x: px, y: py, box: { x: px, y: py, w: 0, h: 0 } };
      }
      changed();
    });
    stage.addEventListener("pointermove", (ev) => {
      const [sx, sy] = local(ev);
      if (!drag) { const h = hit(sx, sy); if ((h && h.handle) !== (hover && hover.handle) || !h !== !hover) { hover = h; draw(); } return; }
      if (drag.mode === "pan") { ox = drag.ox + sx - drag.sx; oy = drag.oy + sy - drag.sy; fitted = false; draw(); return; }
      const [x, y] = toImage(sx, sy);
      if (drag.mode === "draw") {
        const px = clamp(x, 0, iw), py = clamp(y, 0, ih);
        drag.box = { x: Math.min(drag.x, px), y: Math.min(drag.y, py), w: Math.abs(px - drag.x), h: Math.abs(py - drag.y) };
      } else if (drag.mode === "move") {
        const b = boxes[selected], s = drag.start;
        b.x = s.x + x - drag.x; b.y = s.y + y - drag.y; clampBox(b); drag.moved = true;
      } else {  // resize: move the edges the handle holds, never past the opposite edge
        const b = boxes[selected], s = drag.start, hd = drag.handle, min = opts.min_size_px;
        const px = clamp(x, 0, iw), py = clamp(y, 0, ih);
        let x1 = s.x, y1 = s.y, x2 = s.x + s.w, y2 = s.y + s.h;
        if (hd.includes("w")) x1 = Math.min(px, x2 - min);
        if (hd.includes("e")) x2 = Math.max(px, x1 + min);
        if (hd.includes("n")) y1 = Math.min(py, y2 - min);
        if (hd.includes("s")) y2 = Math.max(py, y1 + min);
        b.x = x1; b.y = y1; b.w = x2 - x1; b.h = y2 - y1; drag.moved = true;
      }
      draw();
    });
    const endDrag = () => {
      if (!drag) return;
      const d = drag; drag = null;
      if (d.mode === "draw") {
        const b = d.box;
        if (b.w >= opts.min_size_px && b.h >= opts.min_size_px) {
          boxes.push({ ...b, label: labels[current], draft: false }); selected = boxes.length - 1; changed();
        } else if (b.w > 0 || b.h > 0) changed(`too small: boxes are at least ${opts.min_size_px} px wide and high`);
        else changed();
      } else if ((d.mode === "move" || d.mode === "resize") && d.moved) {
        boxes[selected].draft = false; changed();  // a fixed suggestion is reviewed
      } else draw();
    };
    stage.addEventListener("pointerup", endDrag);
    stage.addEventListener("pointercancel", endDrag);
    stage.addEventListener("lostpointercapture", endDrag);
    stage.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const [sx, sy] = local(ev);
      zoomAt(Math.exp(-ev.deltaY * 0.0015), sx, sy);
    }, { passive: false });
    stage.addEventListener("auxclick", (ev) => ev.preventDefault());
    const onKeyUp = (ev) => { if (ev.key === " ") { spaceDown = false; draw(); } };
    document.addEventListener("keyup", onKeyUp);
    const observer = new ResizeObserver(resize);
    observer.observe(stage);

    // --- the image ---
    if (ctx.task.media_url) {
      const im = new Image();
      im.onload = () => { img = im; iw = im.naturalWidth; ih = im.naturalHeight; canvas.dataset.ready = "1"; resize(); changed(); };
      im.onerror = () => changed("the image could not be loaded; skip this task");
      im.src = ctx.task.media_url;
    } else changed("this task has no image; skip it");
    changed();

    function nudge(dx, dy) {
      if (selected < 0) return false;
      const b = boxes[selected]; b.x += dx; b.y += dy; clampBox(b); b.draft = false; changed(); return true;
    }

    function handleKey(ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return false;
      const k = ev.key;
      if (k === " ") { spaceDown = true; draw(); return true; }
      if (k === "Delete" || k === "Backspace") { removeSelected(); return true; }
      if (k === noKey) { noObjects(); return true; }
      if (k === "+" || k === "=") { zoomAt(1.25); return true; }
      if (k === "-" || k === "_") { zoomAt(1 / 1.25); return true; }
      if (k === "Home") { fit(); return true; }
      if (k === "Escape" && selected >= 0) { select(-1); return true; }
      if (k === "Tab" || k === "n" || k === "N") {
        if (!boxes.length) return k === "Tab";
        const step = ev.shiftKey ? -1 : 1;
        select(((selected < 0 ? (step > 0 ? -1 : 0) : selected) + step + boxes.length) % boxes.length); return true;
      }
      if (k === "A") { accept(true); return true; }
      if (k === "a") { accept(false); return true; }
      if (k.startsWith("Arrow")) {
        const step = ev.shiftKey ? 10 : 1;
        return nudge(k === "ArrowLeft" ? -step : k === "ArrowRight" ? step : 0, k === "ArrowUp" ? -step : k === "ArrowDown" ? step : 0);
      }
      const li = keys.indexOf(k.length === 1 ? k.toLowerCase() : k);
      if (li >= 0 && k.length === 1) { setLabel(li); return true; }
      return false;
    }

    function answer() {
      if (answerEmpty && !boxes.length) return [];
      const d = drafts();
      if (d) throw new Error(`${d} suggested box${d === 1 ? " is" : "es are"} not reviewed: accept (A), fix or delete each`);
      if (!boxes.length) throw new Error(`no boxes: draw one, or press ${noKey} if the image has no objects`);
      return boxes.map((b) => {
        const c = clampBox({ ...b });
        return { x: round2(c.x), y: round2(c.y), w: round2(c.w), h: round2(c.h), label: c.label };
      });
    }

    canvas.afb = { view: () => ({ scale, ox, oy, iw, ih, rect: stage.getBoundingClientRect().toJSON() }),
                   boxes: () => boxes.map((b) => ({ ...b })), selected: () => selected,
                   task: ctx.task, labels, options: ctx.options };

    function setAnswer(answer) {  // the adjudicator starts from someone's answer (the conflict view's pick): no drafts
      const list = Array.isArray(answer) ? answer : [];
      boxes = list.filter((b) => b && labels.includes(String(b.label)))
        .map((b) => ({ x: +b.x, y: +b.y, w: +b.w, h: +b.h, label: String(b.label), draft: false }));
      selected = -1; answerEmpty = !list.length;
      changed(`started from an answer with ${boxes.length} box${boxes.length === 1 ? "" : "es"}`);
    }

    return {
      answer, handleKey, setAnswer,
      destroy() { observer.disconnect(); document.removeEventListener("keyup", onKeyUp); if (frame) cancelAnimationFrame(frame); },
      keys: [
        { key: "drag", action: "draw a box (on empty image)" },
        { key: "drag box / handle", action: "move / resize" },
        ...labels.map((l, i) => ({ key: keys[i], action: `label ${l}` })).filter((x) => x.key),
        { key: "Del", action: "delete box" },
        { key: "Tab / N", action: "next box" },
        { key: "A", action: "accept suggestion (Shift+A: all)" },
        { key: "←↑→↓", action: "nudge 1 px (Shift: 10)" },
        { key: noKey, action: "no objects (submits)" },
        { key: "wheel / + −", action: "zoom" },
        { key: "Space+drag / middle drag", action: "pan" },
        { key: "Home", action: "fit image" },
      ],
    };
  }

  // Compare mode (the adjudicator's conflict view, annotation_app/web/conflict.js): the image with every
  // answer's boxes overlaid, each source in its colour and each box named by its label; the consensus
  // boxes are listed with their confidence and who drew them.
  function compare(cctx) {
    const visible = cctx.answers.map(() => true);
    const wrap = document.createElement("div");
    wrap.className = "afb-cmp";
    wrap.style.cssText = "display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start";
    wrap.innerHTML = `<canvas style="display:block;max-width:100%;border:1px solid #d5d9e2;border-radius:6px;background:#2b2f38"></canvas>
      <table style="border-collapse:collapse;font-size:.9rem"></table>`;
    cctx.root.appendChild(wrap);
    const canvas = wrap.querySelector("canvas"), table = wrap.querySelector("table"), g = canvas.getContext("2d");
    const img = new Image();
    function paint() {
      if (!img.naturalWidth) return;
      const s = Math.min(560 / img.naturalWidth, 320 / img.naturalHeight, 8);
      canvas.width = Math.round(img.naturalWidth * s); canvas.height = Math.round(img.naturalHeight * s);
      g.imageSmoothingEnabled = s < 2;
      g.drawImage(img, 0, 0, canvas.width, canvas.height);
      g.font = "12px system-ui, sans-serif"; g.lineWidth = 2;
      cctx.answers.forEach((a, i) => {
        if (!visible[i]) return;
        for (const b of Array.isArray(a.answer) ? a.answer : []) {
          g.strokeStyle = a.colour; g.setLineDash(a.source_type === "human" ? [] : [6, 3]);
          g.strokeRect(b.x * s, b.y * s, b.w * s, b.h * s);
          g.fillStyle = a.colour; g.fillText(String(b.label), b.x * s + 2, Math.max(11, b.y * s - 3));
        }
      });
      g.setLineDash([]);
    }
    img.onload = paint;
    if (cctx.task.media_url) img.src = cctx.task.media_url;
    const cell = "padding:.15rem .5rem;border-bottom:1px solid #e3e6ec;text-align:left";
    table.innerHTML = `<caption style="text-align:left;font-weight:600">Consensus boxes</caption>` +
      ((cctx.posterior || []).map((p) => `<tr><td style="${cell}">${esc(p.label)}</td><td style="${cell}">` +
        `${Math.round(p.x)},${Math.round(p.y)} ${Math.round(p.w)}×${Math.round(p.h)} px</td><td style="${cell}">` +
        `${p.p == null ? "–" : p.p.toFixed(2)}</td><td style="${cell}">${(p.sources || []).map(esc).join(", ")}</td></tr>`).join("") ||
        `<tr><td style="${cell}">no objects</td></tr>`);
    return {
      toggle(i, on) { visible[i] = on; paint(); },
      describe(answer) {
        const list = Array.isArray(answer) ? answer : [];
        if (!list.length) return "no objects";
        const n = new Map();
        for (const b of list) n.set(b.label, (n.get(b.label) || 0) + 1);
        return [...n].map(([l, k]) => `${k} ${l}`).join(", ");
      },
      destroy() { wrap.remove(); },
    };
  }

  factory.drawsMedia = true;
  factory.compare = compare;
  window.annoflowKinds.register("boxes", factory);
})();
