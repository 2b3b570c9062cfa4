// trawler's admin UI and creator dashboard: charts (uPlot) and live updates
// (Server-Sent Events). No build step; served from the binary.
"use strict";

(function () {
  const body = document.body;
  const token = body.dataset.token || "";
  const withToken = (url) => token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url;
  const fmt = (v) => v == null ? "–" : (Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en-US") : (Math.round(v * 100) / 100).toString());
  const time = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);

  // Live streams close when the page is hidden (navigation, back-forward
  // cache): a browser allows six connections per host, and streams kept
  // open by pages left behind would starve the next page's requests. A page
  // restored from that cache reloads to be live again.
  const streams = [];
  // A stream that drops reconnects by itself with the id of the last event
  // read and gets what it missed; when that is no longer kept, the server
  // says `reset` and the page reloads to be whole again.
  function stream(url) {
    const es = new EventSource(url);
    es.addEventListener("reset", () => location.reload());
    streams.push(es);
    return es;
  }
  window.addEventListener("pagehide", () => streams.forEach((es) => es.close()));
  window.addEventListener("pageshow", (e) => { if (e.persisted) location.reload(); });

  async function getJson(url) {
    const resp = await fetch(withToken(url), { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!resp.ok) throw new Error(url + ": HTTP " + resp.status);
    return resp.json();
  }

  // Confirmation for destructive forms, in a page dialog (not window.confirm,
  // which blocks the page and cannot be styled). A form's message may name
  // "{count}": the number of checked boxes it submits (bulk actions).
  const dialog = document.getElementById("confirm");
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (e) => {
      if (form.dataset.confirmed === "yes" || !dialog) return;
      e.preventDefault();
      const action = e.submitter && e.submitter.name === "action" ? e.submitter.value : "";
      // getAttribute: `form.id` would be the form's controls named "id".
      const formId = form.getAttribute("id");
      // "All N matching" counts what the filter matches, not the boxes.
      const every = form.querySelector("input[name=scope]:checked");
      const count = every
        ? Number(every.dataset.total)
        : formId
        ? document.querySelectorAll("input[type=checkbox][name=id][form='" + formId + "']:checked").length
        : 0;
      const message = (every && e.submitter && e.submitter.dataset.confirmAll)
        || (e.submitter && e.submitter.dataset.confirm) || form.dataset.confirm;
      dialog.querySelector("[data-message]").textContent = message.replace("{count}", count).replace("{s}", count === 1 ? "" : "s");
      dialog.returnValue = "";
      dialog.onclose = () => {
        if (dialog.returnValue !== "yes") return;
        form.dataset.confirmed = "yes";
        if (action) {
          const field = document.createElement("input");
          field.type = "hidden"; field.name = "action"; field.value = action;
          form.appendChild(field);
        }
        form.submit();
      };
      dialog.showModal();
    });
  });

  // A running job's page: the bar and the counts move with each batch
  // (the job's own event stream); when it ends, the page reloads to show
  // its report.
  const job = document.querySelector("[data-job]");
  if (job) {
    const es = stream("/api/v1/admin/jobs/" + job.dataset.job + "/events");
    const bar = document.getElementById("job-progress");
    const show = (p) => {
      bar.max = p.total;
      bar.value = p.done + p.skipped;
      document.getElementById("job-done").textContent = p.done;
      document.getElementById("job-skipped").textContent = p.skipped;
      document.getElementById("job-state").textContent = p.state;
    };
    es.addEventListener("progress", (e) => show(JSON.parse(e.data)));
    es.addEventListener("done", (e) => { show(JSON.parse(e.data)); es.close(); location.reload(); });
  }

  // Bulk selection: a box in the header selects the page; the bar counts.
  const bulk = document.getElementById("bulk");
  if (bulk) {
    const boxes = () => document.querySelectorAll("input[type=checkbox][name=id][form=bulk]");
    const every = document.getElementById("bulk-all");
    const count = () => {
      const n = every && every.checked ? Number(every.dataset.total) : [...boxes()].filter((b) => b.checked).length;
      bulk.querySelector("[data-selected]").textContent = n;
      bulk.querySelectorAll("button[name=action]").forEach((b) => { b.disabled = n === 0; });
    };
    if (every) every.addEventListener("change", count);
    document.querySelectorAll("[data-select-all]").forEach((all) => all.addEventListener("change", () => {
      boxes().forEach((b) => { b.checked = all.checked; });
      count();
    }));
    boxes().forEach((b) => b.addEventListener("change", count));
    count();
  }

  document.querySelectorAll("select[data-submit]").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });

  // ---- charts ---------------------------------------------------------

  const palette = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c"];

  // Axis labels that fit: 4.5M, 120k above ten thousand.
  const axisNumber = (v) => {
    const a = Math.abs(v);
    if (a >= 1e6) return (Math.round(v / 1e5) / 10) + "M";
    if (a >= 1e4) return (Math.round(v / 100) / 10) + "k";
    return v.toLocaleString("en-US");
  };

  // Why a line has no point, as a person says it, and the shade of its gap.
  const CAUSES = {
    circuit_open: ["platform down", "rgba(220, 38, 38, .13)"],
    failed: ["fetch failed", "rgba(220, 38, 38, .13)"],
    missed: ["no scrape recorded", "rgba(220, 38, 38, .08)"],
    throttled: ["throttled", "rgba(217, 119, 6, .15)"],
    quarantined: ["quarantined", "rgba(124, 58, 237, .13)"],
    paused: ["scraping paused", "rgba(107, 114, 128, .15)"],
    source_edited: ["source edited", "rgba(37, 99, 235, .12)"],
    campaign_ended: ["campaign ended", "rgba(107, 114, 128, .10)"],
    archived: ["archived", "rgba(107, 114, 128, .10)"],
    node_fenced: ["node fenced", "rgba(124, 58, 237, .10)"],
    no_value: ["no value", "rgba(107, 114, 128, .08)"],
  };

  // The gaps a chart draws: every cause but "not yet due" (no point was
  // expected there, so the line goes on).
  const drawnGaps = (gaps) => (gaps || []).filter((g) => g.cause !== "not_yet_due");

  // A line's own gaps, as pixel ranges where uPlot must not draw it.
  const lineGaps = (gaps, platform) => (u, sidx, i0, i1, nullGaps) =>
    nullGaps.concat(gaps.filter((g) => g.platform === platform).map((g) => [
      Math.round(u.valToPos(g.ts, "x", true)), Math.round(u.valToPos(g.until, "x", true)),
    ]));

  // Shades each gap and, under the cursor, names its cause.
  function gapHooks(el, gaps) {
    if (gaps.length === 0) return {};
    const note = document.createElement("div");
    note.className = "gap-note";
    note.hidden = true;
    el.appendChild(note);
    el.dataset.gaps = Array.from(new Set(gaps.map((g) => g.cause))).sort().join(" ");
    return {
      drawClear: [(u) => {
        const ctx = u.ctx;
        const { top, height, left, width } = u.bbox;
        const clamp = (x) => Math.min(left + width, Math.max(left, x));
        gaps.forEach((g) => {
          const x0 = clamp(u.valToPos(g.ts, "x", true)), x1 = clamp(u.valToPos(g.until, "x", true));
          ctx.fillStyle = (CAUSES[g.cause] || ["", "rgba(107, 114, 128, .1)"])[1];
          ctx.fillRect(x0, top, Math.max(1, x1 - x0), height);
        });
      }],
      setCursor: [(u) => {
        const left = u.cursor.left;
        const x = left == null || left < 0 ? null : u.posToVal(left, "x");
        const g = x == null ? null : gaps.find((g) => x >= g.ts && x < g.until);
        if (!g) { note.hidden = true; return; }
        const label = (CAUSES[g.cause] || [g.cause])[0];
        note.textContent = `${g.platform ? g.platform + ": " : ""}${label} — ${g.reason}`;
        note.dataset.cause = g.cause;
        note.style.left = `${Math.min(left + 8, Math.max(0, u.over.clientWidth - 240))}px`;
        note.hidden = false;
      }],
    };
  }

  function drawChart(el, series, opts) {
    const lines = series.filter((s) => s.points.length > 0);
    if (lines.length === 0) {
      el.dataset.empty = "true";
      return null;
    }
    // Dashed lines drawn after the platforms' (a projection and its band).
    const extra = opts.extra || [];
    const tables = lines.concat(extra).map((s) => [s.points.map((p) => p[0]), s.points.map((p) => p[1])]);
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    const width = Math.max(200, el.clientWidth || 600);
    const gaps = drawnGaps(opts.gaps);
    const plot = new uPlot({
      width: width,
      height: opts.height || 180,
      legend: { show: !opts.spark },
      cursor: { show: !opts.spark },
      axes: opts.spark ? [{ show: false }, { show: false }] : [{}, { size: 70, values: (u, vals) => vals.map(axisNumber) }],
      // The whole asked-for range, whatever the points cover.
      // (From the data itself: uPlot widens a lone point's range by years.)
      scales: { x: { time: true, range: (u) => {
        const xs = u.data[0];
        const lo = Math.min(xs[0], opts.from || xs[0]);
        const hi = Math.max(xs[xs.length - 1], opts.to || Date.now() / 1000);
        return [lo, hi > lo ? hi : lo + 60];
      } } },
      hooks: gapHooks(el, gaps),
      // A line breaks where its gaps are (and nowhere else: the platforms'
      // points interleave).
      series: [{}].concat(lines.map((s, i) => ({ label: s.platform, stroke: palette[i % palette.length], width: opts.spark ? 1 : 2,
        spanGaps: gaps.length === 0, gaps: lineGaps(gaps, s.platform) })))
        .concat(extra.map((s) => ({ label: s.platform, stroke: s.stroke || "#6b7280", width: 2, dash: s.dash || [6, 4], spanGaps: true }))),
    }, data, el);
    if (extra.length > 0) el.dataset.projection = "drawn";
    plot.trawler = { platforms: lines.map((s) => s.platform), data: data.map((col) => Array.from(col)) };
    // The chart follows its box (a phone turned, a window resized).
    if (!opts.spark && window.ResizeObserver) {
      let last = width;
      new ResizeObserver(() => {
        const w = Math.max(200, el.clientWidth || last);
        if (Math.abs(w - last) > 2) { last = w; plot.setSize({ width: w, height: opts.height || 180 }); }
      }).observe(el);
    }
    el.dataset.points = String(data[0].length);
    return plot;
  }

  function appendPoint(plot, platform, ts, value) {
    if (!plot || !plot.trawler) return;
    const i = plot.trawler.platforms.indexOf(platform);
    if (i < 0) return;
    const data = plot.trawler.data;
    // In time order (a projection may already reach past now).
    let at = data[0].length;
    while (at > 0 && data[0][at - 1] > ts) at--;
    if (at > 0 && data[0][at - 1] === ts) return; // already drawn
    data[0].splice(at, 0, ts);
    for (let s = 1; s < data.length; s++) data[s].splice(at, 0, s === i + 1 ? value : null);
    plot.setData(data);
    plot.root.parentElement.dataset.points = String(data[0].length);
  }

  // ---- a project (admin detail page or creator dashboard) --------------

  const charts = document.querySelector(".charts[data-live=project]");
  if (charts) {
    const id = charts.dataset.project;
    const from = charts.dataset.from;
    const step = charts.dataset.step;
    const to = charts.dataset.to ? `&to=${charts.dataset.to}` : "";
    // The creator's dashboard: where the pledges are heading, dashed.
    let projection = [];
    if (charts.dataset.projection) {
      const [now, likely, low, high] = JSON.parse(charts.dataset.projection);
      projection = [
        { platform: "projection", points: [now, likely], stroke: "#2563eb" },
        { platform: "low", points: [now, low], dash: [2, 4] },
        { platform: "high", points: [now, high], dash: [2, 4] },
      ];
    }
    const plots = {};
    // Draws (or redraws) every chart from the series API.
    const load = () => charts.querySelectorAll("[data-chart]").forEach(async (fig) => {
      const metric = fig.dataset.chart;
      try {
        const s = await getJson(`/api/v1/projects/${id}/series?metric=${metric}&from=${from}${to}&step=${step}`);
        if (plots[metric]) plots[metric].destroy();
        fig.querySelectorAll(".uplot").forEach((n) => n.remove());
        const extra = metric === "pledged" ? projection : [];
        fig.querySelectorAll(".gap-note").forEach((n) => n.remove());
        plots[metric] = drawChart(fig, s.series, { from: Number(from), to: charts.dataset.to ? Number(charts.dataset.to) : 0, extra, gaps: s.gaps });
      } catch (e) {
        fig.dataset.error = String(e);
      }
    });
    load();
    // The figures are sums over platforms in the reporting currency, and
    // derived ones: re-read from the summary, at most once a second.
    let figuresDue = null;
    const refreshFigures = () => {
      if (figuresDue) return;
      figuresDue = setTimeout(async () => {
        figuresDue = null;
        try {
          const s = await getJson(`/api/v1/projects/${id}/summary`);
          document.querySelectorAll(".figures [data-metric]").forEach((cell) => {
            const m = cell.dataset.metric;
            const v = s.latest[m] ? s.latest[m].value : s.derived[m];
            if (v != null) { cell.textContent = fmt(v); cell.classList.add("fresh"); }
          });
        } catch (e) { /* the next event retries */ }
      }, 1000);
    };
    const events = stream(withToken(`/api/v1/projects/${id}/events`));
    events.addEventListener("points", (e) => {
      const p = JSON.parse(e.data);
      for (const [metric, value] of Object.entries(p.values)) {
        appendPoint(plots[metric], p.platform, p.ts, value);
      }
      refreshFigures();
    });
    const runs = document.querySelector("#runs tbody");
    events.addEventListener("run_started", (e) => {
      const r = JSON.parse(e.data);
      if (!runs || runs.querySelector(`[data-run="${r.run_id}"]`)) return;
      const row = document.createElement("tr");
      row.dataset.run = r.run_id;
      row.innerHTML = `<td>#${r.run_id}</td><td>${time(r.at_ms)}</td><td>${r.triggered_by}</td><td><span class="badge running">running</span> <button class="danger cancel" data-cancel="${r.run_id}">Cancel</button></td><td class="num"></td><td></td>`;
      runs.prepend(row);
      follow(r.run_id);
    });
    // Where a running run stands: waiting in a platform's line, or fetching.
    const showProgress = (runId, progress) => {
      const row = runs && runs.querySelector(`[data-run="${runId}"]`);
      if (!row || row.dataset.done) return;
      let span = row.querySelector(".progress");
      if (!span) {
        span = document.createElement("span");
        span.className = "progress";
        row.children[3].appendChild(span);
      }
      if (!progress) { span.textContent = ""; return; }
      const w = progress.wait;
      if (progress.phase !== "waiting" || !w) { span.textContent = "fetching"; return; }
      const why = { pause: "the platform's pause", rate: "the rate limit", slot: "a free slot" }[w.waiting_for] || w.waiting_for;
      const secs = Math.max(0, Math.round((w.estimated_start_ms - Date.now()) / 1000));
      span.textContent = `${w.platform}: ${w.place === 0 ? "next in line" : w.place + " ahead"}, waiting for ${why}, starts in ~${secs} s`;
    };
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
    // Follow a running run: where it stands (waiting in line, fetching)
    // until it ends; this also catches an end the stream missed.
    const following = new Set();
    const follow = (runId) => {
      if (following.has(String(runId))) return;
      following.add(String(runId));
      const tick = async () => {
        try {
          const r = await getJson(`/api/v1/runs/${runId}`);
          if (r.status !== "running") return finished(r);
          showProgress(runId, r.progress);
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

  // ---- the creator's dashboard: countdown, embedding --------------------

  const countdown = document.getElementById("countdown");
  if (countdown) {
    const tick = () => {
      const left = Math.max(0, Number(countdown.dataset.deadline) - Date.now());
      const d = Math.floor(left / 86400000), h = Math.floor((left % 86400000) / 3600000), m = Math.floor((left % 3600000) / 60000);
      countdown.textContent = left === 0 ? "ended" : `${d} d ${h} h ${m} min left`;
    };
    tick();
    setInterval(tick, 30000);
  }
  // Shown in a frame on an agency's site: tell it how tall the page is, so
  // it can size the frame.
  if (window.parent !== window && document.body.classList.contains("dashboard")) {
    const tell = () => window.parent.postMessage({ trawler: "dashboard", height: document.documentElement.scrollHeight }, "*");
    window.addEventListener("load", tell);
    new ResizeObserver(tell).observe(document.body);
  }

  // ---- pages that refresh themselves (actors, platforms) ---------------

  const live = document.querySelectorAll("[data-live=refresh]");
  if (live.length > 0) {
    const swap = async () => {
      try {
        const resp = await fetch(location.href, { credentials: "same-origin" });
        if (resp.ok) {
          const page = new DOMParser().parseFromString(await resp.text(), "text/html");
          const fresh = page.querySelectorAll("[data-live=refresh]");
          const stamp = page.querySelector("[data-stamp]");
          // Regions are matched by order (a page has the same ones each time).
          live.forEach((el, i) => { if (fresh[i]) el.replaceChildren(...fresh[i].childNodes); });
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
      if (!el.dataset.sparkMetric) return;
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
          const m = cell.dataset.metric;
          const v = s.latest[m];
          // Amounts are in the project's reporting currency, and say it.
          const unit = s.currency && ["pledged", "spend", "goal", "purchase_value"].includes(m) ? " " + s.currency : "";
          if (v) { cell.textContent = fmt(v.value) + unit; cell.classList.add("fresh"); }
        });
      } catch (e) { /* the next event retries */ }
    };
    const events = stream("/api/v1/admin/events?points=true");
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
    // A project created while the list is open: its row, as the page now
    // renders it, if the list's filter and page show it.
    events.addEventListener("project_created", async (e) => {
      const id = JSON.parse(e.data).project_id;
      if (list.querySelector(`tr[data-project="${id}"]`)) return;
      try {
        const resp = await fetch(location.href, { credentials: "same-origin" });
        if (!resp.ok) return;
        const page = new DOMParser().parseFromString(await resp.text(), "text/html");
        const row = page.querySelector(`#projects tr[data-project="${id}"]`);
        const body = list.querySelector("tbody");
        if (!row || !body || list.querySelector(`tr[data-project="${id}"]`)) return;
        row.classList.add("fresh");
        body.appendChild(document.importNode(row, true));
        const empty = list.querySelector("[data-empty]");
        if (empty) empty.remove();
      } catch (err) { /* a reload shows it */ }
    });
  }

  // The node's page: charts of its own samples (every 30 s, the last
  // hours), redrawn each step.
  const node = document.querySelector(".charts[data-live=node]");
  if (node) {
    const plots = {};
    const from = () => Math.floor(Date.now() / 1000) - Number(node.dataset.hours) * 3600;
    // Each chart's lines: one per key of a map field, or the field alone.
    const lines = (samples, field) => {
      const keys = new Set();
      samples.forEach((s) => {
        if (s[field] !== null && typeof s[field] === "object") Object.keys(s[field]).forEach((k) => keys.add(k));
      });
      if (keys.size === 0) return [{ platform: field.replace("_", " "), points: samples.map((s) => [s.ts, s[field]]) }];
      return Array.from(keys).sort().map((k) => ({ platform: k, points: samples.map((s) => [s.ts, s[field][k] || 0]) }));
    };
    const draw = async () => {
      try {
        const h = await getJson(`/api/v1/admin/history?hours=${node.dataset.hours}`);
        node.dataset.samples = String(h.samples.length);
        node.querySelectorAll("[data-history]").forEach((fig) => {
          const field = fig.dataset.history;
          if (plots[field]) plots[field].destroy();
          fig.querySelectorAll(".uplot").forEach((n) => n.remove());
          plots[field] = drawChart(fig, lines(h.samples, field), { from: from() });
        });
      } catch (e) {
        node.dataset.error = String(e);
      }
    };
    draw();
    setInterval(draw, 30000);
  }

  // A running run's page: its log grows line by line as the run writes it
  // (`run_log` events on its project's stream, numbered from 0). The
  // stream opens first, then the log so far is read: lines already in it
  // are skipped, none is missed. When the run ends the page reloads, with
  // its outcome and the answers it kept.
  const following = document.querySelector("pre.log[data-follow]");
  if (following) {
    const run = Number(following.dataset.follow);
    const project = following.dataset.project;
    let shown = -1;
    const held = [];
    const add = (e) => {
      if (e.run_id !== run || e.seq <= shown) return;
      following.textContent += e.line + "\n";
      shown = e.seq;
      following.dataset.lines = String(shown + 1);
    };
    const events = stream(`/api/v1/projects/${project}/events`);
    events.addEventListener("run_log", (m) => {
      const e = JSON.parse(m.data);
      if (shown < 0 && following.dataset.lines === undefined) held.push(e); else add(e);
    });
    events.addEventListener("run_finished", (m) => {
      if (JSON.parse(m.data).run_id === run) setTimeout(() => location.reload(), 300);
    });
    events.addEventListener("open", async () => {
      if (following.dataset.lines !== undefined) return;
      try {
        const r = await getJson(`/api/v1/runs/${run}`);
        const lines = r.log ? r.log.replace(/\n$/, "").split("\n") : [];
        following.textContent = lines.length ? lines.join("\n") + "\n" : "";
        shown = lines.length - 1;
        following.dataset.lines = String(lines.length);
        held.splice(0).forEach(add);
        if (r.status !== "running") location.reload();
      } catch (err) { following.dataset.error = String(err); }
    }, { once: true });
  }
})();
