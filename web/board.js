// The public board: numbers preparing and ready, live from GET /v1/board/events (one producer
// computes the board for every screen; this page only renders it). A number that becomes ready
// is highlighted for a few seconds and, if the screen's operator switched it on, announced by a
// chime and by speech. No ticket ids, no names: the board is public.
import { el, formatDuration } from "./common.js";

const ANNOUNCE_KEY = "ticketd.board.announce";
const FRESH_MS = 6000;

const preparingList = document.getElementById("preparing");
const readyList = document.getElementById("ready");
const connection = document.getElementById("connection");
const announceButton = document.getElementById("announce");

let previousReady = null; // numbers ready in the last board shown (null before the first)
const freshUntil = new Map(); // number -> time its highlight ends
let announce = false;
let audio = null;

// ---- Announcing ---------------------------------------------------------------------------------

function setAnnounce(on) {
  announce = on;
  announceButton.setAttribute("aria-pressed", on ? "true" : "false");
  announceButton.textContent = `Call out ready numbers: ${on ? "on" : "off"}`;
  try {
    localStorage.setItem(ANNOUNCE_KEY, on ? "1" : "0");
  } catch {
    // not kept
  }
  if (on && !audio && "AudioContext" in window) audio = new AudioContext();
  if (on && audio && audio.state === "suspended") audio.resume().catch(() => {});
}

announceButton.addEventListener("click", () => setAnnounce(!announce));
try {
  if (localStorage.getItem(ANNOUNCE_KEY) === "1") setAnnounce(true);
} catch {
  // off
}

function chime() {
  if (!audio || audio.state !== "running") return;
  const start = audio.currentTime;
  [880, 1320].forEach((frequency, i) => {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start + i * 0.25);
    gain.gain.exponentialRampToValueAtTime(0.3, start + i * 0.25 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.25 + 0.6);
    osc.connect(gain).connect(audio.destination);
    osc.start(start + i * 0.25);
    osc.stop(start + i * 0.25 + 0.65);
  });
}

function speak(numbers) {
  if (!("speechSynthesis" in window)) return;
  for (const n of numbers) {
    const utterance = new SpeechSynthesisUtterance(`Number ${n}, your order is ready`);
    utterance.rate = 0.95;
    window.speechSynthesis.speak(utterance);
  }
}

// ---- Rendering ----------------------------------------------------------------------------------

/**
 * Brings a list to `numbers`, keeping the items that stay (so that a screen reader announces
 * only the numbers added to the live Ready list), highlighting those in `fresh`.
 */
function updateList(list, numbers, fresh) {
  const existing = new Map([...list.children].map((li) => [Number(li.dataset.number), li]));
  const wanted = new Set(numbers);
  for (const [n, li] of existing) if (!wanted.has(n)) li.remove();
  let cursor = list.firstElementChild;
  for (const n of numbers) {
    let li = existing.get(n);
    if (li && li.isConnected) {
      if (li === cursor) cursor = cursor.nextElementSibling;
      else list.insertBefore(li, cursor);
    } else {
      li = el("li", { "data-number": n }, String(n));
      list.insertBefore(li, cursor);
    }
    li.classList.toggle("fresh", fresh.has(n));
  }
}

function render(board) {
  const now = Date.now();
  const ready = board.ready || [];
  const newlyReady = previousReady === null ? [] : ready.filter((n) => !previousReady.has(n));
  for (const n of newlyReady) freshUntil.set(n, now + FRESH_MS);
  for (const [n, until] of freshUntil) if (until <= now || !ready.includes(n)) freshUntil.delete(n);
  previousReady = new Set(ready);

  updateList(preparingList, board.preparing || [], new Set());
  updateList(readyList, ready, new Set(freshUntil.keys()));

  setCount("preparing", board.preparing_count ?? (board.preparing || []).length, (board.preparing || []).length);
  setCount("ready", board.ready_count ?? ready.length, ready.length);

  const wait = document.getElementById("wait");
  if (board.typical_wait_seconds === null || board.typical_wait_seconds === undefined) {
    wait.hidden = true;
  } else {
    const seconds = board.typical_wait_seconds;
    document.getElementById("wait-value").textContent = seconds < 60 ? "under a minute" : `about ${formatDuration(seconds)}`;
    wait.hidden = false;
  }

  if (newlyReady.length > 0 && announce) {
    chime();
    speak(newlyReady);
  }
  if (freshUntil.size > 0) scheduleUnhighlight();
}

function setCount(column, total, shown) {
  document.getElementById(`${column}-count`).textContent = `(${total})`;
  const more = document.getElementById(`${column}-more`);
  if (total > shown) {
    more.textContent = `and ${total - shown} more`;
    more.hidden = false;
  } else {
    more.hidden = true;
  }
}

let unhighlightTimer = null;
let lastBoard = null;

function scheduleUnhighlight() {
  if (unhighlightTimer !== null) return;
  const next = Math.min(...freshUntil.values());
  unhighlightTimer = setTimeout(() => {
    unhighlightTimer = null;
    if (lastBoard) render(lastBoard);
  }, Math.max(50, next - Date.now()));
}

// ---- The live feed -------------------------------------------------------------------------------

let source = null;
let disconnectedTimer = null;

function showConnected() {
  clearTimeout(disconnectedTimer);
  disconnectedTimer = null;
  connection.hidden = true;
  document.body.dataset.connected = "true";
}

function showDisconnectedSoon() {
  document.body.dataset.connected = "false";
  if (disconnectedTimer !== null || !connection.hidden) return;
  // A reconnect that works at once (a stream the daemon ended) shows nothing.
  disconnectedTimer = setTimeout(() => {
    disconnectedTimer = null;
    connection.hidden = false;
  }, 1500);
}

function connect() {
  source = new EventSource("/v1/board/events");
  source.addEventListener("open", showConnected);
  source.addEventListener("board", (event) => {
    showConnected();
    try {
      lastBoard = JSON.parse(event.data);
    } catch {
      return;
    }
    render(lastBoard);
  });
  source.addEventListener("error", () => {
    showDisconnectedSoon();
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up (an error answer, such as 503 while the daemon stops): start again.
      source.close();
      setTimeout(connect, 2000);
    }
  });
}

connect();
