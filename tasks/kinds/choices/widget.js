// Choices widget for the annotation page: the item's text, the machine's suggestion and one button per
// label, each with its shortcut key. single_label takes exactly one label, multi_label any set of them. Contract: annotation_app/README.md ("Answer widgets").
(() => {
  "use strict";
  const STYLE = `
  .choices { display: flex; flex-direction: column; min-height: 0; flex: 0 1 auto; }
  .choices #item-text { font-size: 1.15rem; line-height: 1.5; white-space: pre-wrap; overflow: auto; min-height: 0; flex: 0 1 auto; }
  .choices #labels { display: flex; flex-wrap: wrap; gap: .5rem; margin: .8rem 0 .6rem; flex: none; }
  .choices #labels button { padding: .45rem .8rem; border: 2px solid #c9cfdb; border-radius: 6px; background: #fff; cursor: pointer; font-size: 1rem; }
  .choices #labels button.selected { border-color: #2f6fed; background: #e6eeff; }
  .choices #labels button.suggested { box-shadow: 0 0 0 3px #ffd86b inset; }
  .choices #suggestion { color: #7a5b00; font-size: .9rem; margin: .5rem 0 0; flex: none; }`;

  // Keyboard shortcuts for a label set, so that no key means two things and each is shown on its button.
  // A label that is one character is its own key: with labels "0"-"9", key 3 picks "3" (never the third
  // label). The other labels take free keys in order: 1-9 then 0 (only when no label is itself a digit),
  // then letters. "s" is left to the page's skip key.
  function shortcuts(labels) {
    const byKey = new Map(), byLabel = new Map();
    for (const l of labels) {
      const k = l.toLowerCase();
      if ([...l].length === 1 && /\S/.test(l) && !byKey.has(k)) { byKey.set(k, l); byLabel.set(l, k); }
    }
    const digitLabels = labels.some((l) => /^[0-9]$/.test(l));
    const pool = [...(digitLabels ? "" : "1234567890") + "abcdefghijklmnopqrtuvwxyz"].filter((k) => !byKey.has(k));
    for (const l of labels) {
      if (byLabel.has(l)) continue;
      const k = pool.shift();
      if (k === undefined) break;  // more labels than keys: the rest are clicked
      byKey.set(k, l); byLabel.set(l, k);
    }
    return { byKey, byLabel };
  }

  const keyName = (k) => k.toUpperCase();
  const escapeHtml = (t) => t.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

  function addStyle() {
    if (document.getElementById("choices-style")) return;
    const s = document.createElement("style"); s.id = "choices-style"; s.textContent = STYLE;
    document.head.appendChild(s);
  }

  function choices(ctx, multi) {
    addStyle();
    const keys = shortcuts(ctx.labels);
    let chosen = new Set();
    const root = ctx.root;
    root.classList.add("choices");
    const text = document.createElement("div"); text.id = "item-text"; text.textContent = ctx.task.payload || "";
    const pre = ctx.task.prelabel;
    const suggested = new Set(pre == null ? [] : (Array.isArray(pre) ? pre : [pre]));
    const note = document.createElement("p"); note.id = "suggestion";
    note.classList.toggle("hidden", !suggested.size);
    if (suggested.size) note.textContent = "Suggestion: " + [...suggested].join(", ") + " — check it, it may be wrong.";
    const box = document.createElement("div"); box.id = "labels";
    for (const label of ctx.labels) {
      const b = document.createElement("button"); b.type = "button"; b.dataset.label = label;
      const key = keys.byLabel.get(label);
      if (key !== undefined) b.title = `key ${keyName(key)}`;
      b.innerHTML = (key !== undefined ? `<kbd>${escapeHtml(keyName(key))}</kbd> ` : "") + escapeHtml(label);
      if (suggested.has(label)) b.classList.add("suggested");
      b.onclick = () => choose(label);
      box.appendChild(b);
    }
    root.append(text, note, box);

    function update() {
      for (const b of box.children) b.classList.toggle("selected", chosen.has(b.dataset.label));
      ctx.onChange(multi || chosen.size === 1);
    }
    function choose(label) {
      if (multi) { if (chosen.has(label)) chosen.delete(label); else chosen.add(label); }
      else chosen = new Set([label]);
      update();
    }
    update();
    return {
      answer() {
        if (multi) return [...chosen];
        if (chosen.size !== 1) throw new Error("Choose one label first.");
        return [...chosen][0];
      },
      setAnswer(answer) {  // the adjudicator starts from someone's answer (the conflict view's pick)
        chosen = new Set((Array.isArray(answer) ? answer : [answer]).filter((l) => ctx.labels.includes(l)));
        if (!multi && chosen.size > 1) chosen = new Set([[...chosen][0]]);
        update();
      },
      handleKey(ev) {
        if (ev.ctrlKey || ev.metaKey || ev.altKey) return false;
        const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
        if (!keys.byKey.has(key)) return false;
        choose(keys.byKey.get(key));
        return true;
      },
      destroy() { root.classList.remove("choices"); root.innerHTML = ""; },
    };
  }

  const COMPARE_STYLE = `
  .choices-compare table { border-collapse: collapse; width: 100%; font-size: .95rem; }
  .choices-compare th, .choices-compare td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #e3e6ec; }
  .choices-compare tbody tr { cursor: pointer; } .choices-compare tbody tr:hover { background: #f2f5fb; }
  .choices-compare .chip { display: inline-flex; align-items: center; gap: .25rem; margin: 0 .35rem .1rem 0; padding: 0 .35rem;
    border: 2px solid; border-radius: 10px; font-size: .82rem; }
  .choices-compare .chip i { width: .6rem; height: .6rem; border-radius: 50%; display: inline-block; }
  .choices-compare .bar { display: inline-block; height: .6rem; background: #2f6fed; border-radius: 2px; vertical-align: middle; margin-right: .4rem; }`;

  // Compare mode (the adjudicator's conflict view, annotation_app/web/conflict.js): one row per label with
  // the votes it got, each voter in their colour, and the consensus posterior P; a click on a row starts
  // the answer from that label (a set: from the one label, to tick more with the buttons below).
  function compare(cctx, multi) {
    addStyle();
    if (!document.getElementById("choices-compare-style")) {
      const s = document.createElement("style"); s.id = "choices-compare-style"; s.textContent = COMPARE_STYLE;
      document.head.appendChild(s);
    }
    const root = cctx.root;
    root.classList.add("choices-compare");
    const visible = cctx.answers.map(() => true);
    const post = new Map((cctx.posterior || []).map((p) => [p.label, p]));
    const said = (a, label) => (Array.isArray(a.answer) ? a.answer.includes(label) : a.answer === label);
    const table = document.createElement("table"); table.className = "votes-per-label";
    root.appendChild(table);
    const byPosterior = (labels) => labels.slice().sort((x, y) => ((post.get(y) || {}).p || 0) - ((post.get(x) || {}).p || 0));
    function render() {
      const rows = byPosterior(cctx.labels).map((label) => {
        const who = cctx.answers.map((a, i) => [a, i]).filter(([a, i]) => visible[i] && said(a, label));
        const p = post.get(label);
        return `<tr data-label="${escapeHtml(label)}"><th>${escapeHtml(label)}</th><td class="n">${who.length}</td><td class="who">` +
          who.map(([a]) => `<span class="chip" style="border-color:${a.colour}" data-source="${escapeHtml(a.source_id)}">` +
            `<i style="background:${a.colour}"></i>${escapeHtml(a.source_id)}</span>`).join("") + "</td><td class=\"p\">" +
          (p ? `<span class="bar" style="width:${Math.round(p.p * 80)}px"></span>${p.p.toFixed(2)}` : "–") + "</td></tr>";
      });
      table.innerHTML = `<thead><tr><th>label</th><th>votes</th><th>who</th><th>posterior P${multi ? " (present)" : ""}</th></tr></thead>` +
        `<tbody>${rows.join("")}</tbody>`;
    }
    table.onclick = (ev) => {
      const tr = ev.target.closest("tr[data-label]");
      if (tr) cctx.pick(multi ? [tr.dataset.label] : tr.dataset.label);
    };
    render();
    return {
      toggle(i, on) { visible[i] = on; render(); },
      describe(answer) { return Array.isArray(answer) ? (answer.length ? answer.join(", ") : "(none)") : String(answer); },
      destroy() { root.classList.remove("choices-compare"); root.innerHTML = ""; },
    };
  }

  const single = (ctx) => choices(ctx, false), several = (ctx) => choices(ctx, true);
  single.compare = (cctx) => compare(cctx, false);
  several.compare = (cctx) => compare(cctx, true);
  window.annoflowKinds.register("single_label", single);
  window.annoflowKinds.register("multi_label", several);
})();
