// The side-by-side view of a pairwise comparison: the prompt above two candidates, each rendered as Markdown
// by the small renderer below (every character of HTML is escaped before any formatting is applied, links
// are kept only for http(s) addresses: nothing a candidate holds becomes markup). The two panes scroll
// together. The order is drawn per assignment from a hash of the task's lease id and sent as `swapped`
// (true: candidate b is shown first), so position bias can be measured. Keys: A, B, T (tie), R (reason).
// A candidate that is a media reference (an image or audio file path, file:// or http(s) URI with an image
// or audio extension) is shown as an image or an audio player: a local file through the lease's media URL
// (`/api/annotate/media/<lease>?part=a|b`, the app serves it from its media roots), a web address as it is.
// Answer: {"choice": "A"|"B"|"tie", "swapped": bool, "reason"?: str}. Contract: annotation_app/README.md.
// `factory.compare` is the adjudicator's compare mode (annotation_app/web/conflict.js): the answers in the
// item's own order (candidate a, candidate b: each answer is turned back from the order it was shown in).
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
  .afp-bad { color: #b00020; }
  .afp-media img { max-width: 100%; max-height: 45vh; display: block; margin: 0 auto; }
  .afp-media audio { width: 100%; }
  .afp-cmp { display: flex; flex-direction: column; gap: .5rem; font-size: .92rem; }
  .afp-cmp-pair { display: grid; grid-template-columns: 1fr 8rem 1fr; gap: .6rem; }
  .afp-cmp-col { border: 1px solid #d5dae3; border-radius: 6px; min-width: 0; cursor: pointer; }
  .afp-cmp-col:hover { border-color: #2f6fed; }
  .afp-cmp-col h4 { margin: 0; padding: .3rem .6rem; background: #eef1f6; font-size: .9rem; display: flex; justify-content: space-between; gap: .4rem; }
  .afp-cmp-col .afp-body { max-height: 12rem; }
  .afp-cmp-who { padding: .3rem .5rem; min-height: 1.4rem; }
  .afp-cmp .chip { display: inline-flex; align-items: center; gap: .25rem; margin: 0 .3rem .2rem 0; padding: 0 .35rem;
    border: 2px solid; border-radius: 10px; font-size: .8rem; }
  .afp-cmp .chip i { width: .6rem; height: .6rem; border-radius: 50%; display: inline-block; }
  .afp-cmp table { border-collapse: collapse; width: 100%; }
  .afp-cmp th, .afp-cmp td { text-align: left; padding: .2rem .45rem; border-bottom: 1px solid #e3e6ec; vertical-align: top; }
  .afp-cmp tr.off { display: none; }
  .afp-cmp .tally { font-weight: 600; }`;

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

  // A candidate that names an image or audio file rather than holding text: one token ending in a media
  // extension, a path or a file:// / http(s):// URI (the same rule as candidates.py, which ingest applies).
  const MEDIA = /^(?:(?:https?|file):\/\/\S+|[^\s:]+)\.(png|jpe?g|gif|bmp|webp|tiff?|wav|mp3|flac|ogg|m4a)(?:[?#]\S*)?$/i;
  function mediaOf(text) {
    const m = MEDIA.exec(String(text || "").trim());
    return !m ? null : /^(wav|mp3|flac|ogg|m4a)$/i.test(m[1]) ? "audio" : "image";
  }

  // A candidate's body: Markdown, or the image / audio player of a media candidate (`part` "a" or "b" is the
  // candidate's key in the item, which the app's media URL of the lease serves).
  function candidate(body, text, part, lease) {
    const kind = mediaOf(text);
    if (!kind) { body.innerHTML = markdown(text || ""); return; }
    const t = String(text).trim();
    const src = /^https?:\/\//i.test(t) ? t : `/api/annotate/media/${encodeURIComponent(lease)}?part=${part}`;
    const el = document.createElement(kind === "image" ? "img" : "audio");
    el.src = src;
    if (kind === "image") el.alt = `candidate ${part}`; else { el.controls = true; el.preload = "metadata"; }
    body.classList.add("afp-media"); body.replaceChildren(el);
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
    const shown = swapped ? [item.b, item.a] : [item.a, item.b], parts = swapped ? ["b", "a"] : ["a", "b"];
    const box = document.createElement("div"); box.className = "afp";
    const prompt = document.createElement("div"); prompt.className = "afp-prompt"; prompt.innerHTML = markdown(item.prompt || "");
    const pair = document.createElement("div"); pair.className = "afp-pair";
    const sides = ["A", "B"].map((slot, k) => {
      const side = document.createElement("section"); side.className = "afp-side"; side.dataset.slot = slot;
      const h = document.createElement("h3"); h.innerHTML = `<span>${slot}</span><kbd>${slot}</kbd>`;
      const body = document.createElement("div"); body.className = "afp-body"; candidate(body, shown[k], parts[k], ctx.task.item_id);
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
        reason.value = a.reason || "";
        changed();
      },
      destroy() {},
    };
  }
  // An answer in the item's terms: "a", "b" or "tie" (choice names the slot as shown; swapped: b was shown first).
  const preferred = (a) => (!a || !a.choice ? null : a.choice === "tie" ? "tie" : (a.choice === "A") !== Boolean(a.swapped) ? "a" : "b");
  const NAMES = { a: "candidate a", b: "candidate b", tie: "tie" };

  function reliabilityText(r) {
    if (!r || r.value == null) return "unknown";
    const f = (x) => Number(x).toFixed(2);
    return f(r.value) + (r.low != null && r.high != null ? ` [${f(r.low)}–${f(r.high)}]` : "");
  }

  // Compare mode: the two candidates in the item's order with, under each, the sources that preferred it (in
  // their colours) and a tie column between; the tally and the consensus P of each outcome; then one row per
  // source: what it preferred, on which side it had seen that candidate, its reliability and its reason. A
  // click on a candidate (or the tie column) starts the answer from that preference.
  function compare(cctx) {
    if (!document.getElementById("afp-style")) {
      const s = document.createElement("style"); s.id = "afp-style"; s.textContent = STYLE; document.head.appendChild(s);
    }
    let item = {};
    try { item = JSON.parse(cctx.task.payload || "{}") || {}; } catch (e) { item = {}; }
    const below = swappedFor(cctx.task.item_id) ? { a: "B", b: "A" } : { a: "A", b: "B" };  // the widget's slots
    const visible = cctx.answers.map(() => true);
    const post = new Map((cctx.posterior || []).map((p) => [p.label, p.p]));
    const wrap = document.createElement("div"); wrap.className = "afp-cmp";
    const pair = document.createElement("div"); pair.className = "afp-cmp-pair";
    const cols = {};
    for (const side of ["a", "tie", "b"]) {
      const col = document.createElement("section"); col.className = "afp-cmp-col"; col.dataset.pref = side;
      const h = document.createElement("h4");
      h.innerHTML = side === "tie" ? "<span>tie</span>" : `<span>${NAMES[side]}</span><small>below: ${below[side]}</small>`;
      const tally = document.createElement("div"); tally.className = "afp-cmp-who";
      col.append(h, tally);
      if (side !== "tie") {
        const body = document.createElement("div"); body.className = "afp-body";
        candidate(body, item[side], side, cctx.task.item_id); col.insertBefore(body, tally);
      }
      col.addEventListener("click", () => cctx.pick(side === "tie" ? { choice: "tie", swapped: false }
                                                                    : { choice: side === "a" ? "A" : "B", swapped: false }));
      cols[side] = { col, tally, h }; pair.appendChild(col);
    }
    const total = document.createElement("div"); total.className = "tally";
    const table = document.createElement("table"); table.className = "afp-cmp-answers";
    table.innerHTML = "<thead><tr><th>source</th><th>prefers</th><th>shown</th><th>reliability</th><th>reason</th></tr></thead>";
    const tbody = document.createElement("tbody"); table.appendChild(tbody);
    cctx.answers.forEach((a, i) => {
      const pref = preferred(a.answer), tr = document.createElement("tr");
      tr.dataset.i = String(i); tr.dataset.pref = pref || "";
      const side = pref === "tie" ? "–" : (pref === "a") !== Boolean(a.answer.swapped) ? "left" : "right";
      tr.innerHTML = `<td><span class="chip" style="border-color:${a.colour}"><i style="background:${a.colour}"></i>${esc(a.source_id)}</span></td>` +
        `<td class="pref">${esc(NAMES[pref] || "?")}</td><td class="side">${pref === "tie" ? "–" : `${side}${a.answer.swapped ? " (b first)" : ""}`}</td>` +
        `<td class="rel">${esc(reliabilityText(a.reliability))}</td><td class="reason">${esc(a.answer.reason || "")}</td>`;
      tbody.appendChild(tr);
    });
    wrap.append(pair, total, table);
    cctx.root.appendChild(wrap);
    function render() {
      const n = { a: 0, b: 0, tie: 0 };
      for (const [side, { tally, h }] of Object.entries(cols)) {
        const who = cctx.answers.map((a, i) => [a, i]).filter(([a, i]) => visible[i] && preferred(a.answer) === side);
        n[side] = who.length;
        tally.innerHTML = who.map(([a]) => `<span class="chip" style="border-color:${a.colour}" data-source="${esc(a.source_id)}">` +
          `<i style="background:${a.colour}"></i>${esc(a.source_id)}</span>`).join("");
        h.title = `${who.length} vote${who.length === 1 ? "" : "s"}`;
      }
      total.textContent = `Tally: a ${n.a} · b ${n.b} · tie ${n.tie}` + (post.size
        ? ` — consensus P: a ${(post.get("a") ?? 0).toFixed(2)}, b ${(post.get("b") ?? 0).toFixed(2)}, tie ${(post.get("tie") ?? 0).toFixed(2)}` : "");
      for (const tr of tbody.children) tr.classList.toggle("off", !visible[Number(tr.dataset.i)]);
    }
    render();
    return {
      toggle(i, on) { visible[i] = on; render(); },
      describe(answer) {
        const pref = preferred(answer);
        if (!pref) return "(none)";
        const why = answer.reason ? ` — “${answer.reason.length > 60 ? answer.reason.slice(0, 57) + "…" : answer.reason}”` : "";
        return (pref === "tie" ? "tie" : `prefers ${NAMES[pref]}`) + why;
      },
      destroy() { wrap.remove(); },
    };
  }

  factory.drawsMedia = true;  // the prompt and both candidates are drawn here
  factory.compare = compare;
  window.annoflowKinds.register("pairwise", factory);
})();
