// trawler's admin UI and creator dashboard: charts (uPlot) and live updates
// (Server-Sent Events). No build step; served from the binary.
"use strict";

(function () {
  const body = document.body;
  const token = body.dataset.token || "";
  const withToken = (url) => token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url;
  const fmt = (v) => v == null ? "–" : (Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en-US") : (Math.round(v * 100) / 100).toString());
  const time = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);

  async function getJson(url) {
    const resp = await fetch(withToken(url), { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!resp.ok) throw new Error(url + ": HTTP " + resp.status);
    return resp.json();
  }

  // Confirmation for destructive forms.
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (e) => { if (!window.confirm(form.dataset.confirm)) e.preventDefault(); });
  });

  document.querySelectorAll("select[data-submit]").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });

  // ---- charts ---------------------------------------------------------

  const palette = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c"];

  function drawChart(el, series, opts) {
    const lines = series.filter((s) => s.points.length > 0);
    if (lines.length === 0) {
      el.dataset.empty = "true";
      return null;
    }
    const tables = lines.map((s) => [s.points.map((p) => p[0]), s.points.map((p) => p[1])]);
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    const width = Math.max(200, el.clientWidth || 600);
    const plot = new uPlot({
      width: width,
      height: opts.height || 180,
      legend: { show: !opts.spark },
      cursor: { show: !opts.spark },
      axes: opts.spark ? [{ show: false }, { show: false }] : [{}, { size: 70 }],
      // The whole asked-for range, whatever the points cover.
      scales: { x: { time: true, range: (u, min, max) => [Math.min(min, opts.from || min), Math.max(max, Date.now() / 1000)] } },
      series: [{}].concat(lines.map((s, i) => ({ label: s.platform, stroke: palette[i % palette.length], width: opts.spark ? 1 : 2, spanGaps: true }))),
    }, data, el);
    plot.trawler = { platforms: lines.map((s) => s.platform), data: data.map((col) => Array.from(col)) };
    el.dataset.points = String(data[0].length);
    return plot;
  }

  function appendPoint(plot, platform, ts, value) {
    if (!plot || !plot.trawler) return;
    const i = plot.trawler.platforms.indexOf(platform);
    if (i < 0) return;
    const data = plot.trawler.data;
    if (data[0].length > 0 && ts <= data[0][data[0].length - 1]) return; // already drawn
    data[0].push(ts);
    for (let s = 1; s < data.length; s++) data[s].push(s === i + 1 ? value : null);
    plot.setData(data);
    plot.root.parentElement.dataset.points = String(data[0].length);
  }

  // ---- a project (admin detail page or creator dashboard) --------------

  const charts = document.querySelector(".charts[data-live=project]");
  if (charts) {
    const id = charts.dataset.project;
    const from = charts.dataset.from;
    const step = charts.dataset.step;
    const plots = {};
    // Draws (or redraws) every chart from the series API.
    const load = () => charts.querySelectorAll("[data-chart]").forEach(async (fig) => {
      const metric = fig.dataset.chart;
      try {
        const s = await getJson(`/api/v1/projects/${id}/series?metric=${metric}&from=${from}&step=${step}`);
        if (plots[metric]) plots[metric].destroy();
        fig.querySelectorAll(".uplot").forEach((n) => n.remove());
        plots[metric] = drawChart(fig, s.series, { from: Number(from) });
      } catch (e) {
        fig.dataset.error = String(e);
      }
    });
    load();
    const events = new EventSource(withToken(`/api/v1/projects/${id}/events`));
    events.addEventListener("points", (e) => {
      const p = JSON.parse(e.data);
      for (const [metric, value] of Object.entries(p.values)) {
        appendPoint(plots[metric], p.platform, p.ts, value);
        const cell = document.querySelector(`.figures [data-metric="${metric}"]`);
        if (cell) { cell.textContent = fmt(value); cell.classList.add("fresh"); }
      }
    });
    const runs = document.querySelector("#runs tbody");
    events.addEventListener("run_started", (e) => {
      const r = JSON.parse(e.data);
      if (!runs || runs.querySelector(`[data-run="${r.run_id}"]`)) return;
      const row = document.createElement("tr");
      row.dataset.run = r.run_id;
      row.innerHTML = `<td>#${r.run_id}</td><td>${time(r.at_ms)}</td><td>${r.triggered_by}</td><td><span class="badge running">running</span> <button class="danger cancel" data-cancel="${r.run_id}">Cancel</button></td><td class="num"></td><td></td>`;
      runs.prepend(row);
    });
    const finished = (r) => {
      const row = runs && runs.querySelector(`[data-run="${r.id}"]`);
      if (!row || row.dataset.done) return;
      row.dataset.done = "true";
      row.children[3].innerHTML = `<span class="badge ${r.status}">${r.status}</span>`;
      row.children[4].textContent = r.points_written;
      row.children[5].textContent = r.error || "";
      load();
    };
    events.addEventListener("run_finished", (e) => {
      const r = JSON.parse(e.data);
      finished({ id: r.run_id, status: r.status, points_written: r.points, error: r.error });
    });
    // A run that ended before the stream connected: ask for it until it ends.
    const follow = (runId) => {
      const tick = async () => {
        try {
          const r = await getJson(`/api/v1/runs/${runId}`);
          if (r.status !== "running") return finished(r);
        } catch (e) { /* try again */ }
        setTimeout(tick, 1000);
      };
      setTimeout(tick, 1000);
    };
    if (runs) runs.querySelectorAll("tr[data-run]").forEach((row) => {
      if (row.querySelector(".badge.running")) follow(row.dataset.run);
    });
    // Cancel buttons of running runs (rows added live get one too).
    if (runs) runs.addEventListener("click", async (e) => {
      const button = e.target.closest("[data-cancel]");
      if (!button) return;
      button.disabled = true;
      const body = new URLSearchParams({ csrf: document.body.dataset.csrf || "" });
      const resp = await fetch(`/ui/runs/${button.dataset.cancel}/cancel`, { method: "POST", body, credentials: "same-origin", headers: { Accept: "application/json" } });
      const answer = await resp.json();
      const flash = document.getElementById("flash");
      if (!resp.ok) { if (flash) flash.textContent = answer.error ? answer.error.message : "failed"; return; }
      finished({ id: answer.run_id, status: answer.status, points_written: answer.points_written, error: "cancelled by an admin" });
    });
    // "Scrape now" without leaving the page.
    const scrape = document.querySelector("form[data-async]");
    if (scrape) scrape.addEventListener("submit", async (e) => {
      e.preventDefault();
      const resp = await fetch(scrape.action, { method: "POST", body: new URLSearchParams(new FormData(scrape)), credentials: "same-origin", headers: { Accept: "application/json" } });
      const answer = await resp.json();
      const flash = document.getElementById("flash");
      if (!resp.ok) { if (flash) flash.textContent = answer.error ? answer.error.message : "failed"; return; }
      if (flash) flash.textContent = `Scrape started (run ${answer.run_id})`;
      if (runs && !runs.querySelector(`[data-run="${answer.run_id}"]`)) {
        const row = document.createElement("tr");
        row.dataset.run = answer.run_id;
        row.innerHTML = `<td>#${answer.run_id}</td><td>${time(Date.now())}</td><td>manual</td><td><span class="badge running">running</span> <button class="danger cancel" data-cancel="${answer.run_id}">Cancel</button></td><td class="num"></td><td></td>`;
        runs.prepend(row);
      }
      follow(answer.run_id);
    });
    for (const kind of ["project_archived", "project_quarantined", "project_resumed"]) {
      events.addEventListener(kind, () => {
        const status = document.getElementById("status");
        if (status) status.textContent = kind.replace("project_", "");
      });
    }
  }

  // ---- pages that refresh themselves (actors, platforms) ---------------

  const live = document.querySelector("[data-live=refresh]");
  if (live) {
    const swap = async () => {
      try {
        const resp = await fetch(location.href, { credentials: "same-origin" });
        if (resp.ok) {
          const page = new DOMParser().parseFromString(await resp.text(), "text/html");
          const fresh = page.querySelector("[data-live=refresh]");
          const stamp = page.querySelector("[data-stamp]");
          if (fresh) live.replaceChildren(...fresh.childNodes);
          const old = document.querySelector("[data-stamp]");
          if (stamp && old) old.replaceChildren(...stamp.childNodes);
        }
      } catch (e) { /* next round */ }
      setTimeout(swap, 3000);
    };
    setTimeout(swap, 3000);
  }

  // ---- the projects list ----------------------------------------------

  const list = document.querySelector("#projects[data-live=admin]");
  if (list) {
    const since = Math.floor(Date.now() / 1000) - 86400;
    list.querySelectorAll("[data-spark]").forEach(async (el) => {
      try {
        const s = await getJson(`/api/v1/projects/${el.dataset.spark}/series?metric=${el.dataset.sparkMetric}&from=${since}&step=1800`);
        drawChart(el, s.series, { spark: true, height: 32, from: since });
      } catch (e) {
        el.dataset.error = String(e);
      }
    });
    // Points of any project: refresh that row's figures, at most every 2 s.
    const pending = new Map();
    const refresh = async (id) => {
      const row = list.querySelector(`tr[data-project="${id}"]`);
      if (!row) return;
      try {
        const s = await getJson(`/api/v1/projects/${id}/summary`);
        row.querySelectorAll("[data-metric]").forEach((cell) => {
          const v = s.latest[cell.dataset.metric];
          if (v) { cell.textContent = fmt(v.value); cell.classList.add("fresh"); }
        });
      } catch (e) { /* the next event retries */ }
    };
    const events = new EventSource("/api/v1/admin/events?points=true");
    events.addEventListener("points", (e) => {
      const id = JSON.parse(e.data).project_id;
      if (pending.has(id)) return;
      pending.set(id, setTimeout(() => { pending.delete(id); refresh(id); }, 500));
    });
    events.addEventListener("run_finished", (e) => {
      const r = JSON.parse(e.data);
      const cell = list.querySelector(`tr[data-project="${r.project_id}"] [data-run]`);
      if (cell) cell.textContent = `${r.status} · ${time(r.at_ms)}`;
    });
  }
})();
