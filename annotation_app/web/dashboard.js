// The quality dashboard's views, drawn with the vendored Chart.js from the series of tasks/report/data.py.
// Shared by the app's /admin/dashboard page (data fetched with the admin token) and the self-contained
// report (data inlined): `AnnoflowDashboard.render(data)` draws every view into the page's placeholders.
// Charts are kept in `window.annoflowCharts` (name -> Chart) and `window.annoflowRendered` is set to the
// time all were drawn, so tests and the benchmark can check what was drawn and when.
"use strict";
(function () {
  const PALETTE = ["#2f6fed", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0b7285", "#a07900", "#495057",
    "#d6336c", "#5c940d", "#1864ab", "#862e9c"];
  const color = (i, a) => { const c = PALETTE[i % PALETTE.length]; return a === undefined ? c : c + Math.round(a * 255).toString(16).padStart(2, "0"); };

  const fmt = {
    pct: (v, d = 1) => (v === null || v === undefined ? "–" : (100 * v).toFixed(d) + "%"),
    num: (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US")),
    sec: (v) => (v === null || v === undefined ? "–" : (v < 10 ? v.toFixed(1) : v.toFixed(0)) + " s"),
    money: (v) => (v === null || v === undefined ? "–" : (Math.abs(v) < 1 ? v.toFixed(3) : v.toFixed(2))),
    when: (ms) => new Date(ms).toISOString().slice(0, 16).replace("T", " "),
    day: (ms) => new Date(ms).toISOString().slice(0, 10),
    coef: (v) => (v === null || v === undefined ? "–" : v.toFixed(2)),
    // a value with its interval; `f` formats the numbers (percent by default; agreement coefficients are not shares)
    interval: (v, lo, hi, f) => (v === null || v === undefined ? "–" : (f || fmt.pct)(v) + (lo !== null && lo !== undefined && hi !== null && hi !== undefined
      ? ` (${(f || ((x) => fmt.pct(x, 0)))(lo)}–${(f || ((x) => fmt.pct(x, 0)))(hi)})` : "")),
  };

  // Time on a linear axis of epoch ms (no date adapter needed): ticks on whole seconds, minutes, hours or
  // days (UTC), the step the smallest of these that leaves at most 7 ticks (a demo's runs are seconds apart).
  const HOUR = 3600e3, STEPS = [5 / 3600, 10 / 3600, 15 / 3600, 30 / 3600, 1 / 60, 2 / 60, 5 / 60, 10 / 60, 0.25, 0.5, 1, 2, 3, 6, 12, 24, 48, 96, 168, 336, 720, 2160, 8760].map((h) => h * HOUR);
  const timeAxis = () => ({
    type: "linear",
    afterBuildTicks: (axis) => {
      const span = axis.max - axis.min, step = STEPS.find((st) => span / st <= 7) || STEPS[STEPS.length - 1];
      const ticks = [];
      for (let t = Math.ceil(axis.min / step) * step; t <= axis.max; t += step) ticks.push({ value: t });
      if (ticks.length) axis.ticks = ticks;
    },
    // the first tick and each midnight say the day; the others only the time of day (with seconds
    // when the axis spans less than ten minutes)
    ticks: { callback(v, i) {
      const d = new Date(v), clock = new Date(v).toISOString().slice(11, this.max - this.min < 600e3 ? 19 : 16);
      return d.getUTCHours() === 0 && d.getUTCMinutes() === 0 && d.getUTCSeconds() === 0 ? fmt.day(v) : i === 0 ? `${fmt.day(v)} ${clock}` : clock;
    }, maxRotation: 0 },
  });
  const pctAxis = (extra) => Object.assign({ ticks: { callback: (v) => fmt.pct(v, 0) } }, extra || {});
  const BASE = { animation: false, responsive: true, maintainAspectRatio: false, normalized: true,
    interaction: { mode: "nearest", intersect: false }, plugins: { legend: { labels: { boxWidth: 12 } } } };
  const opts = (o) => Object.assign({}, BASE, o, { plugins: Object.assign({}, BASE.plugins, o.plugins || {}) });
  const points = (s, key) => s.x.map((x, i) => ({ x, y: s[key][i] }));

  // A value line with its interval drawn as a shaded band (upper bound filled down to the lower one).
  // The bounds are left out of the legend; clicking a series' legend entry hides its band with it.
  function banded(series, i, axis) {
    const out = [];
    if (series.low && series.high) {
      out.push({ label: series.name + " high", data: points(series, "high"), borderWidth: 0, pointRadius: 0,
        backgroundColor: color(i, 0.15), fill: "+1", band: true, yAxisID: axis, parsing: false });
      out.push({ label: series.name + " low", data: points(series, "low"), borderWidth: 0, pointRadius: 0, fill: false,
        band: true, yAxisID: axis, parsing: false });
    }
    // {x, y} points in time order are Chart.js's own format: `parsing: false` skips a pass over 500-run series
    out.push({ label: series.name, data: points(series, "y"), borderColor: color(i), backgroundColor: color(i),
      borderWidth: 2, pointRadius: series.x.length > 60 ? 0 : 2, fill: false, yAxisID: axis, tension: 0, n: series.n,
      parsing: false });
    return out;
  }
  const bandLegend = {
    labels: { boxWidth: 12, filter: (item, data) => !data.datasets[item.datasetIndex].band },
    onClick: (e, item, legend) => {
      const chart = legend.chart, label = chart.data.datasets[item.datasetIndex].label;
      const hide = chart.isDatasetVisible(item.datasetIndex);
      chart.data.datasets.forEach((d, j) => { if (d.label === label || d.label === label + " high" || d.label === label + " low") chart.setDatasetVisibility(j, !hide); });
      chart.update();
    },
  };
  const bandTooltip = (f) => ({
    filter: (item) => !item.dataset.band,
    callbacks: {
      title: (items) => (items.length ? fmt.when(items[0].parsed.x) : ""),
      label: (item) => {
        const ds = item.chart.data.datasets, hi = ds.find((d) => d.label === item.dataset.label + " high"),
          lo = ds.find((d) => d.label === item.dataset.label + " low"), k = item.dataIndex;
        const n = item.dataset.n && item.dataset.n[k] !== null && item.dataset.n[k] !== undefined ? `, n=${fmt.num(item.dataset.n[k])}` : "";
        return `${item.dataset.label}: ${fmt.interval(item.parsed.y, lo ? lo.data[k].y : null, hi ? hi.data[k].y : null, f)}${n}`;
      },
    },
  });

  function empty(id, why) {
    const box = document.getElementById(id);
    box.classList.add("empty");
    box.innerHTML = `<p class="none">${why}</p>`;
  }
  function chart(name, id, config) {
    const box = document.getElementById(id);
    box.classList.remove("empty");
    box.innerHTML = "";
    const canvas = document.createElement("canvas");
    canvas.setAttribute("aria-label", name);
    box.appendChild(canvas);
    window.annoflowCharts[name] = new Chart(canvas, config);
  }

  const views = {
    throughput(d) {
      const t = d.throughput, q = d.queue;
      if (!t.per_day.x.length && !q.length) return empty("v-throughput", "No human judgments and no queue history yet.");
      const ds = [{ type: "bar", label: t.per_day.name, data: points(t.per_day, "y"), backgroundColor: color(0, 0.6), yAxisID: "y" }];
      if (t.per_run) ds.push({ type: "line", label: t.per_run.name, data: points(t.per_run, "y"), showLine: false, pointRadius: 3,
        pointStyle: "triangle", borderColor: color(5), backgroundColor: color(5), yAxisID: "y" });
      q.forEach((s, i) => ds.push({ type: "line", label: s.name, data: points(s, "y"), borderColor: color(i + 1), backgroundColor: color(i + 1),
        pointRadius: s.x.length > 60 ? 0 : 2, yAxisID: "y2" }));
      chart("throughput", "v-throughput", { data: { datasets: ds }, options: opts({
        scales: { x: Object.assign(timeAxis(), { offset: true }), y: { title: { display: true, text: "judgments" }, beginAtZero: true },
          y2: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "open tasks" } } },
        plugins: { tooltip: { callbacks: { title: (it) => (it.length ? fmt.when(it[0].parsed.x) : "") } } } }) });
    },
    time(d) {
      const rows = d.time_per_item;
      if (!rows.length) return empty("v-time", "No timed human judgments yet (votes.duration_ms).");
      const labels = rows.map((r) => r.source);
      document.getElementById("v-time").style.height = Math.max(220, 40 + 24 * rows.length) + "px";
      chart("time_per_item", "v-time", { type: "bar", data: { labels, datasets: [
        { label: "p10–p90", data: rows.map((r) => [r.p10, r.p90]), backgroundColor: color(0, 0.2), grouped: false, barPercentage: 0.35 },
        { label: "p25–p75", data: rows.map((r) => [r.p25, r.p75]), backgroundColor: color(0, 0.6), grouped: false, barPercentage: 0.8 },
        { type: "line", label: "median", data: rows.map((r) => r.median), showLine: false, pointStyle: "line", pointRadius: 9,
          pointRotation: 90, borderColor: "#1d2330", borderWidth: 3, backgroundColor: "#1d2330" },
      ] }, options: opts({ indexAxis: "y", scales: { x: { title: { display: true, text: "seconds per judgment" }, beginAtZero: true } },
        plugins: { tooltip: { callbacks: { label: (it) => {
          const r = rows[it.dataIndex];
          return it.dataset.label === "median" ? `median ${fmt.sec(r.median)} of ${fmt.num(r.n)} judgments`
            : it.dataset.label === "p25–p75" ? `middle half ${fmt.sec(r.p25)}–${fmt.sec(r.p75)}` : `80% within ${fmt.sec(r.p10)}–${fmt.sec(r.p90)}`;
        } } } } }) });
    },
    accuracy(d) { bandedView("accuracy", "v-accuracy", d.accuracy, "No gold accuracy history yet.", true); },
    agreement(d) { bandedView("agreement", "v-agreement", d.agreement, "No agreement history yet.", false); },
    audit(d) {
      const a = d.audit;
      if (!a.precision.length && !a.share.length) return empty("v-audit", "No audits of auto-accepted labels yet.");
      const ds = [];
      a.precision.forEach((s, i) => ds.push(...banded(Object.assign({}, s, { name: "precision, " + (s.name === "all" ? "all labels" : s.name) }), i, "y")));
      a.share.forEach((s, i) => ds.push(Object.assign(banded(s, a.precision.length + i, "y2").pop(), { borderWidth: 1.5 })));
      chart("audit_precision", "v-audit", { type: "line", data: { datasets: ds }, options: opts({
        scales: { x: timeAxis(), y: pctAxis({ title: { display: true, text: "audit precision" } }),
          y2: pctAxis({ position: "right", min: 0, max: 1, grid: { drawOnChartArea: false }, title: { display: true, text: "auto-accepted" } }) },
        plugins: { legend: bandLegend, tooltip: bandTooltip() } }) });
    },
    drift(d) {
      const v = d.drift;
      if (!v.versions.length) return empty("v-drift", "No export versions yet.");
      const ds = v.labels.map((k, i) => ({ type: "bar", label: k, data: v.shares[k], backgroundColor: color(i, 0.75), stack: "s" }));
      if (v.versions.length > 1) ds.push({ type: "line", label: "change from previous version", data: v.tvd, borderColor: "#1d2330",
        backgroundColor: "#1d2330", yAxisID: "y2", spanGaps: false });  // one version: nothing to compare yet
      chart("label_drift", "v-drift", { data: { labels: v.versions, datasets: ds }, options: opts({
        scales: { x: { stacked: true }, y: pctAxis({ stacked: true, min: 0, max: 1, title: { display: true, text: "share of labels" } }),
          y2: { position: "right", min: 0, grid: { drawOnChartArea: false }, ticks: { callback: (x) => fmt.pct(x, 1) },
            title: { display: true, text: "total variation distance" } } },
        plugins: { tooltip: { callbacks: { label: (it) => `${it.dataset.label}: ${fmt.pct(it.parsed.y)}`,
          footer: (its) => (its.length ? `${fmt.num(v.counts[its[0].dataIndex])} labels` : "") } } } }) });
    },
    cost(d) {
      if (!d.cost.length) return empty("v-cost", "No cost history yet (set pay rates in [cost]).");
      chart("cost", "v-cost", { type: "line", data: { datasets: d.cost.flatMap((s, i) => banded(s, i, "y")) }, options: opts({
        scales: { x: timeAxis(), y: { beginAtZero: true, title: { display: true, text: "cost" } } },
        plugins: { legend: bandLegend, tooltip: { filter: bandTooltip().filter, callbacks: { title: bandTooltip().callbacks.title,
          label: (it) => `${it.dataset.label}: ${fmt.money(it.parsed.y)}` } } } }) });
    },
    funnel(d) {
      const f = d.funnel;
      if (!f.total) return empty("v-funnel", "No items yet.");
      chart("funnel", "v-funnel", { type: "bar", data: { labels: f.states, datasets: [
        { label: "items", data: f.counts, backgroundColor: f.states.map((s, i) => color(i, 0.75)) }] },
        options: opts({ indexAxis: "y", plugins: { legend: { display: false }, tooltip: { callbacks: {
          label: (it) => `${fmt.num(it.parsed.x)} items (${fmt.pct(it.parsed.x / f.total)})` } } },
          scales: { x: { beginAtZero: true, title: { display: true, text: `items (of ${fmt.num(f.total)})` } } } }) });
    },
  };

  function bandedView(name, id, series, why, percent) {
    if (!series.length) return empty(id, why);
    chart(name, id, { type: "line", data: { datasets: series.flatMap((s, i) => banded(s, i, "y")) }, options: opts({
      scales: { x: timeAxis(), y: percent ? pctAxis({ suggestedMax: 1 }) : { ticks: { callback: (v) => fmt.coef(v) } } },
      plugins: { legend: bandLegend, tooltip: bandTooltip(percent ? undefined : fmt.coef) } }) });
  }

  // The leaderboard: one row per source; a header click sorts by that column (again: the other way).
  const COLUMNS = [
    ["source", "annotator", (r) => r.source, (r) => r.source],
    ["kind", "kind", (r) => r.kind, (r) => r.kind],
    ["judgments", "judgments", (r) => fmt.num(r.judgments), (r) => r.judgments],
    ["gold_accuracy", "gold accuracy (95% CI)", (r) => fmt.interval(r.gold_accuracy, r.gold_low, r.gold_high), (r) => r.gold_accuracy],
    ["n_gold", "gold items", (r) => fmt.num(r.n_gold), (r) => r.n_gold],
    ["accuracy_trend", "trend", (r) => (r.accuracy_trend === null ? "–" : (r.accuracy_trend >= 0 ? "▲ +" : "▼ ") + (100 * r.accuracy_trend).toFixed(1) + " pt"), (r) => r.accuracy_trend],
    ["agreement", "agrees with consensus", (r) => fmt.pct(r.agreement), (r) => r.agreement],
    ["seconds_per_judgment", "median time", (r) => fmt.sec(r.seconds_per_judgment), (r) => r.seconds_per_judgment],
    ["cost", "cost", (r) => fmt.money(r.cost), (r) => r.cost],
    ["flags", "flags", (r) => (r.flags ? `${r.flags} (${r.flag_rules || "?"})` : "–"), (r) => r.flags],
    ["status", "status", (r) => status(r), (r) => (r.banned ? 2 : r.paused ? 1 : 0)],
    ["last_action", "last action", (r) => (r.last_action ? r.last_action.replace("_", " ") + (r.last_reason ? `: ${r.last_reason}` : "") : "–"), (r) => r.last_action],
  ];
  const status = (r) => (r.banned ? "banned" : r.paused ? (r.last_action === "requalify_start" ? "paused, re-qualifying" : "paused") : "active");
  // Live in the app (`act` given): a human row gets the buttons that fit its status; each asks for a
  // reason, calls the app's admin endpoint, and redraws the row from the answer (the pipeline's state
  // follows at its next collect or dispatch). The report has no `act`, hence no buttons.
  const ACTIONS = { pause: "Pause", resume: "Resume", unban: "Unban" };
  const actionsFor = (r) => (r.kind !== "human" ? [] : r.banned ? ["unban"] : r.paused ? ["resume"] : ["pause"]);
  function leaderboard(rows, act) {
    const table = document.getElementById("leaderboard");
    const state = { key: "judgments", dir: -1 };
    function draw() {
      const col = COLUMNS.find((c) => c[0] === state.key), get = col[3];
      const sorted = rows.slice().sort((a, b) => {
        const x = get(a), y = get(b);
        if (x === null || x === undefined) return y === null || y === undefined ? 0 : 1;  // missing values last, either way
        if (y === null || y === undefined) return -1;
        return (typeof x === "string" ? x.localeCompare(y) : x - y) * state.dir;
      });
      table.innerHTML = "<thead><tr>" + COLUMNS.map((c) => `<th data-key="${c[0]}" aria-sort="${c[0] === state.key ? (state.dir > 0 ? "ascending" : "descending") : "none"}" class="${typeof get(rows[0] || {}) === "string" ? "" : "num"}">${c[1]}</th>`).join("") + "</tr></thead><tbody>" +
        sorted.map((r) => `<tr data-source="${esc(r.source)}" class="${r.banned ? "banned" : r.paused ? "paused" : r.flags ? "flagged" : ""}">` +
          COLUMNS.map((c) => `<td class="c-${c[0]}">${esc(String(c[2](r)))}</td>` + (act && c[0] === "status"
            ? `<td class="c-actions">${actionsFor(r).map((a) => `<button type="button" data-action="${a}">${ACTIONS[a]}</button>`).join("")}</td>` : "")).join("") +
          "</tr>").join("") + "</tbody>";
      if (act) table.querySelector('th[data-key="status"]').insertAdjacentHTML("afterend", "<th>actions</th>");
      table.querySelectorAll("button[data-action]").forEach((b) => b.addEventListener("click", async () => {
        const row = rows.find((r) => r.source === b.closest("tr").dataset.source), action = b.dataset.action;
        const reason = window.prompt(`${ACTIONS[action]} ${row.source}: reason (recorded with the action)`);
        if (!reason || !reason.trim()) return;
        b.disabled = true;
        try {
          const done = await act(row.source, action, reason.trim());
          Object.assign(row, { paused: done.paused, banned: done.banned, last_action: action, last_reason: reason.trim() });
          draw();
        } catch (e) { b.disabled = false; window.alert(`${ACTIONS[action]} ${row.source} failed: ${e.message}`); }
      }));
      table.querySelectorAll("th[data-key]").forEach((th) => th.addEventListener("click", () => {
        state.dir = state.key === th.dataset.key ? -state.dir : (th.dataset.key === "source" || th.dataset.key === "kind" ? 1 : -1);
        state.key = th.dataset.key;
        draw();
      }));
    }
    draw();
  }
  const esc = (s) => s.replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]);

  function headline(d) {
    const h = d.headline, cards = [
      ["items", fmt.num(h.items)], ["resolved", fmt.pct(h.resolved_share)], ["human judgments", fmt.num(h.human_judgments)],
      ["annotators", `${fmt.num(h.annotators)}${h.flagged ? `, ${h.flagged} flagged` : ""}${h.paused ? `, ${h.paused} paused` : ""}`],
      [h.agreement ? h.agreement.name : "agreement", h.agreement ? fmt.interval(h.agreement.value, h.agreement.low, h.agreement.high, fmt.coef) : "–"],
      ["audit precision", h.audit_precision ? fmt.interval(h.audit_precision.value, h.audit_precision.low, h.audit_precision.high) : "–"],
      ["cost per label", h.cost_per_label ? fmt.money(h.cost_per_label.value) : "–"],
      ["open tasks", h.queue_depth ? fmt.num(h.queue_depth.value) : "–"],
    ];
    document.getElementById("headline").innerHTML = cards.map(([k, v]) => `<div class="stat"><span>${esc(k)}</span><b>${esc(v)}</b></div>`).join("");
    document.getElementById("subtitle").textContent = `${d.project || "project"} · ${fmt.num(d.history_runs)} stage runs of history` +
      (d.last_measured_at ? `, last ${d.last_measured_at.slice(0, 16).replace("T", " ")}` : "") + ` · generated ${d.generated_at.slice(0, 16).replace("T", " ")} UTC`;
  }

  function render(data, act) {
    Object.values(window.annoflowCharts || {}).forEach((c) => c.destroy());
    window.annoflowCharts = {};
    window.annoflowRendered = null;
    headline(data);
    Object.values(views).forEach((v) => v(data));
    leaderboard(data.leaderboard, act);
    window.annoflowRendered = performance.now();
  }

  window.AnnoflowDashboard = { render, fmt };
})();
