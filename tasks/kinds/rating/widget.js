// The rating scale for the annotation page: the item's text (images and audio are the shell's), then one
// row of score buttons per criterion (one row for a single score), each button showing its score, its key
// and its anchor. Number keys pick a score in the active row and move to the next row; ↑/↓ change rows,
// ←/→ move the score; Enter (the shell's) submits once every row has a score. The machine's suggestion
// starts selected. The answer is {"score": n} or {"scores": {criterion: n}}; the server checks it again.
// Contract: annotation_app/README.md ("Answer widgets").
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
  .rating .note { color: #b00020; font-size: .85rem; min-height: 1.1rem; }`;

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
  window.annoflowKinds.register("rating", factory);
})();
