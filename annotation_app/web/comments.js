"use strict";
// An item's comment thread, for any page of the app: <script src="/review/comments.js"></script>, then
//   const panel = annoflowComments.mount(element, { project, item, token, kinds });
// `item` is the item id, or "lease:<lease id>" on pages that know only the lease; `kinds` the kinds this
// person may write (default ["comment"]; reviewers and experts add "guideline_question", "rejection",
// "adjudication_note"). panel.reload() re-reads the thread, panel.destroy() empties the element.
// Keys typed in the box stay in the box (the page's shortcuts do not fire while writing).
// The panel brings its own look; the page only places the element.
(() => {
const STYLE = `
  .thread h3 { margin: .2rem 0 .5rem; font-size: 1rem; }
  .thread-list { list-style: none; padding: 0; margin: 0 0 .6rem; }
  .thread-list li { border-left: 3px solid #d5d9e2; padding: .2rem .5rem; margin-bottom: .5rem; }
  .thread-list li.thread-guideline_question { border-color: #e0a800; }
  .thread-list li.thread-rejection { border-color: #d33; }
  .thread-meta { font-size: .75rem; color: #666; }
  .thread-body { white-space: pre-wrap; }
  .thread-status { font-size: .8rem; color: #8a6d00; }
  .thread-reply { font-size: .75rem; border: 0; background: none; color: #2f6fed; cursor: pointer; padding: 0; }
  .thread-form textarea { width: 100%; font: inherit; }
  .thread-actions { display: flex; gap: .5rem; justify-content: flex-end; margin-top: .3rem; }
  .thread-error { color: #b00020; min-height: 1rem; margin: .2rem 0; font-size: .85rem; }`;
const NAMES = { comment: "comment", guideline_question: "guideline question", rejection: "rejection",
                adjudication_note: "adjudication note" };

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) { if (k === "class") e.className = v; else e.setAttribute(k, v); }
  e.append(...kids);
  return e;
}

function mount(root, opts) {
  if (!document.getElementById("thread-style")) document.head.append(el("style", { id: "thread-style" }, STYLE));
  const { project, item, token } = opts;
  const kinds = opts.kinds && opts.kinds.length ? opts.kinds : ["comment"];
  const base = `/api/items/${encodeURIComponent(project)}/${encodeURIComponent(item)}/comments`;
  const headers = { "Authorization": "Bearer " + token, "Content-Type": "application/json" };
  const list = el("ol", { class: "thread-list" });
  const box = el("textarea", { rows: "3", "aria-label": "your comment", placeholder: "Write a comment…" });
  const kind = el("select", { "aria-label": "kind" }, ...kinds.map((k) => { const o = el("option", { value: k }, NAMES[k] || k); return o; }));
  const send = el("button", { type: "submit" }, "Post");
  const error = el("p", { class: "thread-error", role: "alert" });
  const form = el("form", { class: "thread-form" }, box, el("div", { class: "thread-actions" }, kind, send), error);
  root.textContent = "";
  root.classList.add("thread");
  root.append(el("h3", {}, "Comments"), list, form);
  let replyTo = null;
  let clientId = crypto.randomUUID();  // one per comment being written: a retried post is stored once

  function render(comments) {
    list.textContent = "";
    if (!comments.length) list.append(el("li", { class: "thread-empty" }, "No comments yet."));
    for (const c of comments) {
      const when = new Date(c.created_at * 1000).toLocaleString();
      const li = el("li", { class: `thread-${c.kind}`, "data-id": c.comment_id },
        el("div", { class: "thread-meta" }, `${c.author} · ${NAMES[c.kind] || c.kind} · ${when}`),
        el("div", { class: "thread-body" }, c.body));
      if (c.kind === "guideline_question") {
        li.append(el("div", { class: "thread-status" }, c.resolved_at ? `Answered by ${c.resolved_by}: ${c.resolution}` : "Open question"));
      }
      const reply = el("button", { type: "button", class: "thread-reply" }, "Reply");
      reply.addEventListener("click", () => { replyTo = c.comment_id; box.placeholder = `Reply to ${c.author}…`; box.focus(); });
      li.append(reply);
      list.append(li);
    }
  }

  async function reload() {
    const r = await fetch(base, { headers });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) { error.textContent = data.message || `HTTP ${r.status}`; return; }
    error.textContent = "";
    render(data.comments);
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!box.value.trim()) { error.textContent = "Write something first."; return; }
    send.disabled = true;
    try {
      const r = await fetch(base, { method: "POST", headers, body: JSON.stringify(
        { body: box.value, kind: kind.value, reply_to: replyTo, client_id: clientId }) });
      const data = await r.json().catch(() => ({}));
      if (!r.ok) { error.textContent = data.message || `HTTP ${r.status}`; return; }
      box.value = ""; replyTo = null; box.placeholder = "Write a comment…"; clientId = crypto.randomUUID();
      await reload();
    } finally { send.disabled = false; }
  });
  box.addEventListener("keydown", (ev) => {
    ev.stopPropagation();
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) form.requestSubmit();
    if (ev.key === "Escape") box.blur();
  });
  reload();
  return { reload, destroy() { root.textContent = ""; root.classList.remove("thread"); } };
}

window.annoflowComments = { mount };
})();
