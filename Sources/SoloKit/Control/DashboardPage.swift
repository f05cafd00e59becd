/// The dashboard's page: hand-written HTML, CSS and JavaScript, compiled in (no CDN, no
/// third-party code: users run solo behind firewalls). It takes its token from the URL once,
/// keeps it for the tab (sessionStorage) and sends it in the X-Solo-Token header; it follows
/// `/events`, and draws the charts from the supervisor's hour of samples (`/api/history`). Every value is put in as text, never as
/// markup (payloads and log lines are anyone's). Stable ids and data- attributes
/// (`data-pool`, `data-field`, `data-retry`) are what the browser test looks for.
public enum DashboardPage {
    /// No framing, no referrer (the URL holds the token), nothing loaded from elsewhere.
    public static let headers: [(String, String)] = [
        ("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
        ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"), ("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store"),
    ]

    public static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>solo</title>
<style>
:root { --bg: #fafafa; --fg: #1b1b1b; --muted: #6b6b6b; --card: #fff; --line: #ddd; --accent: #2563eb; --ok: #15803d; --warn: #b45309; --bad: #b91c1c; --bar: #e5e7eb; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #111315; --fg: #e6e6e6; --muted: #9a9a9a; --card: #1a1d20; --line: #30343a; --accent: #60a5fa; --ok: #4ade80; --warn: #fbbf24; --bad: #f87171; --bar: #2b3036; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: baseline; padding: .75rem 1rem; border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.1rem; margin: 0; }
main { padding: .5rem 1rem 2rem; max-width: 1200px; margin: 0 auto; }
section.pool { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .75rem; margin: .75rem 0; }
h2 { font-size: 1rem; margin: 0 .5rem 0 0; display: inline; }
h3 { font-size: .9rem; margin: .75rem 0 .25rem; color: var(--muted); font-weight: 600; }
.muted { color: var(--muted); }
.state-running, .state-ready { color: var(--ok); }
.state-busy { color: var(--accent); }
.state-stopping, .state-draining, .state-starting, .state-standby { color: var(--warn); }
.state-stopped, .state-backoff { color: var(--bad); }
.figures { display: flex; flex-wrap: wrap; gap: .25rem 1rem; margin: .25rem 0; }
.figures b { font-variant-numeric: tabular-nums; }
.table { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .2rem .5rem .2rem 0; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 600; font-size: .8rem; }
td.wrap { white-space: normal; word-break: break-all; max-width: 28rem; }
.bar { display: inline-block; width: 6rem; height: .6rem; background: var(--bar); border-radius: 3px; vertical-align: middle; overflow: hidden; }
.bar > span { display: block; height: 100%; background: var(--ok); }
.bar.high > span { background: var(--warn); }
.bar.over > span { background: var(--bad); }
button { font: inherit; padding: .25rem .6rem; border-radius: 5px; border: 1px solid var(--line); background: var(--bg); color: var(--fg); cursor: pointer; }
button:hover { border-color: var(--accent); }
button.danger:hover { border-color: var(--bad); }
.actions { display: inline-flex; flex-wrap: wrap; gap: .3rem; margin-left: .5rem; }
.lookup { margin: .5rem 0; }
.lookup pre { margin-top: .3rem; }
.lookup input { width: 7rem; }
.actions input { width: 4rem; }
.actions input, .lookup input, .lookup select { font: inherit; padding: .2rem; background: var(--bg); color: var(--fg); border: 1px solid var(--line); border-radius: 5px; }
pre.log { margin: 0; max-height: 14rem; overflow: auto; font: 12px/1.35 ui-monospace, monospace; background: var(--bg); padding: .5rem; border-radius: 5px; border: 1px solid var(--line); white-space: pre-wrap; word-break: break-all; }
svg.chart { width: 100%; max-width: 36rem; height: 80px; display: block; }
svg.chart .rate { stroke: var(--ok); fill: none; stroke-width: 1.5; }
svg.chart .wait { stroke: var(--accent); fill: none; stroke-width: 1.5; stroke-dasharray: 4 2; }
.legend span { margin-right: 1rem; font-size: .8rem; }
.badge { border: 1px solid currentColor; border-radius: 4px; padding: 0 .35rem; font-size: .85rem; }
.badge.warn { color: var(--warn); }
.badge.bad { color: var(--bad); font-weight: 600; }
#message { color: var(--bad); }
.readonly .action { display: none; }
</style>
</head>
<body>
<header>
  <h1>solo</h1>
  <span id="connection" class="muted">connecting…</span>
  <span id="summary" class="muted"></span>
  <span id="message" role="status"></span>
</header>
<main><section id="schedules" class="pool" hidden></section><section id="groups" class="pool" hidden></section><section id="cluster" class="pool" hidden></section><div id="pools"></div></main>
<script>
"use strict";
(function () {
  // The token comes in the URL once (solo dashboard prints it); it is kept for this tab only and
  // taken out of the address bar, so that it is not shown, bookmarked or sent on as a referrer.
  const params = new URLSearchParams(location.search);
  if (params.get("token")) {
    sessionStorage.setItem("solo-token", params.get("token"));
    history.replaceState(null, "", location.pathname);
  }
  const token = sessionStorage.getItem("solo-token") || "";
  let history_ = {};            // pool -> [[at_ms, jobs/s, mean wait ms, oldest waiting ms]], from /api/history
  let historyFetched = 0;
  let readonly = false;
  let lastDead = {};
  const $ = (tag, attrs, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  };
  const duration = (ms) => {
    if (ms === null || ms === undefined) return "";
    const s = Math.floor(ms / 1000);
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h" + String(Math.floor(s / 60) % 60).padStart(2, "0") + "m";
    return Math.floor(s / 86400) + "d" + Math.floor(s / 3600) % 24 + "h";
  };
  const size = (b) => b === null || b === undefined ? "" : b >= 1 << 30 ? (b / (1 << 30)).toFixed(1) + "G" : (b / (1 << 20)).toFixed(1) + "M";
  const say = (text) => { document.getElementById("message").textContent = text; };

  async function post(path, body) {
    const response = await fetch(path, { method: "POST", headers: { "X-Solo-Token": token, "Content-Type": "application/json" },
                                         body: body ? JSON.stringify(body) : "" , credentials: "omit" });
    const answer = await response.json().catch(() => ({ ok: false, error: "HTTP " + response.status }));
    say(answer.ok === false ? answer.error : "");
    return answer;
  }
  async function get(path) {
    const response = await fetch(path, { headers: { "X-Solo-Token": token }, credentials: "omit" });
    return response.json();
  }

  // The last hour, right-aligned at now: one series per column of a sample, each scaled to its own top.
  function chart(points) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "chart");
    svg.setAttribute("viewBox", "0 0 360 80");
    svg.setAttribute("preserveAspectRatio", "none");
    for (const [column, cls] of [[1, "rate"], [2, "wait"]]) {
      const top = Math.max(1, ...points.map((p) => p[column] || 0));
      const d = points.map((p, i) => (i ? "L" : "M") + (360 - (points.length - 1 - i)) + "," + (78 - 76 * (p[column] || 0) / top).toFixed(1)).join(" ");
      const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
      path.setAttribute("class", cls);
      path.setAttribute("d", d || "M0,78");
      svg.append(path);
    }
    return svg;
  }

  function workerRow(pool, w) {
    const limit = pool.memory_limit;
    let memory = size(w.rss);
    if (w.rss !== undefined && w.rss !== null && limit) {
      const share = w.rss / limit;
      const bar = $("span", { class: "bar" + (share >= 1 ? " over" : share >= 0.8 ? " high" : ""), title: size(w.rss) + " of " + size(limit) },
                    $("span", { style: "width:" + Math.min(100, share * 100).toFixed(0) + "%" }));
      memory = $("span", {}, bar, " " + size(w.rss) + " / " + size(limit));
    }
    const job = w.job ? "#" + w.job.id + " for " + duration(w.job.age_ms) + (w.job.attempt > 1 ? " (attempt " + w.job.attempt + ")" : "") : "";
    return $("tr", { "data-slot": w.slot, "data-pid": w.pid || "" },
      $("td", {}, String(w.slot)),
      $("td", { "data-field": "pid" }, w.pid ? String(w.pid) : ""),
      $("td", { "data-field": "state", class: "state-" + w.state }, w.state + (w.leaving ? " (" + w.leaving + ")" : "") + (w.restart_in_ms !== undefined ? " (" + duration(w.restart_in_ms) + ")" : "")),
      $("td", {}, duration(w.uptime_ms)),
      $("td", {}, w.jobs === undefined ? "" : w.jobs + (w.job_limit ? " / " + w.job_limit : "")),
      $("td", {}, memory),
      $("td", { "data-field": "job" }, job),
      $("td", { "data-field": "restarts" }, String(w.restarts)),
      $("td", { class: "wrap" }, w.last_exit || ""));
  }

  function queuePanel(pool, points) {
    const q = pool.queue;
    if (!q) return null;
    // As solo status words it: "held back: 3 by key_concurrency", "at concurrency 10".
    const held = [["key_concurrency", q.held_key_concurrency], ["key_rate_limit", q.held_key_rate_limit]]
      .filter(([, n]) => n > 0).map(([k, n]) => n + " by " + k).join(", ");
    const limits = [["concurrency", q.concurrency], ["rate_limit", q.rate_limit], ["key_concurrency", q.key_concurrency], ["key_rate_limit", q.key_rate_limit]]
      .filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => k + " " + v).join(", ");
    const figure = (name, value) => $("span", {}, name + " ", $("b", { "data-field": "queue-" + name }, String(value ?? "–")));
    return $("div", { "data-queue": q.name },
      $("h3", {}, "queue " + q.name + " ", $("span", { class: "muted" }, q.backend + " " + q.file)),
      $("div", { class: "figures" },
        figure("ready", q.ready), figure("delayed", q.delayed), figure("reserved", q.reserved), figure("dead", q.dead),
        $("span", {}, "oldest waiting ", $("b", {}, q.oldest_waiting_ms ? duration(q.oldest_waiting_ms) : "none")),
        held ? $("span", { class: "badge warn", "data-field": "held-back" }, "held back: " + held) : null,
        q.limited_by ? $("span", { class: "badge warn", "data-field": "limited-by" }, "at " + q.limited_by + " " + (q[q.limited_by] ?? "")) : null,
        limits ? $("span", { class: "muted", "data-field": "limits" }, "limits: " + limits) : null,
        q.problem ? $("span", { class: "state-stopped" }, q.problem) : null),
      chart(points),
      $("div", { class: "legend muted", "data-field": "chart" }, $("span", {}, "— jobs/s (top " + Math.max(0, ...points.map((p) => p[1])) + ")"),
        $("span", {}, "- - mean queue-wait (top " + duration(Math.max(0, ...points.map((p) => p[2] || 0))) + ")"),
        $("span", {}, points.length ? "last " + Math.round(points.length / 6) + " min" : "the first samples come within 20 s")),
      lookup(pool.name),
      $("div", { "data-dead": pool.name }, lastDead[pool.name] || ""));
  }

  // Jobs of the pool's queue by id (its payload, attempts, last error, result and timings), by
  // group (each one a line) or by the unique key one holds.
  const lookedUp = {}, lookedUpId = {}, lookedUpBy = {};
  const when = (ms) => ms ? new Date(ms).toISOString() : "";
  const jobText = (job) => [
    "job " + job.id + " in " + job.queue + ": " + job.state + ", attempt " + job.attempts + (job.max_attempts ? " of " + job.max_attempts : ""),
    "queued " + when(job.created_at) + (job.run_at ? ", due " + when(job.run_at) : "") + (job.finished_at ? ", finished " + when(job.finished_at) : ""),
    job.group ? "group " + job.group : null, job.unique_key ? "unique key " + job.unique_key : null,
    job.error ? "error: " + job.error : null, job.result ? "result: " + job.result : null,
    "payload: " + job.payload].filter((l) => l !== null).join("\n");
  const jobLine = (job) => "#" + job.id + " " + job.state + (job.error ? ": " + job.error : job.result ? ": " + job.result : "") + " — " + job.payload.slice(0, 80);
  function lookup(poolName) {
    const by = $("select", { "aria-label": "look up by", "data-lookup-by": poolName },
      ...[["id", "job id"], ["group", "group"], ["key", "unique key"]].map(([v, t]) => $("option", { value: v }, t)));
    by.value = lookedUpBy[poolName] || "id";
    const input = $("input", { type: "text", placeholder: "id, group or key", "aria-label": "job id, group or key", "data-lookup-input": poolName });
    if (lookedUpId[poolName]) input.value = lookedUpId[poolName];
    const out = $("pre", { class: "log", "data-lookup": poolName, hidden: "" });
    if (lookedUp[poolName]) { out.textContent = lookedUp[poolName]; out.removeAttribute("hidden"); }
    const show = async () => {
      lookedUpId[poolName] = input.value;
      lookedUpBy[poolName] = by.value;
      const pool = "pool=" + encodeURIComponent(poolName);
      if (by.value === "id") {
        const answer = await get("/api/jobs/" + encodeURIComponent(input.value) + "?" + pool);
        lookedUp[poolName] = answer.ok ? jobText(answer.job) : answer.error;
      } else {
        const answer = await get("/api/jobs?" + pool + "&" + by.value + "=" + encodeURIComponent(input.value));
        lookedUp[poolName] = !answer.ok ? answer.error : !answer.jobs.length ? "no job has " + by.value + " " + input.value
          : answer.jobs.length === 1 ? jobText(answer.jobs[0]) : answer.jobs.map(jobLine).join("\n");
      }
      out.textContent = lookedUp[poolName];
      out.removeAttribute("hidden");
    };
    return $("div", { class: "lookup" }, by, " ", input, " ", $("button", { "data-action": "lookup", onclick: show }, "look up"), out);
  }

  // Why workers left, grouped as the metrics' help says: recycled, restarted after dying, stopped.
  const exitGroups = [["recycled", ["job_limit", "memory_limit", "lifetime"]],
                      ["restarted", ["died", "memory_kill", "job_timeout", "protocol_error"]],
                      ["stopped", ["restart", "scaled_down", "stopped", "standby", "shutdown"]]];
  function exitsLine(exits) {
    const parts = exitGroups.map(([group, reasons]) => {
      const found = reasons.filter((r) => exits && exits[r]).map((r) => r + " " + exits[r]);
      return found.length ? group + ": " + found.join(", ") : null;
    }).filter((p) => p);
    return parts.length ? $("div", { class: "muted", "data-field": "exits" }, "workers gone since solo started — " + parts.join("; ")) : null;
  }

  // A fastcgi pool runs no workers: PHP-FPM runs its jobs, up to workers requests at once.
  function fastcgiFigures(pool) {
    const f = pool.fastcgi;
    return $("span", { "data-field": "fastcgi" },
      $("b", { "data-field": "in-flight" }, String(f.in_flight)), "/" + pool.workers_wanted + " requests in flight, PHP-FPM at " + f.address,
      f.problem ? $("span", { class: "badge bad", "data-field": "fastcgi-problem" }, f.problem + "; jobs wait, trying again in " + duration(f.retry_in_ms)) : null);
  }

  function poolSection(pool, logs, exits) {
    const points = history_[pool.name] || [];
    const counts = {};
    for (const w of pool.workers) counts[w.state] = (counts[w.state] || 0) + 1;
    const byState = Object.entries(counts).map(([s, n]) => n + " " + s).join(", ");
    const scaleInput = $("input", { type: "number", min: "0", max: "4096", value: String(pool.workers_wanted), "aria-label": "workers", "data-scale-input": pool.name });
    const act = (what) => () => post("/api/pool/" + encodeURIComponent(pool.name) + "/" + what);
    return $("section", { class: "pool", id: "pool-" + pool.name, "data-pool": pool.name, "data-workers-running": pool.workers_running },
      $("div", {},
        $("h2", {}, pool.name),
        $("span", { class: "state-" + pool.state, "data-field": "pool-state" }, pool.state),
        $("span", { class: "actions action" },
          $("button", { "data-action": "stop", onclick: act("stop") }, "stop"),
          $("button", { "data-action": "start", onclick: act("start") }, "start"),
          $("button", { "data-action": "restart", onclick: act("restart") }, "restart"),
          scaleInput,
          $("button", { "data-action": "scale", onclick: () => post("/api/pool/" + encodeURIComponent(pool.name) + "/scale?n=" + encodeURIComponent(scaleInput.value)) }, "scale"))),
      $("div", { class: "figures" },
        pool.fastcgi ? fastcgiFigures(pool)
          : $("span", {}, "workers ", $("b", { "data-field": "workers-running" }, String(pool.workers_running)), " of " + pool.workers_wanted + (pool.scaling ? " (scaling " + pool.scaling.min + "–" + pool.scaling.max + ")" : "")),
        pool.fastcgi ? null : $("span", {}, byState),
        $("span", {}, $("b", { "data-field": "jobs-per-second" }, String(pool.jobs_per_second)), " jobs/s"),
        pool.rolling_restart ? $("span", { class: "state-starting" }, "rolling restart: " + pool.rolling_restart + " left") : null,
        ...(pool.alerts || []).map((a) => $("span", { class: "badge bad", "data-field": "alert" }, "alert: " + a))),
      pool.fastcgi ? null : exitsLine(exits),
      pool.fastcgi ? null : $("div", { class: "table" }, $("table", { "data-workers": pool.name },
        $("thead", {}, $("tr", {}, ...["slot", "pid", "state", "uptime", "jobs", "memory", "job in hand", "restarts", "last exit"].map((h) => $("th", {}, h)))),
        $("tbody", {}, ...pool.workers.map((w) => workerRow(pool, w))))),
      queuePanel(pool, points),
      $("h3", {}, "recent log lines"),
      $("pre", { class: "log", "data-log": pool.name }, (logs || []).join("\n")));
  }

  function deadTable(list) {
    if (list.error) return $("p", { class: "state-stopped" }, list.error);
    if (!list.jobs.length) return "";
    const change = (what, ids) => async () => {
      if (ids.length > 1 && !confirm(what + " these " + ids.length + " dead jobs?")) return;
      const answer = await post("/api/jobs/" + what, { pool: list.pool, ids: ids });
      if (answer.ok) refreshDead();
    };
    const all = list.jobs.map((job) => job.id);
    return $("div", {}, $("h3", {}, "dead jobs ",
        $("button", { class: "action", "data-retry-all": list.pool, onclick: change("retry", all) }, "retry these " + all.length), " ",
        $("button", { class: "danger action", "data-delete-all": list.pool, onclick: change("delete", all) }, "delete these " + all.length)),
      $("div", { class: "table" }, $("table", {},
      $("thead", {}, $("tr", {}, ...["id", "attempts", "error", "payload", ""].map((h) => $("th", {}, h)))),
      $("tbody", {}, ...list.jobs.map((job) => $("tr", { "data-dead-job": job.id },
        $("td", {}, String(job.id)), $("td", {}, String(job.attempts)),
        $("td", { class: "wrap" }, job.error || ""), $("td", { class: "wrap" }, job.payload.slice(0, 200)),
        $("td", { class: "action" },
          $("button", { "data-retry": job.id, onclick: change("retry", [job.id]) }, "retry"), " ",
          $("button", { class: "danger", "data-delete": job.id, onclick: change("delete", [job.id]) }, "delete"))))))));
  }

  async function refreshDead() {
    try {
      const answer = await get("/api/dead?limit=50");
      lastDead = {};
      for (const list of answer.queues || []) lastDead[list.pool] = deadTable(list);
      for (const [pool, table] of Object.entries(lastDead)) {
        const place = document.querySelector('[data-dead="' + CSS.escape(pool) + '"]');
        if (place) place.replaceChildren(table);
      }
    } catch (e) { say("cannot list the dead jobs: " + e); }
  }

  // The schedules: when each runs next and ran last, in its own zone, and the job its last run pushed.
  function renderSchedules(list) {
    const place = document.getElementById("schedules");
    if (!list || !list.length) { place.hidden = true; return; }
    place.hidden = false;
    place.replaceChildren($("h2", {}, "schedules"), $("div", { class: "table" }, $("table", {},
      $("thead", {}, $("tr", {}, ...["name", "cron", "zone", "queue", "next run", "last run", "last job"].map((h) => $("th", {}, h)))),
      $("tbody", {}, ...list.map((s) => $("tr", { "data-schedule": s.name },
        $("td", {}, s.name), $("td", {}, s.cron), $("td", {}, s.timezone), $("td", {}, s.queue),
        $("td", {}, s.next_local || ""), $("td", {}, s.last_local || ""), $("td", {}, s.last_job ? "#" + s.last_job : "")))))));
  }

  // The groups of the jobs handed out lately: progress, and a finished group's results on demand.
  let groups = [], groupsFetched = 0;
  const groupResults = {};
  function renderGroups() {
    const place = document.getElementById("groups");
    if (!groups.length) { place.hidden = true; return; }
    place.hidden = false;
    const results = (g) => async () => {
      const answer = await get("/api/groups/" + encodeURIComponent(g.group) + "?pool=" + encodeURIComponent(g.pool));
      groupResults[g.pool + "/" + g.group] = answer.ok ? [
        g.group + ": " + answer.total + " jobs, " + answer.done + " done, " + answer.dead + " dead" + (answer.took_ms !== null && answer.took_ms !== undefined ? ", in " + duration(answer.took_ms) : ""),
        ...(answer.results || []).map((r) => "#" + r.id + " " + (r.result || "")),
        ...(answer.dead_jobs || []).map((d) => "#" + d.id + " dead: " + (d.error || ""))].join("\n") : answer.error;
      renderGroups();
    };
    place.replaceChildren($("h2", {}, "groups"), $("div", { class: "table" }, $("table", {},
      $("thead", {}, $("tr", {}, ...["pool", "group", "progress", "pending", "done", "dead", ""].map((h) => $("th", {}, h)))),
      $("tbody", {}, ...groups.map((g) => g.error ? $("tr", {}, $("td", {}, g.pool), $("td", { class: "wrap state-stopped" }, g.error)) : $("tr", { "data-group": g.group, "data-group-pool": g.pool },
        $("td", {}, g.pool), $("td", {}, g.group),
        $("td", { "data-field": "group-progress" }, $("span", { class: "bar" + (g.dead ? " high" : "") }, $("span", { style: "width:" + (g.total ? (100 * (g.done + g.dead) / g.total).toFixed(0) : 0) + "%" })),
          " " + (g.done + g.dead) + " of " + g.total + (g.pending ? "" : " finished")),
        $("td", {}, String(g.pending)), $("td", {}, String(g.done)), $("td", {}, String(g.dead)),
        $("td", {}, g.pending ? "" : $("button", { "data-group-results": g.group, onclick: results(g) }, "results"))))))),
      ...Object.entries(groupResults).map(([key, text]) => $("pre", { class: "log", "data-group-results-of": key }, text)));
  }

  // On Redis: every live supervisor from the heartbeats, and which holds the fleet lock.
  let clusterFetched = 0;
  function renderCluster(answer) {
    const place = document.getElementById("cluster");
    const list = answer.ok ? answer.supervisors || [] : [];
    if (!list.length) { place.hidden = true; return; }
    place.hidden = false;
    const pools = (r) => (r.pools || []).map((p) => p.name + " " + p.state + " " + (p.requests_in_flight ?? p.workers_running) + "/" + p.workers_wanted + (p.requests_in_flight === undefined ? "" : " requests") + ", " + p.jobs_per_second + " jobs/s").join("; ");
    place.replaceChildren($("h2", {}, "cluster"), $("div", { class: "table" }, $("table", {},
      $("thead", {}, $("tr", {}, ...["supervisor", "host", "pid", "up", "pools", "fleet lock"].map((h) => $("th", {}, h)))),
      $("tbody", {}, ...list.map((r) => $("tr", { "data-supervisor": r.owner },
        $("td", {}, r.owner), $("td", {}, r.host || ""), $("td", {}, String(r.pid || "")), $("td", {}, duration(r.uptime_ms)),
        $("td", { class: "wrap" }, pools(r)),
        $("td", { "data-field": "lock-role" }, r.fleet_lock ? (r.fleet_lock.role === "holding" ? $("span", { class: "badge warn" }, "holds " + r.fleet_lock.name) : r.fleet_lock.role) : "")))))));
  }

  let deadKey = null;
  function render(picture) {
    readonly = picture.readonly;
    document.body.classList.toggle("readonly", readonly);
    const status = picture.status;
    if (Date.now() - groupsFetched > 2000) {
      groupsFetched = Date.now();
      get("/api/groups").then((answer) => { groups = answer.groups || []; renderGroups(); }).catch(() => { groupsFetched = 0; });
    }
    if (Date.now() - clusterFetched > 3000) {
      clusterFetched = Date.now();
      get("/api/cluster").then(renderCluster).catch(() => { clusterFetched = 0; });
    }
    if (Date.now() - historyFetched > 10000) {   // the supervisor samples every 10 s
      historyFetched = Date.now();
      get("/api/history").then((answer) => { history_ = answer.pools || {}; }).catch(() => { historyFetched = 0; });
    }
    const scrolls = {};
    document.querySelectorAll("pre.log").forEach((pre) => { scrolls[pre.dataset.log] = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 4; });
    const typing = document.activeElement && ["INPUT", "SELECT"].includes(document.activeElement.tagName);
    if (typing) return;   // not while someone types a number of workers or a job id
    renderSchedules(picture.schedules);
    document.getElementById("pools").replaceChildren(...status.pools.map((pool) => poolSection(pool, picture.logs[pool.name], picture.exits[pool.name])));
    document.querySelectorAll("pre.log").forEach((pre) => { if (scrolls[pre.dataset.log] !== false) pre.scrollTop = pre.scrollHeight; });
    document.getElementById("summary").textContent = "pid " + status.pid + ", up " + duration(status.uptime_ms) + ", " + status.config +
      (status.fleet_lock ? ", fleet lock " + status.fleet_lock.name + ": " + status.fleet_lock.role +
       (status.fleet_lock.role !== "holding" && status.fleet_lock.holder ? " (held by " + status.fleet_lock.holder + ")" : "") : "");
    const key = status.pools.map((p) => p.queue ? p.name + ":" + p.queue.dead : "").join(",");
    if (key !== deadKey) { deadKey = key; refreshDead(); }
  }

  const connection = document.getElementById("connection");
  const events = new EventSource("/events?token=" + encodeURIComponent(token));
  events.onopen = () => { connection.textContent = "live"; connection.dataset.state = "live"; };
  events.onerror = async () => {
    connection.textContent = "reconnecting…";
    connection.dataset.state = "down";
    const response = await fetch("/api/status", { headers: { "X-Solo-Token": token }, credentials: "omit" }).catch(() => null);
    if (response && response.status === 401) {
      events.close();
      connection.textContent = "not allowed";
      say("this page's token is not valid (renewed?): open the URL that solo dashboard prints");
    }
  };
  events.onmessage = (message) => render(JSON.parse(message.data));
})();
</script>
</body>
</html>
"""#
}
