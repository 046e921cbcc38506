// The kitchen display: orders live in claim order (rush marked), items summed per line, a
// card's age coloured when overdue against its cooking time. Start claims that order for this
// screen (POST /v1/kitchen/orders/{id}/claim: a second screen gets 409), the lease is renewed
// while the card is open, Done marks it ready, Problem records a failed attempt. The list comes
// from GET /v1/kitchen/events, read with fetch to send the bearer token.
import { askForToken, el, formatClock, forgetToken, readEvents, replaceChildren, request, serverNow, summarizeItems } from "./common.js";

const $ = (id) => document.getElementById(id);
const LEASE_SECONDS = 60;
const RENEW_EVERY_MS = 20000;
const COOK_KEY = "ticketd.kitchen.cook";
const MINE_KEY = "ticketd.kitchen.mine";

let token = null;
let list = { queued: [], cooking: [] };
// Orders this screen cooks: id -> { order, lease }; kept for the tab, so a reload keeps them.
const mine = new Map();
let feed = null;

// ---- This screen --------------------------------------------------------------------------------

function cookName() {
  return $("cook").value.trim() || "kitchen";
}

function setUpCookName() {
  let name = null;
  try {
    name = localStorage.getItem(COOK_KEY);
  } catch {
    name = null;
  }
  if (!name) name = `screen-${Math.random().toString(36).slice(2, 6)}`;
  $("cook").value = name;
  $("cook").addEventListener("change", () => {
    try {
      localStorage.setItem(COOK_KEY, cookName());
    } catch {
      // not kept
    }
  });
  $("cook-field").hidden = false;
}

function saveMine() {
  try {
    sessionStorage.setItem(MINE_KEY, JSON.stringify([...mine.values()]));
  } catch {
    // not kept
  }
}

function loadMine() {
  try {
    for (const entry of JSON.parse(sessionStorage.getItem(MINE_KEY) || "[]")) mine.set(entry.order.id, entry);
  } catch {
    // nothing kept
  }
}

function say(text) {
  $("kitchen-message").textContent = text;
}

// ---- Cards --------------------------------------------------------------------------------------

function card(order, { actions = [], by = null, since }) {
  const node = $("card").content.firstElementChild.cloneNode(true);
  node.dataset.order = order.id;
  node.dataset.number = order.number;
  node.classList.toggle("rush", order.priority === "rush");
  node.querySelector(".card-number").textContent = `#${order.number}`;
  node.querySelector(".badge").hidden = order.priority !== "rush";
  const age = node.querySelector(".age");
  age.dataset.since = since;
  age.dataset.expected = String(order.cook_seconds || 0);
  replaceChildren(node.querySelector(".lines"), summarizeItems(order.items).map(([item, n]) => el("li", {}, `${n}× ${item}`)));
  const note = node.querySelector(".note");
  const extra = [order.note, order.customer ? `for ${order.customer}` : null].filter(Boolean).join(" — ");
  note.hidden = !extra;
  note.textContent = extra;
  const byNode = node.querySelector(".by");
  byNode.hidden = !by;
  byNode.textContent = by || "";
  replaceChildren(node.querySelector(".card-actions"), actions);
  node.querySelector("article").setAttribute("aria-label", `Order ${order.number}${order.priority === "rush" ? ", rush" : ""}`);
  return node;
}

function render() {
  // Keep the keyboard's place: the focused button is found again in the new cards.
  const focused = document.activeElement;
  const focusedCard = focused?.closest?.(".card");
  const refocus = focusedCard ? { order: focusedCard.dataset.order, cls: focused.className } : null;
  const queued = list.queued.filter((o) => !mine.has(o.id));
  const elsewhere = list.cooking.filter((o) => !mine.has(o.id));
  replaceChildren($("mine"), [...mine.values()].map(({ order }) => card(order, {
    since: order.cooking_at || order.created_at,
    actions: [
      el("button", { type: "button", class: "done", onclick: () => done(order.id) }, `Done #${order.number}`),
      el("button", { type: "button", class: "secondary problem", onclick: () => fail(order.id) }, "Problem"),
    ],
  })));
  replaceChildren($("queue"), queued.map((order) => card(order, {
    since: order.created_at,
    actions: [el("button", { type: "button", class: "start", onclick: (e) => start(order, e.currentTarget) }, `Start #${order.number}`)],
  })));
  replaceChildren($("elsewhere"), elsewhere.map((order) => card(order, {
    since: order.cooking_at || order.created_at,
    by: `being cooked by ${order.lease_owner || "another cook"}`,
  })));
  $("mine-count").textContent = `(${mine.size})`;
  $("queue-count").textContent = `(${list.queued_count ?? queued.length})`;
  $("elsewhere-count").textContent = `(${elsewhere.length})`;
  $("mine-empty").hidden = mine.size > 0;
  $("queue-empty").hidden = queued.length > 0;
  ages();
  if (refocus) {
    const again = document.querySelector(`.card[data-order="${CSS.escape(refocus.order)}"] button.${CSS.escape(refocus.cls.split(" ").pop() || "start")}`);
    (again || $("kitchen-message")).focus?.();
  }
}

