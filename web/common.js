// What the pages share: building DOM from data (never HTML from data), times, the operator
// token, JSON requests, and a Server-Sent Events reader over fetch (EventSource cannot send a
// bearer header).

/** An element with attributes and children (strings become text nodes). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replaces the children of `node`. */
export function replaceChildren(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

/** Seconds as "45 s", "4 min", "1 h 5 min". */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A countdown or an age: "2:05", "1:02:05". */
export function formatClock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** An RFC 3339 time as the local time of day. */
export function formatTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** An order's lines summed per item: [["fries", 3], ["cola", 1]], in first-seen order. */
export function summarizeItems(items) {
  const totals = new Map();
  for (const line of items || []) totals.set(line.item, (totals.get(line.item) || 0) + (line.quantity || 1));
  return [...totals.entries()];
}

/** "3× fries, 1× cola". */
export function itemsText(items) {
  return summarizeItems(items).map(([item, n]) => `${n}× ${item}`).join(", ");
}

// ---- Server time -------------------------------------------------------------------------------

let clockOffset = 0; // server time - this browser's time, in ms, from the last Date header seen

/** Learns the server's clock from a response's Date header (second resolution). */
export function noteServerTime(response) {
  const date = response.headers.get("Date");
  if (!date) return;
  const server = Date.parse(date);
  if (!Number.isNaN(server)) {
    const offset = server + 500 - Date.now();
    // A Date header is whole seconds: only trust a difference of more than that.
    clockOffset = Math.abs(offset) > 1500 ? offset : 0;
  }
}

/** Now, on the server's clock (ms since the epoch). */
export function serverNow() {
  return Date.now() + clockOffset;
}

// ---- The operator token ------------------------------------------------------------------------

const TOKEN_KEY = "ticketd.adminToken";

/** True when the daemon has an admin token file (the page was served saying so). */
export function operatorAccessOn() {
  const meta = document.querySelector('meta[name="ticketd-operator-access"]');
  return meta ? meta.getAttribute("content") === "on" : false;
}

export function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function storeToken(token) {
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage refused (a private window's quota): the token lives as long as the page.
  }
}

export function forgetToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // nothing stored
  }
}

/**
 * Asks for the admin token once (kept in sessionStorage for this tab), or says that operator
 * access is off. Calls `onToken(token)` once a token is known; `check(token)` must resolve to
 * true when the daemon takes it.
 */
export function askForToken(container, { onToken, check }) {
  if (!operatorAccessOn()) {
    replaceChildren(container, el("p", { class: "notice", role: "status" },
      "Operator access is off: this ticketd has no admin_token_file configured, so the kitchen display and the console are not available. ",
      "Set admin_token_file in the configuration and restart ticketd to turn them on."));
    container.hidden = false;
    return;
  }
  const known = storedToken();
  if (known) {
    container.hidden = true;
    onToken(known);
    return;
  }
  const input = el("input", { id: "token", type: "password", name: "token", autocomplete: "current-password", required: true });
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const form = el("form", { class: "token-form", novalidate: true },
    el("label", { for: "token" }, "Admin token", input),
    el("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) {
      error.textContent = "Enter the admin token (the content of the admin_token_file).";
      error.hidden = false;
      return;
    }
    error.hidden = true;
    let ok = false;
    try {
      ok = await check(token);
    } catch {
      ok = false;
    }
    if (!ok) {
      error.textContent = "That token was not accepted.";
      error.hidden = false;
      input.focus();
      return;
    }
    storeToken(token);
    container.hidden = true;
    onToken(token);
  });
  replaceChildren(container,
    el("p", {}, "This screen needs the admin token once; it is kept for this browser tab only."),
    form, error);
  container.hidden = false;
  input.focus();
}

// ---- JSON requests ------------------------------------------------------------------------------

/** A JSON request: resolves to { status, ok, json } (json null when the body is not JSON). */
export async function request(path, { method = "GET", body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  noteServerTime(response);
  let json = null;
  try {
    json = await response.json();
  } catch {
    json = null;
  }
  return { status: response.status, ok: response.ok, json };
}

// ---- Server-Sent Events over fetch --------------------------------------------------------------

/**
 * Reads a text/event-stream with fetch (so that it can send headers), reconnecting after the
 * stream ends or fails, with the last event id. Returns { close() }.
 * - onEvent({ event, id, data }) for each event;
 * - onState("open" | "reconnecting" | "unauthorized") when the connection changes.
 */
export function readEvents(url, { headers = {}, onEvent, onState }) {
  let lastEventID = null;
  let retry = 2000;
  let closed = false;
  let controller = null;
  let failures = 0;

  async function connect() {
    while (!closed) {
      controller = new AbortController();
      const h = { ...headers, Accept: "text/event-stream" };
      if (lastEventID !== null) h["Last-Event-ID"] = lastEventID;
      try {
        const response = await fetch(url, { headers: h, signal: controller.signal, cache: "no-store" });
        if (response.status === 401 || response.status === 403) {
          onState?.("unauthorized", response.status);
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        failures = 0;
        onState?.("open");
        await readBody(response.body);
      } catch {
        // A refused connection, a reset, a stream cut: reconnect below.
      }
      if (closed) return;
      failures += 1;
      if (failures > 1) onState?.("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, failures > 1 ? retry : 250));
    }
  }

  async function readBody(body) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const message = { event: "message", id: null, data: [] };
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? "" : line.slice(colon + 1);
          if (value.startsWith(" ")) value = value.slice(1);
          if (field === "event") message.event = value;
          else if (field === "id") message.id = value;
          else if (field === "data") message.data.push(value);
          else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
        }
        if (message.id !== null) lastEventID = message.id;
        if (message.data.length > 0) onEvent({ event: message.event, id: message.id, data: message.data.join("\n") });
      }
    }
  }

  connect();
  return {
    close() {
      closed = true;
      controller?.abort();
    },
  };
}
