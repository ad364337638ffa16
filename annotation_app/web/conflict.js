// The conflict view of the annotation page: what an adjudicator sees above the answer widget when the task
// carries `context.conflict` (dispatch builds it: tasks/dispatch/conflict.py). Every answer side by side
// with its source, colour and reliability (people, reviewers, models, labeling functions), the consensus
// and its confidence, and the kind's compare mode (the widget factory's `compare`: votes per label for
// choices, the answers overlaid for spans and boxes) with a toggle per source. The adjudicator picks an
// answer (click, or Shift+its number), which becomes the widget's answer to submit as it is or to edit
// (a merge), or writes their own in the widget; a note and a guideline-question flag go with the submit
// (the app puts them in the item's comment thread). Below, the item's thread (web/comments.js): what
// reviewers and earlier experts said about it, rejections included; the expert may add to it.
// The page shell knows nothing of this: it calls show / hide / fields of each entry of window.annoflowPanels.
"use strict";
(function () {
  const COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42a5b5", "#f032e6", "#9a6324", "#808000", "#000075"];
  const TYPES = { human: "person", reviewer: "reviewer", model: "model", lf: "labeling function" };
  const CSS = `
  /* with a conflict on screen the card grows and the page scrolls: the answers, then the widget at a usable height */
  #task:has(> #conflict:not(.hidden)) { height: auto !important; max-height: none !important; }
  #work.widget-media #task:has(> #conflict:not(.hidden)) #widget { flex: none; height: 70vh; }
  #conflict { border-bottom: 1px solid #e3e6ec; padding-bottom: .6rem; margin-bottom: .6rem; overflow: auto; flex: 0 1 auto; min-height: 0; }
  #conflict h3 { margin: 0 0 .4rem; font-size: 1rem; }
  #conflict .cf-consensus { font-size: .92rem; color: #333; margin: 0 0 .4rem; }
  #conflict table.cf-answers { border-collapse: collapse; width: 100%; font-size: .9rem; margin-bottom: .5rem; }
  #conflict .cf-answers th, #conflict .cf-answers td { text-align: left; padding: .2rem .45rem; border-bottom: 1px solid #e3e6ec; vertical-align: top; }
  #conflict .cf-answers tr.picked { background: #e6eeff; }
  #conflict .cf-answers tr.off { opacity: .45; }
  #conflict .sw { display: inline-block; width: .9rem; height: .9rem; border-radius: 3px; vertical-align: middle; }
  #conflict .cf-answers button { font-size: .85rem; padding: .1rem .5rem; cursor: pointer; }
  #conflict .cf-rel small { color: #666; }
  #conflict .cf-note { display: flex; gap: .8rem; align-items: flex-start; margin-top: .5rem; font-size: .92rem; }
  #conflict .cf-note textarea { flex: 1 1 auto; min-height: 2.4rem; font: inherit; padding: .3rem; }
  #conflict .cf-thread { margin-top: .6rem; font-size: .9rem; }
  #conflict .thread h3 { font-size: .95rem; margin: 0 0 .3rem; }
  #conflict .thread-list { list-style: none; padding: 0; margin: 0 0 .4rem; max-height: 14rem; overflow: auto; }
  #conflict .thread-list li { border-left: 3px solid #d5d9e2; padding: .15rem .5rem; margin-bottom: .35rem; }
  #conflict .thread-list li.thread-rejection { border-color: #d33; }
  #conflict .thread-list li.thread-guideline_question { border-color: #e0a800; }
  #conflict .thread-list li.thread-adjudication_note { border-color: #4363d8; }
  #conflict .thread-meta { font-size: .75rem; color: #666; }
  #conflict .thread-body { white-space: pre-wrap; }
  #conflict .thread-status { font-size: .8rem; color: #8a6d00; }
  #conflict .thread-reply { font-size: .75rem; border: 0; background: none; color: #2f6fed; cursor: pointer; padding: 0; }
  #conflict .thread-form textarea { width: 100%; height: 2.6rem; font: inherit; box-sizing: border-box; }
  #conflict .thread-actions select, #conflict .thread-actions button { font-size: .85rem; }
  #conflict .thread-actions { display: flex; gap: .5rem; justify-content: flex-end; margin-top: .2rem; }
  #conflict .thread-error { color: #b00020; margin: .1rem 0; font-size: .85rem; }`;

  const esc = (t) => String(t).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  const fmt = (x) => (x == null ? "–" : Number(x).toFixed(2));

  function reliability(r) {  // "0.91 [0.80–0.96] on 25 gold" / "0.84 learned, 120 answers" / "unknown"
    if (!r || r.value == null) return "unknown";
    const span = r.low != null && r.high != null ? ` [${fmt(r.low)}–${fmt(r.high)}]` : "";
    const basis = { gold: `on ${r.n} gold`, learned: `learned, ${r.n} answers`, agreement: `agreement, ${r.n} answers` }[r.metric] || r.metric || "";
    return `<b>${fmt(r.value)}</b>${span} <small>${esc(basis)}</small>`;
  }

  function summary(answer) {  // a kind without a compare mode: the answer as short text
    const t = typeof answer === "string" ? answer : JSON.stringify(answer);
    return t.length > 120 ? t.slice(0, 117) + "…" : t;
  }

  let view = null;  // {task, widget, compare, thread, answers, picked, onKey}

  // The item's thread, named by the lease (the page knows no item ids); comments.js is loaded once, on the
  // first conflict, unless another script of the page already brought it.
  function mountThread(root, task) {
    const token = sessionStorage.getItem("annoflow-token") || "";
    const ready = window.annoflowComments ? Promise.resolve() : window.annoflowKinds.require("/web/comments.js");
    const mine = view;
    ready.then(() => {
      if (view !== mine) return;  // the task is gone already
      view.thread = window.annoflowComments.mount(root, { project: task.project_id, item: `lease:${task.lease_id}`, token,
                                                          kinds: ["comment", "guideline_question"] });
    }).catch((e) => { root.textContent = "The item's comments cannot be shown: " + e.message; });
  }

  function hide() {
    if (!view) return;
    if (view.compare) { try { view.compare.destroy(); } catch (e) { /* the next task must still show */ } }
    if (view.thread) view.thread.destroy();
    document.removeEventListener("keydown", view.onKey, true);
    view = null;
    const root = document.getElementById("conflict");
    if (root) { root.innerHTML = ""; root.classList.add("hidden"); }
  }

  function show({ task, widget, factory, labels, options }) {
    hide();
    const conflict = task && task.context && task.context.conflict;
    const root = document.getElementById("conflict");
    if (!conflict || !root) return;
    if (!document.getElementById("conflict-style")) {
      const s = document.createElement("style"); s.id = "conflict-style"; s.textContent = CSS; document.head.appendChild(s);
    }
    const answers = (conflict.answers || []).map((a, i) => ({ ...a, colour: COLOURS[i % COLOURS.length] }));
    const cons = conflict.consensus;
    root.classList.remove("hidden");
    root.innerHTML = `<h3>Conflict: ${answers.length} answer${answers.length === 1 ? "" : "s"} — pick one (click or <kbd>Shift</kbd>+its number), edit it below, or answer yourself</h3>
      <p class="cf-consensus"></p>
      <table class="cf-answers"><thead><tr><th>show</th><th>#</th><th>source</th><th>who</th><th>reliability</th><th>answer</th><th></th></tr></thead><tbody></tbody></table>
      <div class="cf-compare"></div>
      <div class="cf-note"><textarea class="cf-comment" placeholder="Note on this conflict (optional)" aria-label="note"></textarea>
        <label><input type="checkbox" class="cf-guideline"> Guideline question: the guidelines should settle cases like this</label></div>
      <div class="cf-thread" aria-label="comments on this item"></div>`;
    view = { task, widget, compare: null, thread: null, answers, picked: -1, onKey: null };
    mountThread(root.querySelector(".cf-thread"), task);
    const compareRoot = root.querySelector(".cf-compare");
    const pick = (answer, i) => {
      if (!widget || typeof widget.setAnswer !== "function") return;
      widget.setAnswer(answer);
      view.picked = i === undefined ? -1 : i;
      for (const tr of root.querySelectorAll("tbody tr[data-i]")) tr.classList.toggle("picked", Number(tr.dataset.i) === view.picked);
    };
    if (typeof factory.compare === "function") {
      try {
        view.compare = factory.compare({ root: compareRoot, task: { item_id: task.lease_id, payload: task.payload, media_url: task.media_url, data_kind: task.data_kind },
                                         labels, options, answers, posterior: conflict.posterior, consensus: cons,
                                         pick: (answer) => pick(answer) });
      } catch (e) { compareRoot.textContent = "The answers cannot be overlaid: " + e.message; }
    }
    const describe = (a) => (view.compare && view.compare.describe ? view.compare.describe(a) : summary(a));
    root.querySelector(".cf-consensus").innerHTML = cons
      ? `Consensus: <b>${esc(describe(cons.answer))}</b>, confidence ${fmt(cons.confidence)} (${esc(cons.method || "")}) ` +
        `<button type="button" class="cf-use-consensus">start from it</button>`
      : "No consensus answer to show.";
    const useCons = root.querySelector(".cf-use-consensus");
    if (useCons) useCons.onclick = () => pick(cons.answer);
    root.querySelector("tbody").innerHTML = answers.map((a, i) => `<tr data-i="${i}" data-source="${esc(a.source_id)}">
      <td><input type="checkbox" class="cf-toggle" checked aria-label="show ${esc(a.source_id)}"></td>
      <td>${i < 9 ? `<kbd>${i + 1}</kbd>` : ""}</td>
      <td><span class="sw" style="background:${a.colour}"></span> ${esc(a.source_id)}</td>
      <td>${esc(TYPES[a.source_type] || a.source_type)}</td>
      <td class="cf-rel">${reliability(a.reliability)}</td>
      <td class="cf-answer">${esc(describe(a.answer))}</td>
      <td><button type="button" class="cf-pick">pick</button></td></tr>`).join("");
    root.querySelector("tbody").onclick = (ev) => {
      const tr = ev.target.closest("tr[data-i]");
      if (!tr) return;
      const i = Number(tr.dataset.i);
      if (ev.target.classList.contains("cf-toggle")) {
        tr.classList.toggle("off", !ev.target.checked);
        if (view.compare) view.compare.toggle(i, ev.target.checked);
      } else if (ev.target.classList.contains("cf-pick")) pick(answers[i].answer, i);
    };
    // Shift+digit picks (plain digits stay the widget's label keys); taken before the page's own keys.
    view.onKey = (ev) => {
      if (["INPUT", "TEXTAREA", "SELECT"].includes(ev.target.tagName) || !ev.shiftKey || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const m = /^Digit([1-9])$/.exec(ev.code || "");
      if (!m || Number(m[1]) > answers.length) return;
      ev.preventDefault(); ev.stopImmediatePropagation();
      pick(answers[Number(m[1]) - 1].answer, Number(m[1]) - 1);
    };
    document.addEventListener("keydown", view.onKey, true);
  }

  function fields() {  // what the submit carries besides the answer
    const root = document.getElementById("conflict");
    if (!view || !root) return {};
    const comment = root.querySelector(".cf-comment").value.trim();
    const flag = root.querySelector(".cf-guideline").checked;
    return { ...(comment ? { comment } : {}), ...(flag ? { guideline_question: true } : {}) };
  }

  window.annoflowPanels = window.annoflowPanels || [];
  window.annoflowPanels.push({ name: "conflict", show, hide, fields });
})();
