// The audio tools the transcript and segments widgets share: the clip's waveform drawn on a canvas from
// the decoded audio (no library, nothing from the network), playback with replay and speed, and, for
// segments, regions drawn and adjusted on the waveform with a list of them. Served at
// /assets/audio_tools.js; a widget loads it once and calls window.annoflowAudio.player(options).
"use strict";
(() => {
  if (window.annoflowAudio) return;
  const SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 2];
  const EDGE_PX = 6, MIN_DRAG_PX = 4, MIN_REGION_S = 0.02, MIN_SPP = 0.0005;  // zoomed in to 0.5 ms a pixel
  const css = `
  .afa { display: flex; flex-direction: column; gap: .5rem; min-height: 0; margin-bottom: .6rem; }
  .afa-bar { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; font-size: .9rem; }
  .afa-bar button { padding: .3rem .7rem; border-radius: 5px; border: 1px solid #c9cfdb; background: #fff; cursor: pointer; }
  .afa-bar select { font-size: .9rem; padding: .15rem; }
  .afa-time { font-variant-numeric: tabular-nums; color: #444; }
  .afa-status { color: #555; margin-left: auto; }
  .afa-status.bad { color: #b00020; }
  .afa-wave { position: relative; height: 128px; background: #f3f5f9; border: 1px solid #d5d9e2; border-radius: 6px;
              cursor: crosshair; user-select: none; touch-action: none; flex: none; overflow: hidden; }
  .afa-wave canvas { position: absolute; inset: 0; width: 100%; height: 100%; }
  .afa-head { position: absolute; top: 0; bottom: 0; width: 2px; background: #d3302f; pointer-events: none; left: 0; }
  .afa-region { position: absolute; top: 0; bottom: 0; border-left: 2px solid; border-right: 2px solid; opacity: .9; }
  .afa-region.selected { outline: 2px solid #1d2330; outline-offset: -2px; z-index: 2; }
  .afa-region span { position: absolute; top: 2px; left: 4px; font-size: .75rem; background: rgba(255,255,255,.85);
                     padding: 0 .25rem; border-radius: 3px; white-space: nowrap; pointer-events: none; }
  .afa-list { list-style: none; margin: 0; padding: 0; max-height: 12rem; overflow: auto; font-size: .9rem; }
  .afa-list li { display: flex; gap: .5rem; align-items: center; padding: .2rem .4rem; border-radius: 4px; cursor: pointer; }
  .afa-list li.selected { background: #e6edfc; }
  .afa-list .sw { width: .8rem; height: .8rem; border-radius: 2px; flex: none; }
  .afa-list .times { font-variant-numeric: tabular-nums; color: #444; }
  .afa-list input { flex: 1; font-size: .9rem; padding: .15rem .3rem; }
  .afa-list button { border: 0; background: none; cursor: pointer; font-size: .9rem; }
  .afa-labels { display: flex; gap: .4rem; flex-wrap: wrap; font-size: .85rem; }
  .afa-labels span { padding: .1rem .45rem; border-radius: 4px; border: 2px solid transparent; }
  .afa-labels span.active { border-color: #1d2330; }`;

  function addStyle() {
    if (document.getElementById("afa-style")) return;
    const s = document.createElement("style"); s.id = "afa-style"; s.textContent = css; document.head.appendChild(s);
  }
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
  const secs = (t) => (Math.round(t * 100) / 100).toFixed(2);
  const ms = (t) => Math.round(t * 1000) / 1000;

  // The clip decoded at 16 kHz, mono: enough for the envelope, and bounded memory for long clips.
  async function decode(url) {
    const r = await fetch(url);
    if (!r.ok) throw new Error(`the audio could not be loaded (HTTP ${r.status})`);
    const data = await r.arrayBuffer();
    const ctx = new OfflineAudioContext(1, 1, 16000);
    try { return await ctx.decodeAudioData(data); }
    catch (e) { throw new Error("the browser cannot decode this audio file: skip it and tell whoever runs the project"); }
  }

  // The clip's envelope: lowest and highest sample (over all channels) per bin of BIN samples, computed
  // once; the waveform is drawn from it at any zoom where a screen column covers more than one bin, and
  // from the samples themselves when zoomed in closer.
  const BIN = 160;  // 10 ms at 16 kHz
  function envelope(buffer) {
    const chans = [...Array(buffer.numberOfChannels).keys()].map((c) => buffer.getChannelData(c));
    const n = chans[0].length, bins = Math.ceil(n / BIN), lo = new Float32Array(bins), hi = new Float32Array(bins);
    let top = 1e-6;
    for (let b = 0; b < bins; b++) {
      let mn = 0, mx = 0;
      for (const ch of chans) for (let i = b * BIN, e = Math.min(n, i + BIN); i < e; i++) { const v = ch[i]; if (v < mn) mn = v; if (v > mx) mx = v; }
      lo[b] = mn; hi[b] = mx; top = Math.max(top, -mn, mx);
    }
    return { lo, hi, top, chans, n, rate: buffer.sampleRate };
  }

  // Lowest and highest value between samples a and b (exclusive) from the envelope or the samples.
  function range(env, a, b) {
    let mn = 0, mx = 0;
    if (b - a >= BIN) {
      for (let k = Math.floor(a / BIN), e = Math.ceil(b / BIN); k < e; k++) { if (env.lo[k] < mn) mn = env.lo[k]; if (env.hi[k] > mx) mx = env.hi[k]; }
    } else {
      for (const ch of env.chans) for (let i = Math.max(0, a); i < Math.min(env.n, Math.max(b, a + 1)); i++) { const v = ch[i]; if (v < mn) mn = v; if (v > mx) mx = v; }
    }
    return [mn, mx];
  }

  // options: {root, url, regions: null | {labels, colors, keys, allowOverlap, withText, initial}, onReady(duration),
  //           onChange()}. Returns the player; `player.handleKey(ev)` takes the tool's keys.
  function player(o) {
    addStyle();
    const root = el("div", "afa"), bar = el("div", "afa-bar");
    const playBtn = el("button", "", "▶ Play"), replayBtn = el("button", "", "⟲ Replay");
    const speed = el("select"); speed.setAttribute("aria-label", "playback speed");
    for (const s of SPEEDS) { const op = el("option", "", `${s}×`); op.value = String(s); speed.appendChild(op); }
    speed.value = "1";
    const time = el("span", "afa-time", "–"), status = el("span", "afa-status", "loading the audio…");
    bar.append(playBtn, replayBtn, "Speed", speed, time, status);
    const wave = el("div", "afa-wave"), canvas = el("canvas"), layer = el("div"), head = el("div", "afa-head");
    wave.append(canvas, layer, head);
    root.append(bar, wave);
    const audio = new Audio(); audio.preload = "auto"; audio.preservesPitch = true; audio.src = o.url;
    const R = o.regions;
    const st = { duration: 0, env: null, t0: 0, spp: 0, regions: [], sel: -1, active: 0, drag: null, stopAt: null,
                 raf: 0, dead: false, ready: false };
    let list = null, labelBar = null;
    if (R) {
      labelBar = el("div", "afa-labels"); list = el("ol", "afa-list");
      R.labels.forEach((l, i) => {
        const s = el("span", "", `${R.keys[i] ? R.keys[i] + " " : ""}${l}`); s.style.background = R.colors[i] + "55"; s.dataset.i = i;
        s.onclick = () => labelKey(i); labelBar.appendChild(s);
      });
      root.append(labelBar, list);
    }
    o.root.appendChild(root);

    for (const b of [playBtn, replayBtn]) b.onmousedown = (e) => e.preventDefault();  // keys stay with the page
    playBtn.onclick = () => toggle();
    replayBtn.onclick = () => replay();
    speed.onchange = () => { setRate(Number(speed.value)); speed.blur(); };

    function say(text, bad) { status.textContent = text; status.classList.toggle("bad", Boolean(bad)); }
    // The view: the clip from t0 seconds at spp seconds a pixel (fitted to the width until zoomed).
    const x2t = (x) => Math.min(st.duration, Math.max(0, st.t0 + x * st.spp));
    const t2x = (t) => (t - st.t0) / st.spp;
    const fitSpp = () => st.duration / Math.max(1, wave.clientWidth);
    function setView(t0, spp) {
      st.spp = Math.min(fitSpp(), Math.max(MIN_SPP, spp));
      st.fitted = st.spp >= fitSpp();
      st.t0 = Math.min(Math.max(0, st.duration - wave.clientWidth * st.spp), Math.max(0, t0));
      draw(); renderRegions(true); tick();
    }
    function zoom(factor, atX) {  // keep the time under atX (the playhead when not given) where it is
      const x = atX === undefined ? Math.min(wave.clientWidth, Math.max(0, t2x(audio.currentTime))) : atX, t = st.t0 + x * st.spp;
      const spp = Math.min(fitSpp(), Math.max(MIN_SPP, st.spp * factor));
      setView(t - x * spp, spp);
    }

    function draw() {
      const dpr = window.devicePixelRatio || 1, w = Math.max(1, Math.round(wave.clientWidth * dpr)), h = Math.max(1, Math.round(wave.clientHeight * dpr));
      canvas.width = w; canvas.height = h;
      const g = canvas.getContext("2d");
      g.clearRect(0, 0, w, h);
      g.fillStyle = "#d5d9e2"; g.fillRect(0, h / 2, w, Math.max(1, dpr));
      const env = st.env;
      if (!env) return;
      const scale = (h / 2 - 2 * dpr) / env.top;  // quiet clips are drawn as tall as loud ones
      const perCol = st.spp / dpr * env.rate, first = st.t0 * env.rate;
      g.fillStyle = "#4a6fb5";
      for (let x = 0; x < w; x++) {
        const a = Math.floor(first + x * perCol);
        if (a >= env.n) break;
        const [mn, mx] = range(env, a, Math.floor(first + (x + 1) * perCol));
        const y1 = h / 2 - mx * scale, y2 = h / 2 - mn * scale;
        g.fillRect(x, y1, 1, Math.max(dpr, y2 - y1));
      }
    }
    const resize = new ResizeObserver(() => { if (st.env) setView(st.t0, st.fitted ? Infinity : st.spp); else draw(); });
    resize.observe(wave);

    function tick() {
      if (st.dead) return;
      const t = audio.currentTime;
      if (st.stopAt !== null && t >= st.stopAt) { audio.pause(); st.stopAt = null; }
      if (!audio.paused && st.spp < fitSpp() && (t2x(t) > wave.clientWidth || t2x(t) < 0)) {  // follow the playhead
        st.t0 = Math.min(t, Math.max(0, st.duration - wave.clientWidth * st.spp)); draw(); renderRegions(true);
      }
      head.style.left = `${t2x(t)}px`;
      time.textContent = `${secs(t)} / ${secs(st.duration || audio.duration || 0)} s · ${audio.playbackRate}×`;
      playBtn.textContent = audio.paused ? "▶ Play" : "❚❚ Pause";
      if (!audio.paused) st.raf = requestAnimationFrame(tick);
    }
    audio.addEventListener("play", () => { cancelAnimationFrame(st.raf); st.raf = requestAnimationFrame(tick); });
    audio.addEventListener("pause", tick);
    audio.addEventListener("seeked", tick);
    audio.addEventListener("error", () => { if (!st.dead) say("the browser cannot play this audio file: skip it and tell whoever runs the project", true); });

    function play(from, to) {  // works before (or without) the waveform: a clip the browser cannot decode may still play
      if (from !== undefined) audio.currentTime = from;
      st.stopAt = to === undefined ? null : to;
      audio.play().catch((e) => say(`cannot play: ${e.message}`, true));
    }
    function toggle() { if (audio.paused) play(); else audio.pause(); }
    function replay() {
      const r = st.regions[st.sel];
      if (r) play(r.start, r.end); else play(0);
    }
    function setRate(r) { audio.playbackRate = r; speed.value = String(r); tick(); }
    function stepRate(d) { const i = SPEEDS.indexOf(audio.playbackRate); setRate(SPEEDS[Math.min(SPEEDS.length - 1, Math.max(0, (i < 0 ? 2 : i) + d))]); }
    function seek(t) { audio.currentTime = Math.min(st.duration || audio.duration || 0, Math.max(0, t)); tick(); }

    // --- regions ------------------------------------------------------------------------------------
    function overlapping(r, skip) {
      return R.allowOverlap ? null : st.regions.find((q, i) => i !== skip && q.start < r.end && r.start < q.end) || null;
    }
    function place(div, r) {  // a region where the view shows it; its label stays in sight when it starts off-screen
      const left = t2x(r.start);
      Object.assign(div.style, { left: `${left}px`, width: `${(r.end - r.start) / st.spp}px` });
      div.firstChild.style.left = `${Math.max(4, 4 - left)}px`;
    }
    function renderRegions(viewOnly) {
      if (!R) return;
      if (viewOnly) {  // the view moved: only the regions' places change
        [...layer.children].forEach((div, i) => { if (st.regions[i]) place(div, st.regions[i]); });
        return;
      }
      layer.innerHTML = ""; list.innerHTML = "";
      st.regions.forEach((r, i) => {
        const li = R.labels.indexOf(r.label), colour = R.colors[li] || "#888";
        const div = el("div", "afa-region" + (i === st.sel ? " selected" : ""));
        Object.assign(div.style, { borderColor: colour, background: colour + "40" });
        div.appendChild(el("span", "", r.label)); place(div, r); layer.appendChild(div);
        const item = el("li", i === st.sel ? "selected" : ""), sw = el("span", "sw");
        sw.style.background = colour;
        const playIt = el("button", "", "▶"); playIt.title = "play the region";
        playIt.onclick = (e) => { e.stopPropagation(); select(i); play(r.start, r.end); };
        const del = el("button", "", "✕"); del.title = "delete the region";
        del.onclick = (e) => { e.stopPropagation(); remove(i); };
        item.append(sw, el("strong", "", r.label), el("span", "times", `${secs(r.start)}–${secs(r.end)} s`));
        if (R.withText) {
          const inp = el("input"); inp.value = r.text || ""; inp.placeholder = "what is said";
          inp.oninput = () => { r.text = inp.value; if (o.onChange) o.onChange(); };
          inp.onkeydown = (e) => { if (e.key === "Escape" || e.key === "Enter") { e.preventDefault(); e.stopPropagation(); inp.blur(); } };
          inp.onclick = (e) => { e.stopPropagation(); select(i, true); };
          item.append(inp);
        }
        item.append(playIt, del);
        item.onclick = () => select(i);
        list.appendChild(item);
      });
      labelBar.querySelectorAll("span").forEach((s) => s.classList.toggle("active", Number(s.dataset.i) === st.active));
      if (o.onChange) o.onChange();
    }
    function select(i, keepFocus) {
      st.sel = i;
      renderRegions();
      const r = st.regions[i];
      if (r) { st.active = Math.max(0, R.labels.indexOf(r.label)); say(`selected: ${r.label} ${secs(r.start)}–${secs(r.end)} s`); }
      if (keepFocus && R.withText) list.children[i].querySelector("input").focus();
    }
    function remove(i) {
      const r = st.regions.splice(i, 1)[0];
      st.sel = -1; renderRegions();
      if (r) say(`deleted ${r.label} ${secs(r.start)}–${secs(r.end)} s`);
    }
    function sortKeep(r) {  // regions stay in time order; the one being worked on stays selected
      st.regions.sort((a, b) => a.start - b.start || a.end - b.end || a.label.localeCompare(b.label));
      st.sel = st.regions.indexOf(r);
    }
    function labelKey(i) {
      st.active = i;
      const r = st.regions[st.sel];
      if (r) { r.label = R.labels[i]; sortKeep(r); say(`selected: ${r.label} ${secs(r.start)}–${secs(r.end)} s`); }
      else say(`new regions: ${R.labels[i]}`);
      renderRegions();
    }
    function hit(x) {  // what is under the pointer: an edge of a region (selected first), a region, or nothing
      const order = [...st.regions.keys()].sort((a, b) => (b === st.sel) - (a === st.sel));
      const px = t2x;
      for (const i of order) {
        const r = st.regions[i];
        if (Math.abs(px(r.start) - x) <= EDGE_PX) return { i, edge: "start" };
        if (Math.abs(px(r.end) - x) <= EDGE_PX) return { i, edge: "end" };
      }
      for (const i of order) { const r = st.regions[i]; if (px(r.start) < x && x < px(r.end)) return { i, edge: null }; }
      return null;
    }
    wave.addEventListener("wheel", (e) => {  // wheel: zoom at the pointer; Shift+wheel or sideways: scroll
      if (!st.ready) return;
      e.preventDefault();
      const x = e.clientX - wave.getBoundingClientRect().left - wave.clientLeft;
      if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) setView(st.t0 + (e.deltaX || e.deltaY) * st.spp, st.spp);
      else zoom(Math.exp(e.deltaY / 300), x);
    }, { passive: false });
    wave.addEventListener("pointerdown", (e) => {
      if (!st.ready || e.button !== 0) return;
      const x = e.clientX - wave.getBoundingClientRect().left - wave.clientLeft;
      wave.setPointerCapture(e.pointerId);
      const h = R ? hit(x) : null;
      st.drag = { x0: x, t0: x2t(x), hit: h, moved: false, before: h ? { ...st.regions[h.i] } : null, region: h ? st.regions[h.i] : null };
      if (h) select(h.i);
    });
    wave.addEventListener("pointermove", (e) => {
      const x = e.clientX - wave.getBoundingClientRect().left - wave.clientLeft;
      if (R && !st.drag) { const h = st.ready ? hit(x) : null; wave.style.cursor = h ? (h.edge ? "ew-resize" : "grab") : "crosshair"; }
      const d = st.drag;
      if (!d) return;
      if (!d.moved && Math.abs(x - d.x0) < MIN_DRAG_PX) return;
      d.moved = true;
      const t = x2t(x);
      if (!R) return;
      if (!d.region) {  // drawing a new region
        d.region = { start: Math.min(d.t0, t), end: Math.max(d.t0, t), label: R.labels[st.active], text: "" };
        st.regions.push(d.region); d.created = true;
      }
      const r = d.region;
      if (d.created) { r.start = Math.min(d.t0, t); r.end = Math.max(d.t0, t); }
      else if (d.hit.edge === "start") { r.start = Math.min(t, r.end - MIN_REGION_S); }
      else if (d.hit.edge === "end") { r.end = Math.max(t, r.start + MIN_REGION_S); }
      else {  // moving the whole region
        const len = d.before.end - d.before.start;
        r.start = Math.min(st.duration - len, Math.max(0, d.before.start + t - d.t0)); r.end = r.start + len;
      }
      sortKeep(r); renderRegions();
    });
    wave.addEventListener("pointerup", (e) => {
      const d = st.drag; st.drag = null;
      if (!d) return;
      if (!d.moved) { if (!d.hit) { if (R) { st.sel = -1; renderRegions(); } seek(d.t0); } return; }
      if (!R || !d.region) return;
      const r = d.region;
      r.start = ms(r.start); r.end = ms(r.end);
      const clash = overlapping(r, st.regions.indexOf(r));
      if (r.end - r.start < MIN_REGION_S || clash) {
        if (d.created) st.regions.splice(st.regions.indexOf(r), 1); else Object.assign(r, d.before);
        st.sel = d.created ? -1 : st.regions.indexOf(r);
        renderRegions();
        say(clash ? `overlaps ${clash.label} ${secs(clash.start)}–${secs(clash.end)} s: this project does not allow overlaps`
                  : "too short for a region", true);
        return;
      }
      sortKeep(r); renderRegions();
      say(`${d.created ? "new" : "selected"}: ${r.label} ${secs(r.start)}–${secs(r.end)} s`);
    });

    function handleKey(e) {
      if (e.ctrlKey || e.metaKey || e.altKey) return false;
      const k = e.key;
      if (k === " ") { toggle(); return true; }
      if (k === "r" || k === "R") { replay(); return true; }
      if (k === "[") { stepRate(-1); return true; }
      if (k === "]") { stepRate(1); return true; }
      if (k === "+" || k === "=") { zoom(1 / 2); return true; }
      if (k === "-") { zoom(2); return true; }
      if (k === "0") { setView(0, Infinity); return true; }
      if (k === "ArrowLeft" || k === "ArrowRight") { seek(audio.currentTime + (k === "ArrowLeft" ? -1 : 1)); return true; }
      if (!R) return false;
      const li = R.keys.indexOf(k.length === 1 ? k.toLowerCase() : k);
      if (li >= 0) { labelKey(li); return true; }
      if ((k === "Delete" || k === "Backspace") && st.sel >= 0) { remove(st.sel); return true; }
      if (k === "Tab" && st.regions.length) {
        const n = st.regions.length;
        select(e.shiftKey ? (st.sel <= 0 ? n - 1 : st.sel - 1) : (st.sel + 1) % n); return true;
      }
      if ((k === "t" || k === "T") && R.withText && st.sel >= 0) { select(st.sel, true); return true; }
      if (k === "Escape" && st.sel >= 0) { st.sel = -1; renderRegions(); say(""); return true; }
      return false;
    }
    decode(o.url).then((buffer) => {
      if (st.dead) return;
      st.env = envelope(buffer); st.duration = buffer.duration; st.ready = true;
      st.spp = fitSpp(); st.fitted = true;
      if (R) {  // suggested regions, kept inside the clip
        st.regions = (R.initial || []).map((r) => ({ start: Math.max(0, Math.min(r.start_s, st.duration)),
          end: Math.max(0, Math.min(r.end_s, st.duration)), label: r.label, text: r.text || "" })).filter((r) => r.end > r.start);
        sortKeep(null); st.sel = -1;
        renderRegions();
      }
      say(R && st.regions.length ? `${st.regions.length} suggested region${st.regions.length > 1 ? "s" : ""}` : "");
      draw(); tick();
      wave.dataset.ready = "1";
      if (o.onReady) o.onReady(st.duration);
    }).catch((e) => { if (!st.dead) say(e.message, true); });

    const api = {
      handleKey, toggle, replay, stepRate,
      ready: () => st.ready,
      regions: () => st.regions.map((r) => {
        const out = { start_s: ms(r.start), end_s: ms(r.end), label: r.label };
        if (R && R.withText && r.text && r.text.trim()) out.text = r.text.trim();
        return out;
      }),
      destroy() { st.dead = true; cancelAnimationFrame(st.raf); resize.disconnect(); audio.pause(); audio.removeAttribute("src"); audio.load(); },
    };
    // for tests and the browser driver: where the clip sits on screen, and what the tool holds
    wave.afa = { ...api, duration: () => st.duration, currentTime: () => audio.currentTime, rate: () => audio.playbackRate,
                 playing: () => !audio.paused, selected: () => st.sel,
                 view: () => { const b = wave.getBoundingClientRect(); return { left: b.left + wave.clientLeft, top: b.top, width: wave.clientWidth, height: b.height, duration: st.duration, t0: st.t0, spp: st.spp }; } };
    return api;
  }

  // Widgets call this once: the script is already here when a widget runs (it loads it first).
  window.annoflowAudio = { player };
})();
