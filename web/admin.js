// The operator console: live counts and the last 15 minutes as small charts (GET /v1/stats every
// 5 s), orders by status with paging, one order with its history, cancel and requeue with a
// confirmation. Every request carries the admin token as a bearer header.
import { askForToken, el, forgetToken, formatTime, itemsText, replaceChildren, request } from "./common.js";

const $ = (id) => document.getElementById(id);
let token = null;
let cursor = null;     // `after` of the page shown (null: the first page)
let nextCursor = null;
let openOrder = null;

async function api(path, options = {}) {
  const answer = await request(path, { ...options, token });
  if (answer.status === 401) {
    forgetToken();
    $("console").hidden = true;
    askForToken($("access"), { onToken: begin, check });
    throw new Error("unauthorized");
  }
  return answer;
}

// ---- Figures and charts -------------------------------------------------------------------------

function fact(label, value, id) {
  return el("div", { id }, el("dt", {}, label), el("dd", {}, String(value)));
}

/** A small line chart of one or two series into `svg` (0..max scaled to its height). */
function chart(svg, series) {
  const width = 300;
  const height = 100;
  const all = series.flat().filter((v) => typeof v === "number");
  const max = Math.max(1, ...all);
  replaceChildren(svg);
  const ns = "http://www.w3.org/2000/svg";
  const axis = document.createElementNS(ns, "line");
  axis.setAttribute("x1", "0"); axis.setAttribute("x2", String(width));
  axis.setAttribute("y1", String(height - 1)); axis.setAttribute("y2", String(height - 1));
  axis.setAttribute("class", "chart-axis");
  svg.append(axis);
  series.forEach((values, index) => {
    const step = values.length > 1 ? width / (values.length - 1) : width;
    const points = values
      .map((v, i) => (typeof v === "number" ? `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 6)).toFixed(1)}` : null))
      .filter(Boolean)
      .join(" ");
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", points);
    line.setAttribute("class", index === 0 ? "chart-line" : "chart-line second");
    svg.append(line);
  });
}

function last(values) {
  for (let i = values.length - 1; i >= 0; i--) if (typeof values[i] === "number") return values[i];
  return null;
}

async function refreshStats() {
  let answer;
  try {
    answer = await api("/v1/stats");
  } catch {
    $("connection").hidden = false;
    return;
  }
  if (!answer.ok || !answer.json) {
    $("connection").hidden = false;
    return;
  }
  $("connection").hidden = true;
  const s = answer.json;
  const w = s.window;
  replaceChildren($("counts"),
    fact("Queued now", s.live.queued, "count-queued"),
    fact("Cooking now", s.live.cooking, "count-cooking"),
    fact("Ready now", s.live.ready, "count-ready"),
    fact("Placed", w.placed, "count-placed"),
    fact("Became ready", w.ready, "count-became-ready"),
    fact("Picked up", w.picked_up, "count-picked-up"),
    fact("Cancelled", w.cancelled, "count-cancelled"),
    fact("Failed", w.failed, "count-failed"),
    fact("Expired", w.expired, "count-expired"),
    fact("Typical wait", w.wait_p50_seconds === null ? "—" : `${Math.round(w.wait_p50_seconds)} s`, "count-wait"));

  const buckets = s.buckets;
  chart($("chart-throughput"), [buckets.map((b) => b.placed), buckets.map((b) => b.ready)]);
  $("throughput-summary").replaceChildren(
    el("span", { class: "swatch-a" }, "placed"), ` ${last(buckets.map((b) => b.placed)) ?? 0} and `,
    el("span", { class: "swatch-b" }, "ready"), ` ${last(buckets.map((b) => b.ready)) ?? 0} in the last 30 s; ${w.placed} and ${w.ready} in 15 minutes.`);
  chart($("chart-depth"), [buckets.map((b) => b.live?.queued ?? null), buckets.map((b) => b.live?.cooking ?? null)]);
  $("depth-summary").replaceChildren(
    el("span", { class: "swatch-a" }, "queued"), ` ${s.live.queued} and `,
    el("span", { class: "swatch-b" }, "cooking"), ` ${s.live.cooking} now.`);
  chart($("chart-wait"), [buckets.map((b) => b.wait_p50_seconds), buckets.map((b) => b.wait_p90_seconds)]);
  $("wait-summary").replaceChildren(
    el("span", { class: "swatch-a" }, "median"), ` ${w.wait_p50_seconds ?? "—"} s and `,
    el("span", { class: "swatch-b" }, "90th percentile"), ` ${w.wait_p90_seconds ?? "—"} s over 15 minutes.`);
  $("updated").textContent = `Updated ${formatTime(s.at)}`;
}

// ---- Lists --------------------------------------------------------------------------------------

