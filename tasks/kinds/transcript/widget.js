// The transcript tool: the item (a clip's waveform with playback, an image, or a text) above one text box,
// pre-filled with the machine's draft so the person corrects it instead of typing from nothing. The
// answer is {"text": ...}; the server checks it again. Audio tools: /assets/audio_tools.js (shared with
// the segments tool). Contract: annotation_app/README.md.
"use strict";
(() => {
  const STYLE = `
  .aft { display: flex; flex-direction: column; gap: .6rem; min-height: 0; }
  .aft-image { max-width: 100%; max-height: 45vh; object-fit: contain; align-self: flex-start; }
  .aft-text { white-space: pre-wrap; max-height: 30vh; overflow: auto; background: #f7f8fa; padding: .6rem .8rem;
              border-radius: 6px; line-height: 1.5; }
  .aft textarea { width: 100%; min-height: 6rem; font-size: 1.05rem; line-height: 1.45; padding: .5rem .6rem;
                  border: 1px solid #c9cfdb; border-radius: 6px; resize: vertical; font-family: inherit; }
  .aft textarea:focus { outline: 2px solid #2f6fed; }
  .aft-note { font-size: .85rem; color: #555; display: flex; gap: 1rem; }
  .aft-note .bad { color: #b00020; }`;

  function factory(ctx) {
    if (!document.getElementById("aft-style")) {
      const s = document.createElement("style"); s.id = "aft-style"; s.textContent = STYLE; document.head.appendChild(s);
    }
    const opts = ctx.options || {}, maxChars = opts.max_chars || 20000, allowEmpty = Boolean(opts.allow_empty);
    const box = document.createElement("div"); box.className = "aft";
    const media = document.createElement("div");
    const text = document.createElement("textarea");
    text.setAttribute("aria-label", "transcript"); text.spellcheck = true;
    const draft = ctx.task.prelabel && typeof ctx.task.prelabel.text === "string" ? ctx.task.prelabel.text : "";
    text.value = draft;
    text.placeholder = ctx.task.data_kind === "audio" ? "Type what is said" : "Type the text";
    const note = document.createElement("div"); note.className = "aft-note";
    const origin = document.createElement("span"), count = document.createElement("span");
    origin.textContent = draft ? "Pre-filled with the machine's draft: correct what is wrong." : "";
    note.append(origin, count);
    box.append(media, text, note);
    ctx.root.appendChild(box);

    let player = null, dead = false;
    if (ctx.task.data_kind === "audio" && ctx.task.media_url) {
      window.annoflowKinds.require("/assets/audio_tools.js").then(() => {
        if (!dead) player = window.annoflowAudio.player({ root: media, url: ctx.task.media_url, regions: null });
      }).catch((e) => { count.textContent = e.message; count.className = "bad"; });
    } else if (ctx.task.data_kind === "image" && ctx.task.media_url) {
      const img = document.createElement("img"); img.className = "aft-image"; img.alt = "item"; img.src = ctx.task.media_url;
      media.appendChild(img);
    } else if (typeof ctx.task.payload === "string") {
      const t = document.createElement("div"); t.className = "aft-text"; t.textContent = ctx.task.payload; media.appendChild(t);
    }

    function problem() {
      const v = text.value.trim();
      if (!v && !allowEmpty) return "The transcript is empty.";
      if (v.length > maxChars) return `The transcript has ${v.length} characters, more than ${maxChars}.`;
      return null;
    }
    function changed() {
      const p = problem(), n = text.value.trim().length;
      count.textContent = p && n ? p : `${n} characters`;
      count.className = p && n ? "bad" : "";
      ctx.onChange(!p);
    }
    text.addEventListener("input", changed);
    // Typing keeps its keys; the player's keys work with Ctrl while the box has the cursor.
    text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); if (!problem()) ctx.submit(); return; }
      if (e.key === "Escape") { e.preventDefault(); text.blur(); return; }
      if (!player || !e.ctrlKey) return;
      if (e.key === " ") { e.preventDefault(); if (e.shiftKey) player.replay(); else player.toggle(); }
      else if (e.key === "[" || e.key === "]") { e.preventDefault(); player.stepRate(e.key === "[" ? -1 : 1); }
    });
    changed();

    const keys = [];
    if (ctx.task.data_kind === "audio") {
      keys.push({ key: "Space", action: "play / pause" }, { key: "R", action: "replay" }, { key: "[ ]", action: "slower / faster" },
                { key: "← →", action: "back / ahead 1 s" }, { key: "wheel + −", action: "zoom (0 fits the clip; Shift+wheel scrolls)" });
    }
    keys.push({ key: "T", action: "edit the transcript" }, { key: "Esc", action: "leave the text box" },
              { key: "Shift+Enter", action: "new line in the text" });
    if (ctx.task.data_kind === "audio") keys.push({ key: "Ctrl+Space", action: "play / pause while typing (Ctrl+Shift+Space replay)" });
    return {
      keys,
      answer() { const p = problem(); if (p) throw new Error(p); return { text: text.value.trim() }; },
      handleKey(e) {
        if ((e.key === "t" || e.key === "T") && !e.ctrlKey && !e.metaKey && !e.altKey) {
          text.focus(); text.setSelectionRange(text.value.length, text.value.length); return true;
        }
        return player ? player.handleKey(e) : false;
      },
      destroy() { dead = true; if (player) player.destroy(); },
    };
  }
  factory.drawsMedia = true;  // the waveform, the image or the text is drawn here, above the box
  window.annoflowKinds.register("transcript", factory);
})();
