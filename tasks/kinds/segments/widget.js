// The region tool for time segments: the clip's waveform with playback; drag on it to draw a region, drag
// a region's edges to adjust it or its body to move it, number keys label it, and a list shows every
// region with its label (and its text, when the project asks for one). Machine regions arrive already
// drawn, to be corrected. The answer is [{start_s, end_s, label[, text]}]; the server checks it again.
// Audio tools: /assets/audio_tools.js (shared with the transcript tool). Contract: annotation_app/README.md.
"use strict";
(() => {
  function factory(ctx) {
    const opts = ctx.options || {};
    let player = null, dead = false;
    const holder = document.createElement("div"), note = document.createElement("div");
    note.style.cssText = "color:#b00020;font-size:.85rem;min-height:1.1rem";
    ctx.root.append(holder, note);
    const changed = () => { const p = problem(); note.textContent = player && player.ready() ? p || "" : ""; ctx.onChange(!p); };
    ctx.onChange(false);  // until the clip is decoded, there is nothing to say where regions are
    window.annoflowKinds.require("/assets/audio_tools.js").then(() => {
      if (dead) return;
      player = window.annoflowAudio.player({
        root: holder, url: ctx.task.media_url,
        regions: { labels: ctx.labels, colors: opts.colors || ctx.labels.map(() => "#888888"),
                   keys: opts.keys || ctx.labels.map((_, i) => (i < 9 ? String(i + 1) : "")),
                   allowOverlap: Boolean(opts.allow_overlap), withText: Boolean(opts.with_text),
                   initial: Array.isArray(ctx.task.prelabel) ? ctx.task.prelabel : [] },
        onReady: changed, onChange: changed,
      });
    }).catch((e) => { holder.textContent = e.message; });
    function problem() {  // what keeps the answer from being sent, as the server would say it
      if (!player || !player.ready()) return "The clip is still loading.";
      const bare = opts.with_text ? player.regions().find((r) => !r.text) : null;
      return bare ? `The ${bare.label} region at ${bare.start_s.toFixed(2)}–${bare.end_s.toFixed(2)} s has no text: select it and press T.` : null;
    }
    const keys = [{ key: "Space", action: "play / pause" }, { key: "R", action: "replay (the selected region)" },
                  { key: "[ ]", action: "slower / faster" }, { key: "← →", action: "back / ahead 1 s" },
                  { key: "wheel + −", action: "zoom (0 fits the clip; Shift+wheel scrolls)" },
                  { key: "drag", action: "draw a region; drag its edges to adjust, its middle to move" },
                  ...ctx.labels.map((l, i) => ({ key: (opts.keys || [])[i] || "", action: `label ${l}` })).filter((k) => k.key),
                  { key: "Tab", action: "next region" }, { key: "Del", action: "delete the region" },
                  { key: "Esc", action: "unselect (new regions get the last label key)" }];
    if (opts.with_text) keys.push({ key: "T", action: "type the region's text" });
    return {
      keys,
      answer() {
        const p = problem();
        if (p) throw new Error(p);
        return player.regions();
      },
      handleKey(e) { return player ? player.handleKey(e) : false; },
      destroy() { dead = true; if (player) player.destroy(); },
    };
  }
  factory.drawsMedia = true;  // the waveform is the clip on screen
  window.annoflowKinds.register("segments", factory);
})();