async function loadOrders() {
  const status = $("status-filter").value;
  const query = new URLSearchParams({ limit: "25" });
  if (status) query.set("status", status);
  if (cursor) query.set("after", cursor);
  let answer;
  try {
    answer = await api(`/v1/orders?${query}`);
  } catch {
    return;
  }
  if (!answer.ok) return;
  const orders = answer.json.orders;
  nextCursor = answer.json.next;
  replaceChildren($("order-rows"), orders.map((o) => el("tr", { "data-order": o.id },
    el("td", {}, el("button", { type: "button", class: "secondary open-order", onclick: () => openDetail(o.id) }, `Open order ${o.id}`)),
    el("td", {}, `#${o.number}`),
    el("td", { class: "status" }, o.status.replace("_", " ")),
    el("td", {}, itemsText(o.items)),
    el("td", {}, formatTime(o.created_at)),
    el("td", {}, `${o.attempts} of ${o.max_attempts}`),
    el("td", {}, o.last_error || ""))));
  $("orders-empty").hidden = orders.length > 0;
  $("next-page").disabled = !nextCursor;
  $("first-page").disabled = !cursor;
}

$("status-filter").addEventListener("change", () => {
  cursor = null;
  loadOrders();
});
$("refresh").addEventListener("click", () => loadOrders());
$("next-page").addEventListener("click", () => {
  if (!nextCursor) return;
  cursor = nextCursor;
  loadOrders();
});
$("first-page").addEventListener("click", () => {
  cursor = null;
  loadOrders();
});

// ---- One order ----------------------------------------------------------------------------------

async function openDetail(id) {
  let answer;
  try {
    answer = await api(`/v1/orders/${id}`);
  } catch {
    return;
  }
  if (!answer.ok) return;
  showDetail(answer.json);
  $("detail-message").textContent = "";
  $("detail").hidden = false;
  $("detail").focus();
}

function showDetail(order) {
  openOrder = order;
  $("detail-heading").textContent = `Order ${order.id}: number ${order.number}, ${order.status.replace("_", " ")}`;
  replaceChildren($("detail-facts"),
    fact("Status", order.status.replace("_", " "), "detail-status"),
    fact("Priority", order.priority),
    fact("Items", itemsText(order.items)),
    fact("Attempts", `${order.attempts} of ${order.max_attempts}`),
    fact("Placed", formatTime(order.created_at)),
    fact("Cook", order.lease_owner || "—"),
    fact("Last error", order.last_error || "—"));
  const final = ["picked_up", "cancelled", "failed", "expired"].includes(order.status);
  $("do-cancel").hidden = final;
  $("do-requeue").hidden = order.status !== "failed";
  if (order.events) {
    replaceChildren($("events"), order.events.map((e) => el("tr", {},
      el("td", {}, formatTime(e.at)), el("td", {}, e.from || "—"), el("td", {}, e.to), el("td", {}, e.detail || ""))));
  }
}

function confirm(text, yes) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-yes").textContent = yes;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.showModal();
    $("confirm-no").focus();
  });
}

async function act(action, question, yes) {
  if (!openOrder) return;
  const id = openOrder.id;
  if (!(await confirm(question, yes))) return;
  let answer;
  try {
    answer = await api(`/v1/orders/${id}/${action}`, { method: "POST" });
  } catch {
    return;
  }
  if (answer.ok) {
    $("detail-message").textContent = action === "requeue" ? "Back in the queue." : "Cancelled.";
    await openDetailKeepingMessage(id);
    loadOrders();
    refreshStats();
  } else {
    $("detail-message").textContent = `Not done: ${answer.json?.detail || `HTTP ${answer.status}`}`;
  }
}

async function openDetailKeepingMessage(id) {
  const answer = await api(`/v1/orders/${id}`).catch(() => null);
  if (answer?.ok) showDetail(answer.json);
}

$("do-requeue").addEventListener("click", () => act("requeue", `Put order ${openOrder?.id} back in the queue with fresh attempts?`, "Yes, requeue"));
$("do-cancel").addEventListener("click", () => act("cancel", `Cancel order ${openOrder?.id}? Its cook's lease is revoked.`, "Yes, cancel it"));
$("close-detail").addEventListener("click", () => {
  $("detail").hidden = true;
  openOrder = null;
});

// ---- Start --------------------------------------------------------------------------------------

let started = false;

function begin(t) {
  token = t;
  $("console").hidden = false;
  refreshStats();
  loadOrders();
  if (!started) {
    started = true;
    setInterval(refreshStats, 5000);
  }
}

async function check(candidate) {
  const answer = await request("/v1/stats", { token: candidate });
  return answer.ok;
}

askForToken($("access"), { onToken: begin, check });
