// Qualia Core monitor: reads monitor/stream (Server-Sent Events) and draws it.
// No library, no external asset: the charts are drawn on <canvas> below.
"use strict";

(function () {
  const WINDOW_S = 60;           // seconds shown on the charts
  const MAX_POINTS = 600;
  const STALE_MS = 5000;         // no snapshot for this long: the connection is "stale"
  const MAX_EVENTS = 50;
  // Point fields, as the server sends them (array-like): see kernel/server/monitor.py `Point`.
  const FIELD = { t: 0, requests: 1, errors: 2, p50: 3, p95: 4, kernel: 5, system: 6 };
  const COLOURS = { requests: "#2563eb", errors: "#dc2626", p50: "#0891b2", p95: "#7c3aed",
                    kernel: "#ea580c", system: "#16a34a" };

  const points = [];
  let lastSnapshotAt = 0;
  let source = null;
  let retryTimer = null;
  let manualDelay = 1000;

  const $ = (id) => document.getElementById(id);

  // ---- the stream ---------------------------------------------------------------------

  function streamUrl() {
    // With API keys on, the page is opened as /monitor?key=...; EventSource cannot send an
    // Authorization header, so the key goes on to the stream as a query parameter.
    const key = new URLSearchParams(window.location.search).get("key");
    return "monitor/stream" + (key ? "?key=" + encodeURIComponent(key) : "");
  }

  function connect() {
    retryTimer = null;
    setConnection("connecting", "connecting…");
    source = new EventSource(streamUrl());
    source.addEventListener("open", () => { manualDelay = 1000; setConnection("live", "live"); });
    source.addEventListener("history", (e) => onHistory(JSON.parse(e.data)));
    source.addEventListener("snapshot", (e) => onSnapshot(JSON.parse(e.data)));
    source.addEventListener("plugin", (e) => onPluginEvent(JSON.parse(e.data)));
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error such as 503 while the server stops):
        // try again ourselves, backing off up to 10 s.
        setConnection("down", "disconnected, retrying…");
        source.close();
        if (retryTimer === null) {
          retryTimer = window.setTimeout(connect, manualDelay);
          manualDelay = Math.min(manualDelay * 2, 10000);
        }
      } else {
        setConnection("connecting", "reconnecting…");  // EventSource retries by itself (retry: hint)
      }
    });
  }

  let everLive = false;

  function setConnection(state, text) {
    const el = $("connection");
    const was = el.dataset.state;
    if (was === "live" && state !== "live" && state !== "stale") addEvent("stream lost: " + text);
    if (state === "live" && was !== "live" && was !== "stale") addEvent(everLive ? "stream reconnected" : "stream connected");
    if (state === "live") everLive = true;
    el.dataset.state = state;
    el.textContent = text;
  }

  window.setInterval(() => {
    const el = $("connection");
    if (el.dataset.state === "live" && lastSnapshotAt && Date.now() - lastSnapshotAt > STALE_MS) {
      setConnection("stale", "no data for " + Math.round((Date.now() - lastSnapshotAt) / 1000) + " s");
    }
  }, 1000);

  // ---- data ---------------------------------------------------------------------------

  function addPoint(p) {
    const last = points.length ? points[points.length - 1][FIELD.t] : -Infinity;
    if (p[FIELD.t] > last) {
      points.push(p);
      if (points.length > MAX_POINTS) points.splice(0, points.length - MAX_POINTS);
    }
  }

  function onHistory(data) {
    (data.points || []).forEach(addPoint);
    drawCharts();
  }

  function onSnapshot(s) {
    lastSnapshotAt = Date.now();
    if ($("connection").dataset.state !== "live") setConnection("live", "live");
    addPoint(s.point);
    renderFigures(s);
    renderPlugins(s.plugins);
    renderJobs(s.jobs);
    drawCharts();
  }

  function onPluginEvent(e) {
    let text = e.id + ": " + e.previous + " → " + e.state;
    if (e.state === "open" && e.last_error) text += " (" + e.last_error + ")";
    addEvent(text, e.t * 1000);
  }

  function addEvent(text, when) {
    const list = $("events");
    const item = document.createElement("li");
    const time = document.createElement("time");
    time.textContent = new Date(when || Date.now()).toLocaleTimeString();
    item.append(time, document.createTextNode(text));
    list.prepend(item);
    while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
  }

  // ---- figures and table --------------------------------------------------------------

  function num(value, digits) {
    if (value === null || value === undefined) return "–";
    return Number(value).toLocaleString(undefined, { maximumFractionDigits: digits === undefined ? 1 : digits });
  }

  function bytes(value) {
    if (value === null || value === undefined) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (value >= 1024 && i < units.length - 1) { value /= 1024; i += 1; }
    return value.toFixed(i ? 1 : 0) + " " + units[i];
  }

  function duration(seconds) {
    seconds = Math.floor(seconds);
    const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600), m = Math.floor(seconds % 3600 / 60);
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    return m + "m " + (seconds % 60) + "s";
  }

  function setText(id, text) { $(id).textContent = text; }

  function renderFigures(s) {
    const status = $("status");
    status.textContent = s.status;
    status.className = "badge badge-" + s.status;
    setText("meta", "v" + s.version + " · up " + duration(s.uptime_s));
    const r = s.requests;
    setText("requests-per-min", num(r.per_min, 0));
    setText("requests-total", num(r.total, 0) + " since start");
    setText("latency-p50", num(r.p50_ms, 2));
    setText("latency-p95", num(r.p95_ms, 2));
    setText("errors-4xx", num(r.errors_4xx, 0));
    setText("errors-5xx", num(r.errors_5xx, 0));
    setText("errors-rate", num(r.errors_4xx_per_min, 1) + " 4xx/min · " + num(r.errors_5xx_per_min, 1) + " 5xx/min");
    setText("kernel-cpu", num(s.kernel.cpu_percent) + " % CPU");
    setText("kernel-memory", "RSS " + bytes(s.kernel.rss_bytes) + " · pid " + s.kernel.pid + " · " +
            s.kernel.threads + " threads");
    setText("system-cpu", num(s.system.cpu_percent) + " % CPU");
    setText("system-memory", "memory " + num(s.system.memory_percent) + " % of " + bytes(s.system.memory_total_bytes) +
            " · " + s.system.cpu_count + " cores" + (s.system.load_1m === null ? "" : " · load " + num(s.system.load_1m, 2)));
    const j = s.jobs;
    ["queued", "running", "failed", "succeeded", "cancelled"].forEach((k) => setText("jobs-" + k, j.available ? num(j[k], 0) : "–"));
    const c = s.cache;
    if (c.enabled) {
      const lookups = c.hits + c.misses;
      setText("cache-ratio", lookups ? num(100 * c.hits / lookups) + " % hits" : "no lookups yet");
      setText("cache-detail", num(c.hits, 0) + " hits · " + num(c.misses, 0) + " misses · " + num(c.entries, 0) +
              " entries · " + bytes(c.bytes));
    } else {
      setText("cache-ratio", "off");
      setText("cache-detail", "");
    }
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (text !== undefined) td.textContent = text;
    row.append(td);
    return td;
  }

  function span(className, text) {
    const el = document.createElement("span");
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // The one row a table shows when it has nothing to list.
  function emptyRow(text, columns) {
    const row = document.createElement("tr");
    row.className = "empty";
    cell(row, text).colSpan = columns;
    return row;
  }

  function renderPlugins(plugins) {
    const body = document.querySelector("#plugins tbody");
    const rows = document.createDocumentFragment();
    if (!plugins.length) rows.append(emptyRow("no plugins discovered", 8));
    plugins.forEach((p) => {
      const row = document.createElement("tr");
      row.dataset.plugin = p.id;
      row.dataset.state = p.state;
      const name = cell(row);
      name.append(span("plugin-id", p.id), span("kind", p.kind));
      cell(row, p.state, "state");
      const breakerCell = cell(row);
      const badge = document.createElement("span");
      const state = p.breaker ? p.breaker.state : "none";
      badge.className = "breaker breaker-" + state;
      badge.textContent = p.breaker ? p.breaker.state : "–";
      breakerCell.append(badge);
      if (p.breaker) {
        const detail = document.createElement("span");
        detail.className = "breaker-detail";
        let text = p.breaker.consecutive_failures + " in a row · " + p.breaker.trips + " trip" +
                   (p.breaker.trips === 1 ? "" : "s");
        if (p.breaker.retry_after_s !== null) text += " · retry in " + num(p.breaker.retry_after_s, 1) + " s";
        detail.textContent = text;
        breakerCell.append(detail);
      }
      const procCell = cell(row);
      const list = document.createElement("ul");
      list.className = "procs";
      p.processes.forEach((proc) => {
        const item = document.createElement("li");
        if (proc.busy) item.className = "busy";
        item.textContent = proc.pid + " · " + bytes(proc.rss_bytes) + " · " +
                           (proc.cpu_percent === null ? "–" : num(proc.cpu_percent) + " %") + (proc.busy ? " · busy" : "");
        list.append(item);
      });
      if (!p.processes.length) {
        const item = document.createElement("li");
        item.textContent = "–";
        list.append(item);
      }
      procCell.append(list);
      cell(row, num(p.restarts, 0), "num restarts");
      cell(row, num(p.calls, 0), "num");
      cell(row, num(p.failures, 0), "num");
      cell(row, p.last_error || "", "last-error");
      rows.append(row);
    });
    body.replaceChildren(rows);
  }

  // ---- jobs: where they run, and each one's documents done -----------------------------

  function renderExecutor(x) {
    const el = $("executor");
    el.replaceChildren();
    el.dataset.kind = x ? x.kind : "";
    el.dataset.state = x ? x.state : "";
    if (!x) { el.textContent = "–"; return; }
    if (x.kind === "local") {
      el.textContent = "Jobs run here: " + x.workers + " process" + (x.workers === 1 ? "" : "es") + " per plugin";
      return;
    }
    let text = "Jobs run on the Dask cluster " + x.address + ": ";
    if (x.state === "ready") {
      text += x.workers + " worker" + (x.workers === 1 ? "" : "s") + " (a Qualia kernel each), " + x.slots +
              " documents at a time";
    } else {
      text += x.state + (x.problem ? " (" + x.problem + ")" : "");
    }
    el.append(document.createTextNode(text));
    if (x.dashboard) {
      const link = document.createElement("a");
      link.href = x.dashboard;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.textContent = "Dask dashboard";
      el.append(document.createTextNode(" · "), link);
    }
  }

  function renderJobs(j) {
    renderExecutor(j.executor);
    const body = document.querySelector("#jobs tbody");
    const rows = document.createDocumentFragment();
    const jobs = j.available ? (j.jobs || []) : [];
    if (!jobs.length) rows.append(emptyRow(j.available ? "no jobs yet" : "jobs are unavailable: " + (j.problem || ""), 5));
    jobs.forEach((job) => {
      const row = document.createElement("tr");
      row.dataset.job = job.id;
      row.dataset.state = job.state;
      const name = cell(row);
      name.append(span("job-target", job.target + " (" + job.kind + ")"), span("job-id", job.id));
      cell(row, job.state + (job.attempts > 1 ? " · attempt " + job.attempts : ""), "job-state job-state-" + job.state);
      const docs = cell(row, undefined, "documents");
      const bar = span("progress");
      const fill = span();
      fill.style.width = (job.total ? Math.round(100 * job.done / job.total) : 0) + "%";
      bar.append(fill);
      docs.append(bar, span("progress-text", job.done + " / " + job.total + " done" +
                                             (job.failed ? " · " + job.failed + " failed" : "")));
      const s = job.step;
      cell(row, s ? (s.document_id || "#" + s.index) + " · " + s.step + " " + s.done +
                    (s.total === null ? "" : " / " + s.total) : "", "step");
      cell(row, job.executor || "", "runs-on");
      rows.append(row);
    });
    body.replaceChildren(rows);
  }

  // ---- charts -------------------------------------------------------------------------

  function niceMax(value) {
    if (!(value > 0)) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 2.5, 5, 10]) {
      if (value <= step * power) return step * power;
    }
    return 10 * power;
  }

  function label(value) {
    if (value >= 1e6) return (value / 1e6).toFixed(1) + "M";
    if (value >= 1e4) return (value / 1e3).toFixed(0) + "k";
    if (value >= 100) return value.toFixed(0);
    if (value >= 10) return String(Math.round(value * 10) / 10);
    return String(Math.round(value * 1000) / 1000);
  }

  function drawChart(canvas) {
    const names = canvas.dataset.series.split(",");
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    if (!width || !height) return;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const left = 40, right = 18, top = 8, bottom = 20;
    const plotW = width - left - right, plotH = height - top - bottom;
    const now = points.length ? points[points.length - 1][FIELD.t] : Date.now() / 1000;
    const start = now - WINDOW_S;
    const shown = points.filter((p) => p[FIELD.t] >= start);
    let max = 0;
    shown.forEach((p) => names.forEach((n) => { const v = p[FIELD[n]]; if (v !== null && v > max) max = v; }));
    max = niceMax(max);
    const x = (t) => left + (t - start) / WINDOW_S * plotW;
    const y = (v) => top + plotH - v / max * plotH;

    // grid and labels
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#5b6577";
    ctx.strokeStyle = "#e3e7ee";
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let i = 0; i <= 4; i += 1) {
      const value = max * i / 4, yy = Math.round(y(value)) + 0.5;
      ctx.beginPath(); ctx.moveTo(left, yy); ctx.lineTo(left + plotW, yy); ctx.stroke();
      ctx.fillText(label(value), left - 4, yy);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (let s = 0; s <= WINDOW_S; s += 15) {
      const xx = Math.round(x(start + s)) + 0.5;
      ctx.beginPath(); ctx.moveTo(xx, top); ctx.lineTo(xx, top + plotH); ctx.stroke();
      ctx.fillText(s === WINDOW_S ? "now" : "-" + (WINDOW_S - s) + "s", xx, top + plotH + 4);
    }
    if (!shown.length) {
      ctx.fillText("waiting for data…", left + plotW / 2, top + plotH / 2);
      return;
    }
    // one line per series; a null value (no request in that second) breaks the line
    ctx.lineWidth = 2;
    ctx.lineJoin = "round";
    names.forEach((n) => {
      ctx.strokeStyle = COLOURS[n];
      ctx.fillStyle = COLOURS[n];
      ctx.beginPath();
      let drawing = false;
      shown.forEach((p) => {
        const v = p[FIELD[n]];
        if (v === null) { drawing = false; return; }
        if (drawing) ctx.lineTo(x(p[FIELD.t]), y(v));
        else ctx.moveTo(x(p[FIELD.t]), y(v));
        drawing = true;
      });
      ctx.stroke();
      const last = shown[shown.length - 1], v = last[FIELD[n]];
      if (v !== null) {  // a dot on the newest value, so a single point shows too
        ctx.beginPath(); ctx.arc(x(last[FIELD.t]), y(v), 2.5, 0, 2 * Math.PI); ctx.fill();
      }
    });
  }

  function drawCharts() {
    document.querySelectorAll("canvas[data-series]").forEach(drawChart);
  }

  function start() {
    drawCharts();
    connect();
  }

  window.addEventListener("resize", drawCharts);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