/** Ages every second: amber past the expected cooking time, red past one and a half times it. */
function ages() {
  const now = serverNow();
  for (const node of document.querySelectorAll(".age")) {
    const seconds = (now - Date.parse(node.dataset.since)) / 1000;
    const expected = Math.max(Number(node.dataset.expected) || 0, 1);
    node.textContent = formatClock(seconds);
    node.classList.toggle("overdue", seconds > expected && seconds <= expected * 1.5 + 30);
    node.classList.toggle("late", seconds > expected * 1.5 + 30);
    node.title = `expected about ${Math.round(expected)} s`;
  }
}
setInterval(ages, 1000);

// ---- Actions ------------------------------------------------------------------------------------

async function start(order, button) {
  button.disabled = true;
  const answer = await request(`/v1/kitchen/orders/${order.id}/claim`, {
    method: "POST", token, body: { cook: cookName(), lease_seconds: LEASE_SECONDS },
  }).catch(() => null);
  if (answer?.ok) {
    mine.set(order.id, { order: answer.json.order, lease: answer.json.lease, claimedAt: serverNow() });
    saveMine();
    say(`Started #${order.number}.`);
  } else if (answer?.status === 409) {
    say(`#${order.number} was already started on another screen.`);
  } else if (answer?.status === 404) {
    say(`#${order.number} is gone (cancelled).`);
  } else {
    say(`Could not start #${order.number}: ${answer?.json?.detail || "ticketd did not answer"}.`);
    button.disabled = false;
  }
  render();
}

async function done(id) {
  const entry = mine.get(id);
  if (!entry) return;
  const answer = await request(`/v1/kitchen/orders/${id}/ready`, { method: "POST", token, body: { lease: entry.lease } }).catch(() => null);
  if (answer?.ok || answer?.status === 409 || answer?.status === 404) {
    mine.delete(id);
    saveMine();
    say(answer.ok ? `#${entry.order.number} is ready.` : `#${entry.order.number} was taken back (its lease ran out or it was cancelled).`);
  } else {
    say(`Could not mark #${entry.order.number} ready: ${answer?.json?.detail || "ticketd did not answer"}.`);
  }
  render();
}

function fail(id) {
  const entry = mine.get(id);
  if (!entry) return;
  const dialog = $("fail-dialog");
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "yes") return;
    const reason = $("fail-reason").value.trim() || "could not be cooked";
    const answer = await request(`/v1/kitchen/orders/${id}/fail`, {
      method: "POST", token, body: { lease: entry.lease, error: reason, retry: true },
    }).catch(() => null);
    if (answer?.ok || answer?.status === 409 || answer?.status === 404) {
      mine.delete(id);
      saveMine();
      say(answer.ok ? `#${entry.order.number}: problem reported (${answer.json.status}).` : `#${entry.order.number} was taken back already.`);
    } else {
      say(`Could not report the problem: ${answer?.json?.detail || "ticketd did not answer"}.`);
    }
    render();
  }, { once: true });
  dialog.showModal();
}

/** Keeps this screen's leases while their cards are open. */
async function renewAll() {
  for (const [id, entry] of [...mine]) {
    const answer = await request(`/v1/kitchen/orders/${id}/renew`, {
      method: "POST", token, body: { lease: entry.lease, lease_seconds: LEASE_SECONDS },
    }).catch(() => null);
    if (answer?.status === 409 || answer?.status === 404) {
      mine.delete(id);
      saveMine();
      say(`#${entry.order.number} was taken back (its lease was lost).`);
      render();
    }
  }
}

// ---- Start --------------------------------------------------------------------------------------

function begin(t) {
  token = t;
  $("kitchen").hidden = false;
  loadMine();
  render();
  setInterval(renewAll, RENEW_EVERY_MS);
  renewAll();
  feed = readEvents("/v1/kitchen/events", {
    headers: { Authorization: `Bearer ${token}` },
    onEvent: ({ event, data }) => {
      if (event !== "kitchen") return;
      try {
        list = JSON.parse(data);
      } catch {
        return;
      }
      // An order of mine that is no longer cooking (cancelled by an operator) leaves my list.
      // (Only a list computed well after the claim: an older one may not show the claim yet.)
      const cookingIDs = new Set(list.cooking.map((o) => o.id));
      const at = Date.parse(list.at);
      for (const [id, entry] of [...mine]) {
        if (!cookingIDs.has(id) && list.cooking_count <= list.cooking.length && at > (entry.claimedAt || 0) + 2000) mine.delete(id);
      }
      saveMine();
      $("connection").hidden = true;
      render();
    },
    onState: (state) => {
      if (state === "open") $("connection").hidden = true;
      if (state === "reconnecting") $("connection").hidden = false;
      if (state === "unauthorized") {
        feed?.close();
        forgetToken();
        $("kitchen").hidden = true;
        askForToken($("access"), { onToken: begin, check });
      }
    },
  });
}

async function check(candidate) {
  const answer = await request("/v1/stats", { token: candidate });
  return answer.ok;
}

setUpCookName();
askForToken($("access"), { onToken: begin, check });
