// mogulsync serve: the live debugger (Server-Sent Events) and live run counts.
// Plain JavaScript, no build step; text is always inserted as text, never as HTML.
"use strict";

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function bodies(entry) {
  if (!entry.request_body && !entry.response_body) return null;
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = "show";
  details.appendChild(summary);
  for (const [label, body] of [["request", entry.request_body], ["response", entry.response_body]]) {
    if (!body) continue;
    const pre = document.createElement("pre");
    pre.textContent = label + ": " + body;
    details.appendChild(pre);
  }
  return details;
}

function statusClass(status) {
  return status === null ? "st-none" : "st-" + String(status)[0];
}

function startDebugger(table) {
  const tbody = table.querySelector("tbody");
  const filter = document.getElementById("dbg-filter");
  const statusFilter = document.getElementById("dbg-status");
  const counter = document.getElementById("dbg-count");
  let count = 0;
  let older = 0; // requests not shown: a long run's oldest (they are in the run history)
  function showCount() {
    const text = count + (count === 1 ? " request" : " requests");
    counter.textContent = older ? text + " (" + older + " older ones are in the run history)" : text;
  }

  function visible(row) {
    const text = (filter.value || "").toLowerCase();
    const wanted = statusFilter.value;
    const matchesText = !text || row.dataset.search.includes(text);
    const matchesStatus = !wanted || row.dataset.status.startsWith(wanted);
    return matchesText && matchesStatus;
  }
  function refilter() {
    for (const row of tbody.rows) row.hidden = !visible(row);
  }
  filter.addEventListener("input", refilter);
  statusFilter.addEventListener("change", refilter);

  const source = new EventSource(table.dataset.stream);
  source.addEventListener("request", (event) => {
    const entry = JSON.parse(event.data);
    const row = document.createElement("tr");
    row.className = "new";
    row.dataset.status = entry.status === null ? "none" : String(entry.status);
    row.dataset.search = [entry.path, entry.request_body || "", entry.response_body || ""].join(" ").toLowerCase();
    cell(row, String(entry.seq));
    cell(row, entry.method);
    cell(row, entry.path, "long");
    cell(row, entry.status === null ? (entry.error_type || "no answer") : String(entry.status), statusClass(entry.status));
    cell(row, entry.latency_ms.toFixed(1) + " ms");
    cell(row, String(entry.attempt));
    const td = cell(row, "");
    const more = bodies(entry);
    if (more) td.appendChild(more);
    row.hidden = !visible(row);
    tbody.appendChild(row);
    count += 1;
    showCount();
  });
  source.addEventListener("skipped", (event) => {
    older += JSON.parse(event.data).skipped;
    showCount();
  });
  source.addEventListener("end", () => {
    source.close();
    table.dataset.done = "true";
    refreshRun(table.dataset.run);
  });
}

async function refreshRun(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) return;
  const run = await response.json();
  const status = document.getElementById("run-status");
  if (status) {
    status.textContent = run.status;
    status.className = "status " + run.status;
  }
  for (const [name, value] of Object.entries(run.rows)) {
    const dd = document.querySelector('[data-count="' + name + '"]');
    if (dd) dd.textContent = String(value);
  }
  const calls = document.querySelector('[data-count="api_calls"]');
  if (calls) calls.textContent = String(run.api_calls);
  return run;
}

function pollRun(table) {
  const timer = setInterval(async () => {
    const run = await refreshRun(table.dataset.run);
    if (!run || run.status !== "running") clearInterval(timer);
  }, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  const table = document.getElementById("debugger");
  const noScript = document.getElementById("dbg-nojs");
  if (noScript) noScript.hidden = true;
  if (table) {
    startDebugger(table);
    pollRun(table);
  }
});
