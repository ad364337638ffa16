// Review mode and the rework banner of the annotation page (loaded after the page's shell script).
//
// Reviewers (and experts, who switch with the header's Annotate / Review selector) lease review tasks from
// /api/review. The reviewed answer is shown through the project's own widget, as its suggestion, behind a
// lock: nothing in the widget can change until the reviewer presses C (correct). A accepts at once, R opens a
// comment box (Ctrl+Enter or its button sends the rejection), C makes the answer editable and Enter sends the
// correction. An annotator whose answer was rejected gets it back first, pre-filled, under a banner with the
// reviewer's comment, and submits it as usual. Both see the item's comment thread (web/comments.js) beside
// the task: the reviewer may comment or ask a guideline question, the annotator reads the rejection and may
// reply. The shell's functions (render, loadNext, submit, skip) are
// wrapped, never edited, so the shell stays kind- and role-agnostic.
"use strict";
(() => {
  const shell = { render, loadNext, submit, skip };  // the shell's own, wrapped below
  const review = { mode: "annotate", correcting: false, rejecting: false };
  const canReview = () => Boolean(state.me) && state.me.roles.some((r) => r === "reviewer" || r === "expert");
  const canAnnotate = () => Boolean(state.me) && (!state.me.roles.length || state.me.roles.some((r) => r === "annotator" || r === "expert"));
  const reviewing = () => review.mode === "review" && state.task && state.task.context && state.task.context.review;
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  const style = document.createElement("style");
  style.textContent = `
    #review-panel, #rework-banner { flex: none; margin-bottom: .7rem; border-radius: 6px; padding: .6rem .8rem; }
    #review-panel { background: #eef3fd; border: 1px solid #c9d7f5; }
    #review-panel .who { font-size: .92rem; margin: 0 0 .5rem; }
    #review-panel .decide { display: flex; gap: .5rem; flex-wrap: wrap; }
    #review-panel button { padding: .4rem .9rem; border-radius: 6px; border: 0; cursor: pointer; font-size: .95rem; }
    #review-accept { background: #1f8a4c; color: #fff; } #review-correct { background: #2f6fed; color: #fff; }
    #review-reject { background: #c0392b; color: #fff; } #review-send-reject { background: #c0392b; color: #fff; }
    #review-comment-box textarea { width: 100%; min-height: 4.5rem; font: inherit; margin: .5rem 0 .3rem; padding: .4rem; }
    #review-state { font-size: .9rem; font-weight: 600; margin-left: auto; align-self: center; }
    #rework-banner { background: #fff4e5; border: 1px solid #f0c36d; }
    #rework-banner .comment { white-space: pre-wrap; margin: .3rem 0 0; font-size: 1.02rem; }
    #widget.review-locked { position: relative; opacity: .92; }
    #widget.review-locked::after { content: ""; position: absolute; inset: 0; cursor: not-allowed; }
    #mode { margin-left: .5rem; }
    #work.with-thread:not(.hidden) { grid-template-columns: minmax(0, 1fr) 20rem; }
    #work.with-thread #task { grid-row: span 2; }
    #item-thread { margin: 0; max-height: 60vh; overflow: auto; font-size: .92rem; }`;
  document.head.appendChild(style);

  function modeSelector() {  // experts only: they both annotate and review
    let sel = document.getElementById("mode");
    if (!(canReview() && canAnnotate())) { if (sel) sel.remove(); return; }
    if (!sel) {
      sel = document.createElement("select"); sel.id = "mode"; sel.setAttribute("aria-label", "mode");
      sel.innerHTML = '<option value="annotate">Annotate</option><option value="review">Review</option>';
      sel.onchange = () => { review.mode = sel.value; window.loadNext(); };
      $("project").after(sel);
    }
    sel.value = review.mode;
  }

  window.loadNext = async function loadNext() {
    if (state.me && !canAnnotate()) review.mode = "review";
    modeSelector();
    if (review.mode !== "review") return shell.loadNext();
    try { await window.render((await api("POST", `/api/review/${encodeURIComponent(state.project)}/next`)).task); }
    catch (e) { $("message").textContent = e.message; }
  };

  window.render = async function render(task) {
    review.correcting = review.rejecting = false;
    const ctx = task && task.context;
    // The widget shows the answer under review / the answer sent back as its suggestion (a copy: the task is kept).
    const shown = ctx && ctx.review ? { ...task, suggestion: { answer: ctx.review.answer } }
      : ctx && ctx.rework ? { ...task, suggestion: { answer: ctx.rework.answer } } : task;
    await shell.render(shown);
    if (state.task !== shown) return;  // another task came meanwhile
    $("skip").classList.toggle("hidden", Boolean(ctx && ctx.rework));  // a rework is theirs to fix: no skip
    reworkBanner(ctx && ctx.rework);
    reviewPanel(ctx && ctx.review);
    itemThread(shown, ctx);
    const skipKey = `<kbd>${keyName(state.skipKey)}</kbd> skip`;
    if (ctx && ctx.rework) $("keys-help").innerHTML = "<kbd>Enter</kbd> submit";
    if (ctx && ctx.review) $("keys-help").innerHTML = `<kbd>A</kbd> accept · <kbd>C</kbd> correct · <kbd>R</kbd> reject · ${skipKey}`;
  };

  function reworkBanner(rework) {
    const b = $("rework-banner");
    b.classList.toggle("hidden", !rework);
    if (!rework) { b.innerHTML = ""; return; }
    b.innerHTML = `<strong>Sent back to you by ${esc(rework.reviewer || "a reviewer")}.</strong> Your earlier answer is ` +
      `filled in below: fix it and submit it again.<p class="comment" id="rework-comment"></p>`;
    $("rework-comment").textContent = rework.comment || "";
  }

  let thread = null;
  function itemThread(task, ctx) {  // the item is named by the lease: the page never learns item ids
    if (thread) { thread.destroy(); thread = null; }
    const on = Boolean(ctx && (ctx.review || ctx.rework));
    $("item-thread").classList.toggle("hidden", !on);
    $("work").classList.toggle("with-thread", on);
    if (on) thread = annoflowComments.mount($("item-thread"), { project: state.project, item: `lease:${task.lease_id}`,
      token: state.token, kinds: ctx.review ? ["comment", "guideline_question"] : ["comment"] });
  }

  function reviewPanel(r) {
    const panel = $("review-panel");
    panel.classList.toggle("hidden", !r);
    $("widget").classList.toggle("review-locked", Boolean(r));
    $("submit").classList.toggle("hidden", Boolean(r));
    if (!r) { panel.innerHTML = ""; return; }
    const whose = r.origin === "machine" ? "a machine label" : `the answer of ${esc(r.source_id)}`;
    panel.innerHTML = `<p class="who">Reviewing ${whose}, shown below.</p>
      <div class="decide"><button id="review-accept" type="button"><kbd>A</kbd> Accept</button>
        <button id="review-correct" type="button"><kbd>C</kbd> Correct</button>
        <button id="review-reject" type="button"><kbd>R</kbd> Reject…</button><span id="review-state"></span></div>
      <div id="review-comment-box" class="hidden"><textarea id="review-comment"
        placeholder="What should the annotator fix? They see this above their answer."></textarea>
        <button id="review-send-reject" type="button">Send back <kbd>Ctrl+Enter</kbd></button></div>`;
    $("review-accept").onclick = () => decide("accept");
    $("review-correct").onclick = startCorrecting;
    $("review-reject").onclick = startRejecting;
    $("review-send-reject").onclick = () => decide("reject");
  }

  function startCorrecting() {
    if (!reviewing()) return;
    review.correcting = true; review.rejecting = false;
    $("widget").classList.remove("review-locked");
    $("submit").classList.remove("hidden");
    $("review-comment-box").classList.add("hidden");
    $("review-state").textContent = "Correcting: change the answer, then Enter";
    $("keys-help").innerHTML = `<kbd>Enter</kbd> send the correction · <kbd>${keyName(state.skipKey)}</kbd> skip`;
  }

  function startRejecting() {
    if (!reviewing()) return;
    review.rejecting = true; review.correcting = false;
    $("widget").classList.add("review-locked");
    $("submit").classList.add("hidden");
    $("review-comment-box").classList.remove("hidden");
    $("review-state").textContent = "Rejecting: say why";
    $("review-comment").focus();
  }

  async function decide(decision) {
    const task = state.task;
    if (!reviewing()) return;
    const body = { decision, client_id: crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random(),
                   duration_ms: Date.now() - state.shownAt };
    if (decision === "correct") {
      try { body.answer = state.widget.answer(); } catch (e) { $("message").textContent = e.message; return; }
    }
    if (decision === "reject") {
      body.comment = $("review-comment").value.trim();
      if (!body.comment) { $("message").textContent = "Say what is wrong: the annotator sees your comment."; $("review-comment").focus(); return; }
    }
    for (let attempt = 0; attempt < 4; attempt++) {  // same client_id on retry: stored once
      try {
        await api("POST", `/api/review/leases/${task.lease_id}/submit`, body);
        state.done += 1; await window.loadNext(); return;
      } catch (e) {
        if (e.status && e.status < 500) {
          $("message").textContent = e.message;
          if (e.status === 409 && e.code !== "already_reviewed") await window.loadNext();
          return;
        }
        await new Promise((res) => setTimeout(res, 300 * 2 ** attempt));
      }
    }
    $("message").textContent = "The server cannot be reached; your decision is kept on screen, try again.";
  }

  window.submit = async function submit() {
    if (!reviewing()) return shell.submit();
    if (review.correcting && !$("submit").disabled) return decide("correct");
  };

  window.skip = async function skip() {
    if (!reviewing()) return shell.skip();
    try { await api("POST", `/api/review/leases/${state.task.lease_id}/skip`); } catch (e) { $("message").textContent = e.message; }
    await window.loadNext();
  };

  // The shell bound its buttons to its own functions before this script ran.
  $("submit").onclick = () => window.submit();
  $("skip").onclick = () => window.skip();
  $("again").onclick = () => window.loadNext();

  // Review keys come first (capture phase): while the answer is locked, no key reaches the widget.
  window.addEventListener("keydown", (ev) => {
    if (!reviewing() || ev.ctrlKey && ev.key !== "Enter" || ev.metaKey || ev.altKey) return;
    if (ev.target.id === "review-comment") {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); ev.stopImmediatePropagation(); decide("reject"); }
      else if (ev.key === "Escape") { ev.preventDefault(); ev.stopImmediatePropagation(); reviewPanel(state.task.context.review); }
      return;
    }
    if (["INPUT", "SELECT", "TEXTAREA"].includes(ev.target.tagName) || review.correcting) return;
    const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    const action = { a: () => decide("accept"), c: startCorrecting, r: startRejecting }[key];
    if (key === state.skipKey) return;  // the shell's skip, which this file routes to /api/review
    ev.preventDefault(); ev.stopImmediatePropagation();
    if (action) action();
  }, true);

  // The shell's heartbeat keeps a review lease through /api/review.
  const shellApi = api;
  window.api = (method, path, body) => shellApi(method, reviewing() && path.endsWith("/heartbeat")
    ? path.replace("/api/annotate/leases/", "/api/review/leases/") : path, body);
})();
