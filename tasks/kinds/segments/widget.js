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
    const holder = document.createElement("div");
    ctx.root.appendChild(holder);
    ctx.onChange(false);  // until the clip is decoded, there is nothing to say where regions are
    window.annoflowKinds.require("/assets/audio_tools.js").then(() => {
      if (dead) return;
      player = window.annoflowAudio.player({
        root: holder, url: ctx.task.media_url,
        regions: { labels: ctx.labels, colors: opts.colors || ctx.labels.map(() => "#888888"),
                   keys: opts.keys || ctx.labels.map((_, i) => (i < 9 ? String(i + 1) : "")),
                   allowOverlap: Boolean(opts.allow_overlap), withText: Boolean(opts.with_text),
                   initial: Array.isArray(ctx.task.prelabel) ? ctx.task.prelabel : [] },
        onReady: () => ctx.onChange(true),
      });
    }).catch((e) => { holder.textContent = e.message; });
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
        if (!player || !player.ready()) throw new Error("The clip is still loading.");
        return player.regions();
      },
      handleKey(e) { return player ? player.handleKey(e) : false; },
      destroy() { dead = true; if (player) player.destroy(); },
    };
  }
  factory.drawsMedia = true;  // the waveform is the clip on screen
  window.annoflowKinds.register("segments", factory);
})();
