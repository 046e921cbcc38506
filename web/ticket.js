// A customer's ticket: the number, the status as steps, the position and a countdown to the
// estimate while waiting, cancel while queued, what to do once ready, and clear words for every
// other state. Live over the ticket's Server-Sent Events; a notification and a vibration when
// it becomes ready, if the customer allowed them.
import { el, formatClock, itemsText, noteServerTime, replaceChildren, request, serverNow, summarizeItems } from "./common.js";

const ticketID = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
const $ = (id) => document.getElementById(id);

let current = null;      // the ticket as last seen
let sawCooking = false;  // this page saw it cooking (a later "queued" means it was handed back)
let notifyWanted = false;
let source = null;

const FINAL = new Set(["picked_up", "cancelled", "failed", "expired"]);

const WORDS = {
  queued: ["Your order is in the queue.", "We will start cooking it soon. You can leave this page open, or come back to it later."],
  cooking: ["Your order is being cooked.", "It will be ready shortly."],
  ready: ["Your order is ready!", "Please come to the counter and show this number."],
  picked_up: ["Collected. Enjoy your meal!", "This order is complete."],
  cancelled: ["This order was cancelled.", "Nothing will be cooked. Please ask at the counter if this is a surprise."],
  failed: ["We could not prepare this order.", "Please ask at the counter: we will sort it out."],
  expired: ["This order was ready but not collected in time.", "Please ask at the counter."],
  handed_back: ["Your order went back to the queue.", "The kitchen had to restart it; it will be cooked again soon."],
};

function render(ticket) {
  const previous = current;
  current = ticket;
  if (ticket.status === "cooking") sawCooking = true;
  const handedBack = ticket.status === "queued" && (sawCooking || previous?.status === "cooking");

  $("number").textContent = String(ticket.number);
  document.title = `Order ${ticket.number}: ${ticket.status.replace("_", " ")}`;
  const order = ["queued", "cooking", "ready"];
  const at = ticket.status === "picked_up" ? 3 : order.indexOf(ticket.status);
  for (const li of $("steps").children) {
    const i = order.indexOf(li.dataset.step);
    li.classList.toggle("done", at >= 0 && i < at);
    if (i === at) li.setAttribute("aria-current", "step");
    else li.removeAttribute("aria-current");
  }

  const [headline, advice] = WORDS[handedBack ? "handed_back" : ticket.status] || [ticket.status, ""];
  const message = $("message");
  message.textContent = headline;
  message.className = `message ${ticket.status === "ready" ? "ready" : ""} ${["failed", "expired", "cancelled"].includes(ticket.status) ? "problem" : ""}`;
  $("advice").textContent = advice;

  const waiting = ticket.status === "queued" || ticket.status === "cooking";
  $("facts").hidden = !waiting;
  const hasPosition = ticket.status === "queued" && typeof ticket.position === "number";
  for (const id of ["position", "position-label"]) $(id).hidden = !hasPosition;
  if (hasPosition) $("position").textContent = ticket.position === 0 ? "none: you are next" : String(ticket.position);
  tick();

  replaceChildren($("items"), summarizeItems(ticket.items).map(([item, n]) => el("li", {}, `${n}× ${item}`)));
  $("items").setAttribute("aria-label", itemsText(ticket.items));

  $("cancel").hidden = ticket.status !== "queued";
  $("pickup").hidden = ticket.status !== "ready";
  $("notify").hidden = !waiting || !("Notification" in window) || Notification.permission !== "default";

  if (previous && previous.status !== "ready" && ticket.status === "ready") tellReady(ticket);
  if (FINAL.has(ticket.status) && source) {
    // The stream ends after a final state; the page has nothing more to wait for.
    source.close();
    source = null;
  }
}

/** The countdown to the estimate, every second. */
function tick() {
  const show = current && (current.status === "queued" || current.status === "cooking") && current.estimated_ready_at;
  for (const id of ["estimate", "estimate-label"]) $(id).hidden = !show;
  if (!show) return;
  const left = (Date.parse(current.estimated_ready_at) - serverNow()) / 1000;
  $("estimate").textContent = left > 0 ? formatClock(left) : "any moment now";
}
setInterval(tick, 1000);

function tellReady(ticket) {
  // Browsers refuse to vibrate for a page the person has not touched yet (and say so).
  if (navigator.vibrate && navigator.userActivation?.hasBeenActive) navigator.vibrate([300, 150, 300]);
  if (notifyWanted && "Notification" in window && Notification.permission === "granted") {
    try {
      new Notification(`Order ${ticket.number} is ready`, { body: "Please come to the counter." });
    } catch {
      // Some browsers show notifications only from a service worker: the page says it anyway.
    }
  }
}

// ---- Actions ------------------------------------------------------------------------------------

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

async function act(button, question, yes, path, method) {
  if (!(await confirm(question, yes))) return;
  button.disabled = true;
  try {
    const answer = await request(path, { method });
    if (answer.ok && answer.json) render(answer.json);
    else if (answer.json?.detail) $("advice").textContent = `That did not work: ${answer.json.detail}`;
  } catch {
    $("advice").textContent = "That did not work: ticketd could not be reached. Try again in a moment.";
  } finally {
    button.disabled = false;
  }
}

$("cancel").addEventListener("click", () =>
  act($("cancel"), "Cancel this order? It will not be cooked.", "Yes, cancel it", `/v1/tickets/${encodeURIComponent(ticketID)}`, "DELETE"));
$("pickup").addEventListener("click", () =>
  act($("pickup"), "Have you collected your order at the counter?", "Yes, collected", `/v1/tickets/${encodeURIComponent(ticketID)}/pickup`, "POST"));
$("notify").addEventListener("click", async () => {
  try {
    notifyWanted = (await Notification.requestPermission()) === "granted";
  } catch {
    notifyWanted = false;
  }
  $("notify").hidden = true;
});

// ---- Live ---------------------------------------------------------------------------------------

let disconnectedTimer = null;

function listen() {
  source = new EventSource(`/v1/tickets/${encodeURIComponent(ticketID)}/events`);
  source.addEventListener("ticket", (event) => {
    clearTimeout(disconnectedTimer);
    disconnectedTimer = null;
    $("connection").hidden = true;
    try {
      render(JSON.parse(event.data));
    } catch {
      // not a ticket
    }
  });
  source.addEventListener("error", () => {
    if (!source) return;
    if (disconnectedTimer === null) disconnectedTimer = setTimeout(() => { $("connection").hidden = false; }, 1500);
    if (source.readyState === EventSource.CLOSED) {
      source.close();
      source = null;
      setTimeout(listen, 3000);
    }
  });
}

async function start() {
  if (!ticketID) {
    $("message").textContent = "This link has no ticket in it.";
    return;
  }
  try {
    const response = await fetch(`/v1/tickets/${encodeURIComponent(ticketID)}`, { cache: "no-store" });
    noteServerTime(response);
    if (response.status === 404) {
      $("message").textContent = "No order has this ticket (or it was removed after some days).";
      $("message").className = "message problem";
      $("number").textContent = "—";
      return;
    }
    if (response.ok) render(await response.json());
  } catch {
    // the stream below tries again
  }
  if (!current || !FINAL.has(current.status)) listen();
}

start();
