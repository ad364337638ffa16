// The side-by-side view of a pairwise comparison: the prompt above two candidates, each rendered as Markdown
// by the small renderer below (every character of HTML is escaped before any formatting is applied, links
// are kept only for http(s) addresses: nothing a candidate holds becomes markup). The two panes scroll
// together. The order is drawn per assignment from a hash of the task's lease id and sent as `swapped`
// (true: candidate b is shown first), so position bias can be measured. Keys: A, B, T (tie), R (reason).
// Answer: {"choice": "A"|"B"|"tie", "swapped": bool, "reason"?: str}. Contract: annotation_app/README.md.
"use strict";
(() => {
  const STYLE = `
  .afp { display: flex; flex-direction: column; gap: .6rem; min-height: 0; }
  .afp-prompt { background: #f7f8fa; padding: .6rem .8rem; border-radius: 6px; max-height: 20vh; overflow: auto; }
  .afp-pair { display: flex; gap: .8rem; min-height: 0; }
  .afp-side { flex: 1 1 0; display: flex; flex-direction: column; border: 2px solid #d5dae3; border-radius: 6px; min-width: 0; }
  .afp-side.picked { border-color: #2f6fed; box-shadow: 0 0 0 2px #2f6fed33; }
  .afp-side h3 { margin: 0; padding: .35rem .7rem; font-size: .95rem; background: #eef1f6; display: flex; justify-content: space-between; }
  .afp-body { padding: .5rem .8rem; overflow: auto; max-height: 50vh; line-height: 1.5; }
  .afp-body pre { background: #f3f4f6; padding: .5rem; overflow: auto; }
  .afp-bar { display: flex; gap: .6rem; align-items: center; }
  .afp-bar button.picked { background: #2f6fed; color: #fff; }
  .afp textarea { width: 100%; min-height: 2.5rem; font-family: inherit; }
  .afp-bad { color: #b00020; }`;

  const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");

  function inline(s) {  // s is already escaped
    return s
      .replace(/`([^`]+)`/g, "<code>$1</code>")
      .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
      .replace(/\*([^*]+)\*/g, "<em>$1</em>")
      .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" rel="noopener noreferrer" target="_blank">$1</a>');
  }

  // A safe subset of Markdown: fenced code, headings, bullet and numbered lists, paragraphs, inline code,
  // bold, italic, http(s) links. Input is escaped first, so the output holds only the tags written here.
  function markdown(text) {
    const out = [], lines = esc(String(text)).split("\n");
    let para = [], list = null;
    const flush = () => {
      if (para.length) { out.push("<p>" + inline(para.join(" ")) + "</p>"); para = []; }
      if (list) { out.push(`<${list.tag}>` + list.items.map((i) => "<li>" + inline(i) + "</li>").join("") + `</${list.tag}>`); list = null; }
    };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (/^```/.test(line)) {
        flush();
        const code = [];
        for (i++; i < lines.length && !/^```/.test(lines[i]); i++) code.push(lines[i]);
        out.push("<pre><code>" + code.join("\n") + "</code></pre>");
        continue;
      }
      let m;
      if ((m = /^(#{1,6})\s+(.*)$/.exec(line))) { flush(); const n = Math.min(m[1].length + 3, 6); out.push(`<h${n}>${inline(m[2])}</h${n}>`); continue; }
      if ((m = /^\s*[-*]\s+(.*)$/.exec(line)) || (m = /^\s*\d+[.)]\s+(.*)$/.exec(line))) {
        const tag = /^\s*\d/.test(line) ? "ol" : "ul";
        if (para.length || (list && list.tag !== tag)) flush();
        if (!list) list = { tag, items: [] };
        list.items.push(m[1]);
        continue;
      }
      if (!line.trim()) { flush(); continue; }
      if (list) flush();
      para.push(line);
    }
    flush();
    return out.join("");
  }

  function swappedFor(id) {  // FNV-1a of the lease id: the same task shows the same order after a reload
    let h = 0x811c9dc5;
    for (const ch of String(id)) { h ^= ch.codePointAt(0); h = Math.imul(h, 0x01000193) >>> 0; }
    return (h & 1) === 1;
  }

  function factory(ctx) {
    if (!document.getElementById("afp-style")) {
      const s = document.createElement("style"); s.id = "afp-style"; s.textContent = STYLE; document.head.appendChild(s);
    }
    const opts = ctx.options || {}, allowTies = opts.allow_ties !== false, needReason = Boolean(opts.require_reason);
    const maxReason = opts.max_reason_chars || 2000;
    let item = {};
    try { item = JSON.parse(ctx.task.payload || "{}") || {}; } catch (e) { item = {}; }
    const swapped = swappedFor(ctx.task.item_id);
    const shown = swapped ? [item.b, item.a] : [item.a, item.b];
    const box = document.createElement("div"); box.className = "afp";
    const prompt = document.createElement("div"); prompt.className = "afp-prompt"; prompt.innerHTML = markdown(item.prompt || "");
    const pair = document.createElement("div"); pair.className = "afp-pair";
    const sides = ["A", "B"].map((slot, k) => {
      const side = document.createElement("section"); side.className = "afp-side"; side.dataset.slot = slot;
      const h = document.createElement("h3"); h.innerHTML = `<span>${slot}</span><kbd>${slot}</kbd>`;
      const body = document.createElement("div"); body.className = "afp-body"; body.innerHTML = markdown(shown[k] || "");
      side.append(h, body); pair.appendChild(side);
      side.addEventListener("click", () => pick(slot));
      return { side, body };
    });
    // Long texts scroll together: a scroll of one pane moves the other to the same share of its length.
    let syncing = false;
    sides.forEach(({ body }, k) => body.addEventListener("scroll", () => {
      if (syncing) { syncing = false; return; }
      const other = sides[1 - k].body, range = body.scrollHeight - body.clientHeight;
      syncing = true;
      other.scrollTop = range > 0 ? (body.scrollTop / range) * (other.scrollHeight - other.clientHeight) : 0;
    }));
    const bar = document.createElement("div"); bar.className = "afp-bar";
    const buttons = {};
    for (const [choice, text] of [["A", "A is better"], ["B", "B is better"], ...(allowTies ? [["tie", "Tie"]] : [])]) {
      const b = document.createElement("button"); b.type = "button"; b.textContent = text; b.dataset.choice = choice;
      b.addEventListener("click", () => pick(choice)); buttons[choice] = b; bar.appendChild(b);
    }
    const reason = document.createElement("textarea");
    reason.placeholder = needReason ? "Why (required)" : "Why (optional)"; reason.setAttribute("aria-label", "reason");
    const note = document.createElement("div"); note.className = "afp-bad";
    box.append(prompt, pair, bar, reason, note);
    ctx.root.appendChild(box);

    let choice = null;
    function problem() {
      if (!choice) return "Pick A, B" + (allowTies ? " or tie." : ".");
      const r = reason.value.trim();
      if (needReason && !r) return "This project asks for a reason.";
      if (r.length > maxReason) return `The reason has ${r.length} characters, more than ${maxReason}.`;
      return null;
    }
    function changed() { const p = problem(); note.textContent = choice && p ? p : ""; ctx.onChange(!p); }
    function pick(c) {
      choice = c;
      sides.forEach(({ side }) => side.classList.toggle("picked", side.dataset.slot === c));
      Object.entries(buttons).forEach(([k, b]) => b.classList.toggle("picked", k === c));
      changed();
    }
    reason.addEventListener("input", changed);
    reason.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); if (!problem()) ctx.submit(); }
      else if (e.key === "Escape") { e.preventDefault(); reason.blur(); }
    });
    changed();
    return {
      keys: [{ key: "A / B", action: "the candidate shown left / right is better" },
             ...(allowTies ? [{ key: "T", action: "tie" }] : []), { key: "R", action: "write a reason" }],
      answer() {
        const p = problem(); if (p) throw new Error(p);
        const out = { choice, swapped }; const r = reason.value.trim(); if (r) out.reason = r;
        return out;
      },
      handleKey(e) {
        if (e.ctrlKey || e.metaKey || e.altKey) return false;
        const k = e.key.toLowerCase();
        if (k === "a" || k === "b") { pick(k.toUpperCase()); return true; }
        if (k === "t" && allowTies) { pick("tie"); return true; }
        if (k === "r") { e.preventDefault(); reason.focus(); return true; }
        return false;
      },
      setAnswer(a) {  // an answer given in another order is turned into this view's order
        if (!a || !a.choice) return;
        const flip = a.choice !== "tie" && Boolean(a.swapped) !== swapped;
        pick(flip ? (a.choice === "A" ? "B" : "A") : a.choice);
        if (a.reason) reason.value = a.reason;
        changed();
      },
      destroy() {},
    };
  }
  factory.drawsMedia = true;  // the prompt and both candidates are drawn here
  window.annoflowKinds.register("pairwise", factory);
})();
