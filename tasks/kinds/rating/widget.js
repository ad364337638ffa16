// The rating scale for the annotation page: the item's text (images and audio are the shell's), then one
// row of score buttons per criterion (one row for a single score), each button showing its score, its key
// and its anchor. Number keys pick a score in the active row and move to the next row; ↑/↓ change rows,
// ←/→ move the score; Enter (the shell's) submits once every row has a score. The machine's suggestion
// starts selected. The answer is {"score": n} or {"scores": {criterion: n}}; the server checks it again.
// Contract: annotation_app/README.md ("Answer widgets"). `factory.compare` is the adjudicator's compare mode
// (annotation_app/web/conflict.js): per criterion a strip of the scale with each source's score marked in
// its colour and the consensus score with its interval.
"use strict";
(() => {
  const STYLE = `
  .rating #item-text { font-size: 1.1rem; line-height: 1.5; white-space: pre-wrap; overflow: auto; max-height: 40vh; margin-bottom: .6rem; }
  .rating .row { display: flex; align-items: stretch; gap: .4rem; margin: .35rem 0; padding: .3rem; border-radius: 6px; }
  .rating .row.active { background: #eef3ff; }
  .rating .row .name { min-width: 7rem; font-weight: 600; align-self: center; }
  .rating .row button { flex: 1 1 0; min-width: 3.2rem; padding: .35rem .3rem; border: 2px solid #c9cfdb; border-radius: 6px; background: #fff; cursor: pointer; }
  .rating .row button .n { font-size: 1.15rem; font-weight: 700; display: block; }
  .rating .row button .k { font-size: .7rem; color: #667; }
  .rating .row button .a { font-size: .75rem; color: #334; display: block; }
  .rating .row button.selected { border-color: #2f6fed; background: #dbe6ff; }
  .rating .note { color: #b00020; font-size: .85rem; min-height: 1.1rem; }
  .rating-cmp { font-size: .9rem; }
  .rating-cmp .crit { display: grid; grid-template-columns: 7rem 1fr; gap: .6rem; align-items: start; margin: .2rem 0 .6rem; }
  .rating-cmp .crit .name { font-weight: 600; padding-top: .2rem; }
  .rating-cmp .strip { position: relative; margin: 0 1.2rem; border-top: 2px solid #9aa3b5; }
  .rating-cmp .tick { position: absolute; top: -2px; transform: translateX(-50%); text-align: center; font-size: .75rem; color: #445; white-space: nowrap; }
  .rating-cmp .tick::before { content: ""; display: block; width: 2px; height: .45rem; background: #9aa3b5; margin: 0 auto .1rem; }
  .rating-cmp .tick small { display: block; color: #778; max-width: 6rem; overflow: hidden; text-overflow: ellipsis; }
  .rating-cmp .mark { position: absolute; width: .95rem; height: .95rem; border-radius: 50%; transform: translate(-50%, -50%);
    border: 2px solid #fff; box-shadow: 0 0 0 1px #0004; cursor: pointer; }
  .rating-cmp .mark.machine { border-radius: 3px; }
  .rating-cmp .band { position: absolute; height: .5rem; background: #2f6fed33; border: 1px solid #2f6fed; border-radius: 3px; transform: translateY(-50%); }
  .rating-cmp .cons { position: absolute; width: .8rem; height: .8rem; background: #2f6fed; transform: translate(-50%, -50%) rotate(45deg); }
  .rating-cmp .cons-text { grid-column: 2; color: #334; }`;

  function factory(ctx) {
    const opts = ctx.options || {};
    const [lo, hi] = opts.scale || [1, 5];
    const anchors = opts.anchors || {};
    const criteria = opts.criteria && opts.criteria.length ? opts.criteria : [null];
    const keys = opts.keys || [];
    const points = []; for (let s = lo; s <= hi; s++) points.push(s);
    if (!document.getElementById("rating-style")) {
      const st = document.createElement("style"); st.id = "rating-style"; st.textContent = STYLE; document.head.append(st);
    }
    const box = document.createElement("div"); box.className = "rating";
    if (ctx.task.payload && ctx.task.data_kind === "text") {
      const t = document.createElement("div"); t.id = "item-text"; t.textContent = ctx.task.payload; box.append(t);
    }
    const chosen = new Map();
    const pre = ctx.task.prelabel;
    if (pre && typeof pre === "object") {
      for (const c of criteria) {
        const v = c === null ? pre.score : (pre.scores || {})[c];
        if (Number.isInteger(v) && v >= lo && v <= hi) chosen.set(c, v);
      }
    }
    let active = 0;
    const rows = criteria.map((c, ci) => {
      const row = document.createElement("div"); row.className = "row"; row.dataset.criterion = c === null ? "" : c;
      if (c !== null) { const n = document.createElement("span"); n.className = "name"; n.textContent = c; row.append(n); }
      for (const [i, s] of points.entries()) {
        const b = document.createElement("button"); b.type = "button"; b.dataset.score = String(s);
        const n = document.createElement("span"); n.className = "n"; n.textContent = String(s);
        const k = document.createElement("span"); k.className = "k"; k.textContent = keys[i] ? `key ${keys[i]}` : "";
        const a = document.createElement("span"); a.className = "a"; a.textContent = anchors[String(s)] || "";
        b.append(n, k, a);
        b.addEventListener("click", () => { active = ci; pick(s); });
        row.append(b);
      }
      box.append(row);
      return row;
    });
    const note = document.createElement("div"); note.className = "note"; box.append(note);
    ctx.root.append(box);

    function missing() { return criteria.filter((c) => !chosen.has(c)); }
    function render() {
      rows.forEach((row, ci) => {
        row.classList.toggle("active", ci === active && criteria.length > 1);
        for (const b of row.querySelectorAll("button")) b.classList.toggle("selected", chosen.get(criteria[ci]) === Number(b.dataset.score));
      });
      const m = missing();
      note.textContent = m.length && chosen.size ? `Still to score: ${m.map((c) => c ?? "the item").join(", ")}` : "";
      ctx.onChange(m.length === 0);
    }
    function pick(s, advance) {
      chosen.set(criteria[active], s);
      if (advance && active < criteria.length - 1) active += 1;
      render();
    }
    render();
    const keyList = [{ key: keys.filter(Boolean).length ? `${keys.find(Boolean)}–${keys.filter(Boolean).slice(-1)[0]}` : "← →", action: "pick a score" },
                     { key: "← →", action: "lower / raise the score" }];
    if (criteria.length > 1) keyList.push({ key: "↑ ↓", action: "previous / next criterion" });
    return {
      keys: keyList,
      answer() {
        const m = missing();
        if (m.length) throw new Error(`Give a score for ${m.map((c) => c ?? "the item").join(", ")}.`);
        if (criteria[0] === null) return { score: chosen.get(null) };
        return { scores: Object.fromEntries(criteria.map((c) => [c, chosen.get(c)])) };
      },
      setAnswer(answer) {
        chosen.clear();
        for (const c of criteria) {
          const v = c === null ? (answer || {}).score : ((answer || {}).scores || {})[c];
          if (Number.isInteger(v)) chosen.set(c, v);
        }
        render();
      },
      handleKey(e) {
        if (e.ctrlKey || e.metaKey || e.altKey) return false;
        const i = keys.indexOf(e.key);
        if (e.key.length === 1 && i >= 0) { pick(points[i], true); return true; }
        if (e.key === "ArrowDown" && criteria.length > 1) { active = Math.min(active + 1, criteria.length - 1); render(); return true; }
        if (e.key === "ArrowUp" && criteria.length > 1) { active = Math.max(active - 1, 0); render(); return true; }
        if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
          const cur = chosen.get(criteria[active]);
          const step = e.key === "ArrowRight" ? 1 : -1;
          pick(Math.min(hi, Math.max(lo, cur === undefined ? (step > 0 ? lo : hi) : cur + step)), false);
          return true;
        }
        return false;
      },
      destroy() { box.remove(); },
    };
  }
  const valueOf = (answer, c) => (c === null ? (answer || {}).score : ((answer || {}).scores || {})[c]);

  // Compare mode: one strip of the scale per criterion (one for a single score); each visible source's score is
  // a mark in its colour (a machine's square), marks on the same score stacked above the strip; the consensus
  // score is a diamond on its interval band, with mean, interval and confidence written beside. A click on a
  // mark starts the answer from that source's answer.
  function compare(cctx) {
    const opts = cctx.options || {};
    const [lo, hi] = opts.scale || [1, 5];
    const anchors = opts.anchors || {};
    const criteria = opts.criteria && opts.criteria.length ? opts.criteria : [null];
    if (!document.getElementById("rating-style")) {
      const st = document.createElement("style"); st.id = "rating-style"; st.textContent = STYLE; document.head.append(st);
    }
    const at = (v) => `${hi > lo ? ((v - lo) / (hi - lo)) * 100 : 50}%`;
    const post = new Map((cctx.posterior || []).map((p) => [p.criterion ?? null, p]));
    const visible = cctx.answers.map(() => true);
    const wrap = document.createElement("div"); wrap.className = "rating-cmp";
    cctx.root.append(wrap);
    const f = (x) => (x == null ? "–" : Number(x).toFixed(2));
    function render() {
      wrap.replaceChildren();
      for (const c of criteria) {
        const row = document.createElement("div"); row.className = "crit"; row.dataset.criterion = c ?? "";
        const name = document.createElement("span"); name.className = "name"; name.textContent = c ?? "score";
        const strip = document.createElement("div"); strip.className = "strip";
        const stack = new Map();
        cctx.answers.forEach((a, i) => {
          const v = valueOf(a.answer, c);
          if (!visible[i] || !Number.isFinite(v)) return;
          const k = stack.get(v) || 0; stack.set(v, k + 1);
          const m = document.createElement("span"); m.className = "mark" + (a.source_type === "human" ? "" : " machine");
          m.dataset.i = String(i); m.dataset.source = a.source_id; m.dataset.score = String(v);
          m.style.left = at(v); m.style.top = `${-0.75 - 1.05 * k}rem`; m.style.background = a.colour;
          m.title = `${a.source_id}: ${v}`;
          m.addEventListener("click", () => cctx.pick(a.answer));
          strip.append(m);
        });
        const height = Math.max(1, ...stack.values());
        strip.style.marginTop = `${1.05 * height + 0.3}rem`;
        for (let s = lo; s <= hi; s++) {
          const t = document.createElement("span"); t.className = "tick"; t.style.left = at(s); t.textContent = String(s);
          if (anchors[String(s)]) { const sm = document.createElement("small"); sm.textContent = anchors[String(s)]; t.title = anchors[String(s)]; t.append(sm); }
          strip.append(t);
        }
        const p = post.get(c);
        const text = document.createElement("div"); text.className = "cons-text";
        if (p && Number.isFinite(p.score)) {
          if (p.low != null && p.high != null) {
            const band = document.createElement("span"); band.className = "band";
            band.style.left = at(p.low); band.style.width = `calc(${at(p.high)} - ${at(p.low)})`; strip.append(band);
          }
          const d = document.createElement("span"); d.className = "cons"; d.style.left = at(p.score); d.title = "consensus"; strip.append(d);
          text.textContent = `consensus ${p.score} (mean ${f(p.mean)}, interval [${f(p.low)}–${f(p.high)}], confidence ${f(p.p)})`;
        } else text.textContent = "no consensus score";
        text.style.marginTop = anchors && Object.keys(anchors).length ? "2.2rem" : "1.4rem";
        row.append(name, strip, text);
        wrap.append(row);
      }
    }
    render();
    return {
      toggle(i, on) { visible[i] = on; render(); },
      describe(answer) {
        if (criteria[0] === null) return valueOf(answer, null) == null ? "(none)" : String(valueOf(answer, null));
        return criteria.map((c) => `${c} ${valueOf(answer, c) ?? "–"}`).join(", ");
      },
      destroy() { wrap.remove(); },
    };
  }

  factory.compare = compare;
  window.annoflowKinds.register("rating", factory);
})();
