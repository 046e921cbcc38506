#!/usr/bin/env python3
"""Helpers for scripts/bench (Python 3 standard library only).

Each subcommand does one bounded step and prints grep-friendly `name=value` lines on stdout
(diagnostics go to stderr). Every loop is bounded in count and in time; every connection goes
to the base URL given (scripts/bench only ever passes 127.0.0.1).

  free-port                         a free TCP port on 127.0.0.1
  wait-listening LOG SECONDS [PID]  until LOG holds "listening on"
  place URL N OUT                   place N orders, write their ticket ids to OUT
  metrics URL NAME...               current values of Prometheus series
  menu-items URL                    the menu's items, comma-separated
  window URL DELAY SECONDS          lifecycle: ready/placed counters over a window
  order-to-claim URL DB N           order -> claim inside the daemon, from the orders table
  longpoll-latency URL N            change -> long-poll release, as a client sees it
  fanout URL PID CONFIG N           N open long polls, RSS while held, release by turning cooks on
  held-memory URL PID N PATH        RSS of a server holding N requests of PATH in flight
  board URL PID N CHANGES SECONDS WRK...
                                    N board feeds held during intake; CHANGES orders made ready, each
                                    seen by every feed: delivery delays, RSS held by the feeds
  startup BIN CONFIG DB RUNS        start -> READY=1 (sd_notify) and -> "listening" log line
  preload DB FINISHED QUEUED        SQL that fills a migrated database (piped to sqlite3)
  topup DB N                        SQL that adds N queued orders to a live daemon's database
  micro JMH_JSON                    name=value lines from ordo-one/benchmark's jmh output
  report RESULTS MD COMMAND         rewrite the table in BENCHMARKS.md
"""
import asyncio
import json
import os
import random
import re
import resource
import selectors
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

DEFAULT_ITEMS = "water,coffee"  # the 0-second items of the benchmark menu


def out(name, value):
    print(f"{name}={value}", flush=True)


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- a small blocking HTTP/1.1 client (keep-alive, Content-Length or chunked bodies) ---------

class Conn:
    def __init__(self, base, timeout=10.0):
        u = urllib.parse.urlsplit(base)
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 80
        self.prefix = u.path.rstrip("/")
        self.timeout = timeout
        self.sock = None
        self.buf = b""

    def connect(self):
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def send(self, method, path, body=None, headers=None):
        if self.sock is None:
            self.connect()
        data = body.encode() if isinstance(body, str) else (body or b"")
        lines = [f"{method} {self.prefix}{path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        if body is not None:
            lines.append(f"Content-Length: {len(data)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        self.buf += chunk

    def receive(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                self._fill()
            body, self.buf = self.buf[:n], self.buf[n:]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                size_line, _, self.buf = self.buf.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._fill()
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    break
        else:
            body = b""
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def request(self, method, path, body=None, headers=None):
        self.send(method, path, body, headers)
        return self.receive()


def order_body(i, items, rush_pct=0):
    names = items.split(",")
    lines = [{"item": names[(i + j) % len(names)], "quantity": 1 + (i + j) % 3} for j in range(1 + i % 2)]
    priority = "rush" if rush_pct and (i * 37) % 100 < rush_pct else "normal"
    return json.dumps({"items": lines, "priority": priority}, separators=(",", ":"))


JSON = {"Content-Type": "application/json"}


def place_one(conn, i, items, rush_pct=0):
    status, _, body = conn.request("POST", "/v1/orders", order_body(i, items, rush_pct), JSON)
    if status != 202:
        raise RuntimeError(f"POST /v1/orders answered {status}: {body[:200]!r}")
    return json.loads(body)


def metrics(base, names):
    conn = Conn(base)
    try:
        status, _, body = conn.request("GET", "/metrics")
    finally:
        conn.close()
    if status != 200:
        raise RuntimeError(f"GET /metrics answered {status}")
    values = {}
    for line in body.decode().splitlines():
        if line.startswith("#"):
            continue
        parts = line.rsplit(" ", 1)
        if len(parts) == 2:
            try:
                values[parts[0]] = float(parts[1])
            except ValueError:
                pass
    result = {}
    for name in names:
        if name in values:
            result[name] = values[name]
        else:
            # Match a series whatever the order of its labels: name{a="x",b="y"}.
            base_name, _, labels = name.partition("{")
            wanted = set(re.findall(r'(\w+)="([^"]*)"', labels))
            total = None
            for series, v in values.items():
                s_name, _, s_labels = series.partition("{")
                if s_name == base_name and wanted <= set(re.findall(r'(\w+)="([^"]*)"', s_labels)):
                    total = (total or 0.0) + v
            result[name] = total if total is not None else 0.0
    return result


# --- subcommands --------------------------------------------------------------------------

def cmd_free_port(_):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def process_alive(pid):
    """False once PID has exited (gone, or a zombie not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[-1][:1] != "Z"
    except FileNotFoundError:
        return False


def cmd_wait_listening(args):
    """Until LOG holds 'listening on'; fails at once if PID (optional) has exited."""
    path, seconds = args[0], float(args[1])
    pid = int(args[2]) if len(args) > 2 else None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pid is not None and not process_alive(pid):
            sys.exit(f"bench: process {pid} exited before listening")
        try:
            with open(path, errors="replace") as f:
                text = f.read()
            if "listening on" in text:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    sys.exit(f"bench: no 'listening on' in {path} after {seconds} s")


def cmd_place(args):
    """Place N orders over a few keep-alive connections; write the ticket ids to OUT."""
    base, count, path = args[0], int(args[1]), args[2]
    items = os.environ.get("BENCH_ITEMS", "cheeseburger,fries,cola")
    rush_pct = int(os.environ.get("BENCH_RUSH_PCT", "0"))
    workers = 16
    tickets = [None] * count
    errors = []

    def work(w):
        conn = Conn(base)
        try:
            for i in range(w, count, workers):
                tickets[i] = place_one(conn, i, items, rush_pct)["ticket"]
        except Exception as e:  # reported below
            errors.append(e)
        finally:
            conn.close()

    start = time.monotonic()
    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors or any(t is None for t in tickets):
        sys.exit(f"bench: placing {count} orders failed: {errors[:1]}")
    with open(path, "w") as f:
        f.write("\n".join(tickets) + "\n")
    log(f"placed {count} orders in {time.monotonic() - start:.1f} s")


def cmd_menu_items(args):
    """The menu's item names, comma-separated (for a server whose menu is not ours)."""
    conn = Conn(args[0])
    status, _, body = conn.request("GET", "/v1/menu")
    conn.close()
    if status != 200:
        sys.exit(f"bench: GET /v1/menu answered {status}")
    print(",".join(entry["item"] for entry in json.loads(body)["items"]))


def cmd_metrics(args):
    for name, value in metrics(args[0], args[1:]).items():
        out(name, f"{value:.0f}")


def cmd_window(args):
    """Lifecycle: sample the ready and placed counters DELAY s into the load, and SECONDS later."""
    base, delay, seconds = args[0], float(args[1]), float(args[2])
    prefix = os.environ.get("BENCH_PREFIX", "lifecycle")
    names = ['ticketd_cook_outcomes_total{outcome="ready"}', "ticketd_orders_placed_total"]
    time.sleep(delay)
    t0 = time.monotonic()
    a = metrics(base, names)
    time.sleep(max(0.0, seconds - (time.monotonic() - t0)))
    t1 = time.monotonic()
    b = metrics(base, names)
    elapsed = t1 - t0
    out(f"{prefix}_ready_per_s", f"{(b[names[0]] - a[names[0]]) / elapsed:.0f}")
    out(f"{prefix}_placed_per_s", f"{(b[names[1]] - a[names[1]]) / elapsed:.0f}")
    out(f"{prefix}_window_s", f"{elapsed:.2f}")
    # Orders placed but not yet ready (the counters, not the periodically refreshed gauges).
    out(f"{prefix}_backlog_at_start", f"{a[names[1]] - a[names[0]]:.0f}")
    out(f"{prefix}_backlog_at_end", f"{b[names[1]] - b[names[0]]:.0f}")


def parse_ts(text):
    """'2026-11-25T07:31:02.120Z' -> milliseconds since the epoch."""
    from datetime import datetime, timezone
    dt = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return dt.timestamp() * 1000.0


def cmd_fsync(args):
    """fdatasync of a 32 KiB write, overwriting a preallocated file in DIR (as a WAL that has
    reached its size is overwritten): the disk's share of every commit, and its tail."""
    directory, n = args[0], int(args[1])
    path = os.path.join(directory, "fsync-probe")
    block = b"x" * 32768
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.pwrite(fd, b"\0" * (len(block) * 64), 0)
        os.fsync(fd)
        times = []
        for i in range(n):
            os.pwrite(fd, block, (i % 64) * len(block))
            t = time.perf_counter()
            os.fdatasync(fd)
            times.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    times.sort()
    out("fsync_p50_ms", f"{times[len(times) // 2]:.3f}")
    out("fsync_p99_ms", f"{times[min(len(times) - 1, int(len(times) * 0.99))]:.3f}")
    out("fsync_max_ms", f"{times[-1]:.3f}")


def cmd_order_to_claim(args):
    """Place N orders one at a time with gaps (idle cooks), then read created_at vs cooking_at."""
    base, db, n = args[0], args[1], int(args[2])
    items = os.environ.get("BENCH_ITEMS", DEFAULT_ITEMS)
    conn = Conn(base)
    ids = []
    deadline = time.monotonic() + 60
    for i in range(n):
        if time.monotonic() > deadline:
            break
        ids.append(place_one(conn, i, items)["ticket"])
        # Gaps of 5-20 ms: cooks are idle (0-second items) when the next order arrives, and
        # the gaps are not in phase with the timestamps' millisecond ticks.
        time.sleep(0.005 + (i * 7 % 16) / 1000.0)
    conn.close()
    time.sleep(0.5)
    sql = ("SELECT o.created_at, o.cooking_at, "
           "(SELECT at FROM order_events e WHERE e.order_id = o.id AND e.to_status = 'queued' ORDER BY e.id LIMIT 1), "
           "(SELECT at FROM order_events e WHERE e.order_id = o.id AND e.to_status = 'cooking' ORDER BY e.id LIMIT 1) "
           "FROM orders o WHERE o.ticket IN (%s)" % ",".join("'%s'" % t for t in ids))
    rows = subprocess.run(["sqlite3", "-readonly", "-separator", "|", db, sql], capture_output=True,
                          text=True, timeout=60, check=True).stdout.split("\n")
    row_ms, event_ms, unclaimed = [], [], 0
    for row in rows:
        if not row:
            continue
        created, cooking, ev_queued, ev_cooking = row.split("|")
        if not cooking:
            unclaimed += 1
            continue
        row_ms.append(parse_ts(cooking) - parse_ts(created))
        if ev_queued and ev_cooking:
            event_ms.append(parse_ts(ev_cooking) - parse_ts(ev_queued))
    if not row_ms:
        sys.exit("bench: no order was claimed")
    out("order_to_claim_samples", len(row_ms))
    out("order_to_claim_unclaimed", unclaimed)
    out("order_to_claim_p50_ms", f"{percentile(row_ms, 50):.1f}")
    out("order_to_claim_p99_ms", f"{percentile(row_ms, 99):.1f}")
    out("order_to_claim_max_ms", f"{max(row_ms):.1f}")
    out("order_to_claim_mean_ms", f"{statistics.mean(row_ms):.3f}")
    if event_ms:
        out("order_to_claim_events_p99_ms", f"{percentile(event_ms, 99):.1f}")


def wait_for_waiters(base, at_least, seconds):
    deadline = time.monotonic() + seconds
    name = "ticketd_open_waiters"
    while time.monotonic() < deadline:
        if metrics(base, [name])[name] >= at_least:
            return True
        time.sleep(0.001)
    return False


def cmd_longpoll_latency(args):
    """change -> long-poll release as a client sees it.

    Per sample: place an order, hold `GET ?wait=30&version=V` on it, then make the change and
    time from just before sending the change to the long poll's complete answer. The change
    is a kitchen claim when a token is given (the order is the only one queued: the daemon is
    fresh, with no cooks), else the customer's cancel (DELETE), which any server of this API
    takes without credentials.
    """
    base, n = args[0], int(args[1])
    token = os.environ.get("BENCH_TOKEN", "")
    has_waiters_gauge = os.environ.get("BENCH_WAITERS_GAUGE", "1") == "1"
    action = "claim" if token else "cancel"
    items = os.environ.get("BENCH_ITEMS", "cheeseburger,fries,cola")
    placer, changer = Conn(base), Conn(base)
    samples, mismatched = [], 0
    deadline = time.monotonic() + 90
    for i in range(n):
        if time.monotonic() > deadline:
            log("long-poll latency: time budget spent, stopping early")
            break
        ticket = place_one(placer, i, items)
        poller = Conn(base, timeout=40)
        poller.send("GET", f"/v1/tickets/{ticket['ticket']}?wait=30&version={ticket['version']}")
        # The poll must be held by the server before the change: watch the waiters gauge
        # (ticketd), else give it a moment.
        if not has_waiters_gauge or not wait_for_waiters(base, 1, 2.0):
            time.sleep(0.02)
        t0 = time.perf_counter()
        if action == "claim":
            changer.send("POST", "/v1/kitchen/claim", '{"cook":"bench","lease_seconds":3600,"wait":0}',
                         {**JSON, "Authorization": f"Bearer {token}"})
        else:
            changer.send("DELETE", f"/v1/tickets/{ticket['ticket']}")
        status, _, body = poller.receive()
        t1 = time.perf_counter()
        c_status, _, c_body = changer.receive()
        poller.close()
        answered = json.loads(body) if status == 200 else {}
        if status != 200 or c_status != 200 or answered.get("version", 0) <= ticket["version"]:
            mismatched += 1
            continue
        if action == "claim" and json.loads(c_body).get("order", {}).get("ticket") != ticket["ticket"]:
            mismatched += 1
            continue
        samples.append((t1 - t0) * 1000.0)
    placer.close()
    changer.close()
    if not samples:
        sys.exit("bench: no long-poll sample")
    out("longpoll_release_action", action)
    out("longpoll_release_samples", len(samples))
    out("longpoll_release_mismatched", mismatched)
    out("longpoll_release_p50_ms", f"{percentile(samples, 50):.3f}")
    out("longpoll_release_p99_ms", f"{percentile(samples, 99):.3f}")
    out("longpoll_release_max_ms", f"{max(samples):.3f}")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


async def fanout_async(base, pid, config, n, tickets, wrk_cmd):
    u = urllib.parse.urlsplit(base)
    host, port = u.hostname, u.port
    answered = {"ok": 0, "changed": 0, "errors": 0, "last": 0.0}
    connected = asyncio.Event()
    opened = 0
    open_gate = asyncio.Semaphore(256)  # connect at most 256 at a time (listen backlog)

    async def poll(ticket):
        nonlocal opened
        try:
            async with open_gate:
                reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET /v1/tickets/{ticket}?wait=60&version=1 HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            await writer.drain()
            opened += 1
            if opened == n:
                connected.set()
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
            body = await reader.readexactly(length)
            answered["last"] = time.monotonic()
            if head.startswith(b"HTTP/1.1 200"):
                answered["ok"] += 1
                if json.loads(body).get("version", 1) > 1:
                    answered["changed"] += 1
            writer.close()
        except Exception as e:  # counted
            answered["errors"] += 1
            if answered["errors"] <= 3:
                log(f"fan-out poll error: {e!r}")
            if not connected.is_set() and opened + answered["errors"] >= n:
                connected.set()

    tasks = [asyncio.create_task(poll(t)) for t in tickets[:n]]
    t_open = time.monotonic()
    try:
        await asyncio.wait_for(connected.wait(), 60)
    except asyncio.TimeoutError:
        log("fan-out: not every long poll could be opened within 60 s")
    # Every request is sent; wait until the daemon holds them (its waiters gauge).
    held = 0
    for _ in range(300):
        held = metrics(base, ["ticketd_open_waiters"])["ticketd_open_waiters"]
        if held >= n:
            break
        await asyncio.sleep(0.1)
    out("fanout_open_s", f"{time.monotonic() - t_open:.2f}")
    out("fanout_held", f"{held:.0f}")
    await asyncio.sleep(0.5)
    out("fanout_rss_held_mb", f"{rss_mb(pid):.1f}")  # the polls held, before intake starts

    # Intake goes on while the polls are held and while they are released.
    wrk = subprocess.Popen(wrk_cmd, stdout=subprocess.PIPE, text=True)
    await asyncio.sleep(1.0)
    rss = []
    for _ in range(15):
        rss.append(rss_mb(pid))
        await asyncio.sleep(0.1)
    held_during = metrics(base, ["ticketd_open_waiters"])["ticketd_open_waiters"]
    out("fanout_rss_mb", f"{max(rss):.1f}")
    out("fanout_held_during_intake", f"{held_during:.0f}")

    # Release: turn the cooks on (SIGHUP reload); each held ticket changes when it is claimed.
    with open(config) as f:
        text = f.read()
    with open(config, "w") as f:
        f.write(re.sub(r"(?m)^(\s*cooks:\s*)0\b", r"\g<1>4", text))
    t_release = time.monotonic()
    os.kill(pid, signal.SIGHUP)
    done, pending = await asyncio.wait(tasks, timeout=70)
    for t in pending:
        t.cancel()
    release = answered["last"] - t_release if answered["ok"] else float("nan")
    wrk_out, _ = await asyncio.get_running_loop().run_in_executor(None, wrk.communicate)
    out("fanout_release_s", f"{release:.2f}")
    out("fanout_answered", answered["ok"])
    out("fanout_released_by_change", answered["changed"])
    out("fanout_errors", answered["errors"] + len(pending))
    for line in wrk_out.splitlines():
        if re.match(r"^[a-z0-9_]+=", line):
            print(line, flush=True)


def cmd_fanout(args):
    base, pid, config, n = args[0], int(args[1]), args[2], int(args[3])
    tickets_file, wrk_cmd = args[4], args[5:]
    limit = raise_nofile()
    if limit < n + 100:
        sys.exit(f"bench: the open-file limit ({limit}) is too low for {n} long polls")
    with open(tickets_file) as f:
        tickets = [line.strip() for line in f if line.strip()]
    out("fanout_rss_idle_mb", f"{rss_mb(pid):.1f}")
    asyncio.run(fanout_async(base, pid, config, n, tickets, wrk_cmd))


def connection_memory(args, prefix, answered):
    """RSS of a server holding N keep-alive connections, before and after a GET PATH on each:
    answered (`answered`), or still in flight (the server holds the request)."""
    base, pid, n, path = args[0], int(args[1]), int(args[2]), args[3]
    prefix = os.environ.get("BENCH_PREFIX", prefix)
    limit = raise_nofile()
    if limit < n + 100:
        sys.exit(f"bench: the open-file limit ({limit}) is too low for {n} connections")
    u = urllib.parse.urlsplit(base)

    async def run():
        before = rss_mb(pid)
        gate = asyncio.Semaphore(256)

        async def connect():
            async with gate:
                return await asyncio.open_connection(u.hostname, u.port)

        conns = await asyncio.gather(*[connect() for _ in range(n)])
        await asyncio.sleep(1.0)
        idle = rss_mb(pid)
        request = f"GET {path} HTTP/1.1\r\nHost: {u.hostname}\r\n\r\n".encode()

        async def once(reader, writer):
            writer.write(request)
            await writer.drain()
            if answered:
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1)))

        await asyncio.gather(*[once(r, w) for r, w in conns])
        await asyncio.sleep(1.0 if answered else 2.0)
        after = rss_mb(pid)
        for _, w in conns:
            w.close()
        out(f"{prefix}_rss_before_mb", f"{before:.1f}")
        out(f"{prefix}_idle_kb_per_conn", f"{(idle - before) * 1024 / n:.1f}")
        out(f"{prefix}_kb_per_conn", f"{(after - before) * 1024 / n:.1f}")
        out(f"{prefix}_rss_mb", f"{after:.1f}")

    asyncio.run(run())


def cmd_conn_memory(args):
    """RSS of a server holding N keep-alive connections, before and after one GET on each."""
    connection_memory(args, "conn", answered=True)


def cmd_held_memory(args):
    """RSS of a server holding N requests in flight (GET PATH sent on each of N connections,
    no answer yet), against the same N connections before their requests."""
    connection_memory(args, "held", answered=False)


def cmd_startup(args):
    """start -> READY=1 (sd_notify on a socket of ours) and -> the 'listening' log line."""
    binary, config, db, runs = args[0], args[1], args[2], int(args[3])
    prefix = os.environ.get("BENCH_PREFIX", "start")
    sock_path = f"{os.path.dirname(os.path.abspath(config))}/notify-{os.getpid()}.sock"
    ready_ms, listen_ms = [], []
    for _ in range(runs):
        if os.path.exists(sock_path):
            os.unlink(sock_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        sock.settimeout(0.05)
        env = {**os.environ, "NOTIFY_SOCKET": sock_path}
        env.pop("WATCHDOG_USEC", None)
        t0 = time.monotonic()
        proc = subprocess.Popen([binary, "serve", "--config", config, "--db", db], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seen = {}

        def read_stderr():
            for line in proc.stderr:
                if "listening on" in line and "listen" not in seen:
                    seen["listen"] = time.monotonic()

        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        t_ready = None
        deadline = t0 + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                msg = sock.recv(4096).decode()
            except socket.timeout:
                continue
            if "READY=1" in msg:
                t_ready = time.monotonic()
                break
        for _ in range(100):
            if "listen" in seen:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        reader.join(timeout=2)
        sock.close()
        if t_ready is None:
            sys.exit(f"bench: no READY=1 from {binary} within 30 s (exit {proc.returncode})")
        ready_ms.append((t_ready - t0) * 1000)
        if "listen" in seen:
            listen_ms.append((seen["listen"] - t0) * 1000)
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    out(f"{prefix}_ready_ms", f"{statistics.median(ready_ms):.0f}")
    out(f"{prefix}_ready_max_ms", f"{max(ready_ms):.0f}")
    if listen_ms:
        out(f"{prefix}_listening_ms", f"{statistics.median(listen_ms):.0f}")


def cmd_preload(args):
    """SQL for sqlite3: FINISHED finished orders, then QUEUED queued ones (numbers 1..QUEUED).

    The columns are those of migrations/0001_initial.sql; rows satisfy its CHECKs (STRICT
    types, json_valid items, lease_token only while cooking) and the partial unique index on
    live numbers. Times are recent (the last hours), so the pruner leaves them alone.
    """
    finished, queued = int(args[1]), int(args[2])
    cols = ("ticket, number, status, priority, items, customer, note, version, attempts, max_attempts, "
            "last_error, lease_token, lease_owner, lease_expires_at, cook_seconds, available_at, created_at, "
            "cooking_at, ready_at, finished_at")
    # t(x): x milliseconds into yesterday (UTC), as RFC 3339 with milliseconds; integer
    # arithmetic and printf cost far less per row than strftime. 10,100,000 rows 1 ms apart
    # span 2.8 hours, within the day.
    t = ("printf('%%sT%%02d:%%02d:%%02d.%%03dZ', (SELECT d FROM day), (%s) / 3600000, (%s) / 60000 %% 60, "
         "(%s) / 1000 %% 60, (%s) %% 1000)")
    items = ("CASE x %% 4 WHEN 0 THEN '[{\"item\":\"cheeseburger\",\"quantity\":1}]' "
             "WHEN 1 THEN '[{\"item\":\"fries\",\"quantity\":2},{\"item\":\"cola\",\"quantity\":1}]' "
             "WHEN 2 THEN '[{\"item\":\"cola\",\"quantity\":3}]' "
             "ELSE '[{\"item\":\"cheeseburger\",\"quantity\":2},{\"item\":\"fries\",\"quantity\":1}]' END")
    print(f"""
.bail on
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -1000000;
PRAGMA temp_store = MEMORY;
BEGIN;
WITH RECURSIVE day(d) AS (SELECT date('now', '-1 day')),
     n(x, c) AS (SELECT 1, {t % (("1",) * 4)} UNION ALL SELECT x + 1, {t % (("(x + 1)",) * 4)} FROM n WHERE x < {finished})
INSERT INTO orders ({cols})
SELECT printf('fin%021d', x), 1 + x % 999,
       CASE WHEN x % 20 = 0 THEN 'cancelled' WHEN x % 50 = 1 THEN 'expired' WHEN x % 97 = 2 THEN 'failed' ELSE 'picked_up' END,
       CASE WHEN x % 10 = 0 THEN 'rush' ELSE 'normal' END,
       {items % ()}, CASE WHEN x % 3 = 0 THEN 'Ana' END, NULL,
       4, 1, 3, CASE WHEN x % 97 = 2 THEN 'fryer jammed' END, NULL, NULL, NULL, 4.0,
       c, c, c, c, c
FROM n;
WITH RECURSIVE day(d) AS (SELECT date('now', '-1 day')),
     n(x, c) AS (SELECT {finished} + 1, {t % ((f"({finished} + 1)",) * 4)}
                 UNION ALL SELECT x + 1, {t % (("(x + 1)",) * 4)} FROM n WHERE x < {finished} + {queued})
INSERT INTO orders ({cols})
SELECT printf('que%021d', x), x - {finished}, 'queued',
       CASE WHEN x % 10 = 0 THEN 'rush' ELSE 'normal' END,
       {items % ()}, NULL, NULL,
       1, 0, 3, NULL, NULL, NULL, NULL, 4.0,
       c, c, NULL, NULL, NULL
FROM n;
INSERT INTO order_events (order_id, from_status, to_status, at, detail)
SELECT id, NULL, 'queued', created_at, 'placed' FROM orders WHERE status = 'queued';
UPDATE ticket_counter SET last_number = {queued} WHERE id = 1;
COMMIT;
PRAGMA journal_mode = WAL;
SELECT 'preload_rows=' || count(*) FROM orders;
""")


def cmd_topup(args):
    """SQL for sqlite3: N more queued orders in a live daemon's database, so that a claims run
    cannot drain the queue. Numbers continue above every number in use (distinct, live-unique);
    available_at is a second ago, so the claims take them at once."""
    n = int(args[1])
    print(f"""
.bail on
.timeout 10000
BEGIN IMMEDIATE;
CREATE TEMP TABLE top_base AS
  SELECT coalesce(max(id), 0) AS id, coalesce(max(number), 0) AS number,
         strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 seconds') AS at FROM orders;
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {n})
INSERT INTO orders (ticket, number, status, priority, items, version, attempts, max_attempts, cook_seconds,
                    available_at, created_at)
SELECT printf('top%021d', (SELECT id FROM top_base) + x), (SELECT number FROM top_base) + x, 'queued', 'normal',
       '[{{"item":"cola","quantity":1}}]', 1, 0, 3, 0.5, (SELECT at FROM top_base), (SELECT at FROM top_base)
FROM n;
INSERT INTO order_events (order_id, from_status, to_status, at, detail)
SELECT id, NULL, 'queued', created_at, 'placed' FROM orders WHERE id > (SELECT id FROM top_base);
UPDATE ticket_counter SET last_number = (SELECT number FROM top_base) + {n} WHERE id = 1;
COMMIT;
SELECT 'topup_queued=' || count(*) FROM orders WHERE status = 'queued';
""")


def cmd_micro(args):
    """name=value lines from `swift package benchmark --format jmh` output: per benchmark, the
    wall clock of one iteration (p50, p99, in microseconds) and the median iterations/s."""
    with open(args[0]) as f:
        text = f.read()
    start = text.find("[")
    data = json.loads(text[start:]) if start >= 0 else []
    for entry in data:
        title = entry["benchmark"].split("StoreBenchmarks.", 1)[-1]
        name = re.sub(r"[^a-z0-9]+", "_", title.split("(")[0].lower()).strip("_")
        wall = entry.get("secondaryMetrics", {}).get("Time (wall clock)")
        if wall:
            scale = {"ns": 0.001, "μs": 1.0, "us": 1.0, "ms": 1000.0, "s": 1e6}.get(wall.get("scoreUnit"), 1.0)
            pct = wall["scorePercentiles"]
            out(f"micro_{name}_p50_us", f"{pct['50.0'] * scale:.1f}")
            out(f"micro_{name}_p99_us", f"{pct['99.0'] * scale:.1f}")
        primary = entry.get("primaryMetric", {})
        if primary.get("scoreUnit", "").endswith("/ s") and "50.0" in primary.get("scorePercentiles", {}):
            out(f"micro_{name}_per_s", f"{primary['scorePercentiles']['50.0']:.0f}")
        samples = len((primary.get("rawData") or [[]])[0])
        out(f"micro_{name}_samples", samples)


TARGETS = [
    # (figure, target text, predicate)
    ("ceiling_rps", "—", None),
    ("ceiling_p99_ms", "—", None),
    ("ceiling_scripted_rps", "—", None),
    ("ceiling_scripted_p99_ms", "—", None),
    ("ceiling_after_rps", "—", None),
    ("ceiling_after_p99_ms", "—", None),
    ("ceiling_scripted_after_rps", "—", None),
    ("ceiling_mean_rps", "—", None),
    ("ceiling_scripted_mean_rps", "—", None),
    ("durable_rps", "—", None),
    ("durable_p99_ms", "—", None),
    ("durable_after_rps", "—", None),
    ("durable_mean_rps", "—", None),
    ("ceiling_scripted_p99_mean_ms", "—", None),
    ("durable_p99_mean_ms", "—", None),
    ("durable_vs_ceiling", "0.5–0.75 (measured apart)", None),
    ("durable_rows_rps", "—", None),
    ("durable_rows_after_rps", "—", None),
    ("durable_rows_mean_rps", "—", None),
    ("durable_rows_vs_durable", "— (what ticketd's two rows leave of the durable route)", None),
    ("intake_rps", "≥ 40,000/s", lambda v: v >= 40000),
    ("intake_p50_ms", "—", None),
    ("intake_p99_ms", "≤ 5 ms", lambda v: v <= 5),
    ("intake_non2xx", "= 0", lambda v: v == 0),
    ("intake_vs_ceiling", "≥ 0.65", lambda v: v >= 0.65),
    ("intake_vs_scripted_ceiling", "≥ 0.65 (same wrk work)", lambda v: v >= 0.65),
    ("intake_vs_durable", "≥ 0.8", lambda v: v >= 0.8),
    ("intake_vs_durable_rows", "— (intake ÷ the least cost of its rows)", None),
    ("intake_p99_vs_durable_p99", "≤ 1.25 (p99 at 0.8× the rate)", lambda v: v <= 1.25),
    ("polling_rps", "—", None),
    ("polling_p50_ms", "—", None),
    ("polling_p99_ms", "≤ 3 ms", lambda v: v <= 3),
    ("polling_non2xx", "= 0", lambda v: v == 0),
    ("polling_vs_ceiling", "≥ 0.8", lambda v: v >= 0.8),
    ("polling_vs_scripted_ceiling", "≥ 0.8 (same wrk work)", lambda v: v >= 0.8),
    ("polling_p99_vs_scripted_ceiling_p99", "≤ 1.25 (p99 at 0.8× the rate)", lambda v: v <= 1.25),
    ("claims_rps", "—", None),
    ("claims_empty", "= 0 (queue never dry)", lambda v: v == 0),
    ("claims_p99_ms", "—", None),
    ("claims_vs_ceiling", "—", None),
    ("lifecycle_ready_per_s", "≥ 25,000/s", lambda v: v >= 25000),
    ("lifecycle_placed_per_s", "—", None),
    ("lifecycle_backlog_at_end", "—", None),
    ("lifecycle_drain_ready_per_s", "—", None),
    ("lifecycle_ready_vs_durable", "≥ 0.5", lambda v: v >= 0.5),
    ("order_to_claim_p50_ms", "—", None),
    ("order_to_claim_p99_ms", "≤ 1 ms", lambda v: v <= 1),
    ("fsync_p50_ms", "—", None),
    ("fsync_p99_ms", "—", None),
    ("order_to_claim_mean_ms", "—", None),
    ("longpoll_release_p50_ms", "—", None),
    ("longpoll_release_p99_ms", "≤ 2 ms", lambda v: v <= 2),
    ("fanout_held", "10,000", lambda v: v >= 10000),
    ("fanout_rss_idle_mb", "—", None),
    ("fanout_rss_held_mb", "—", None),
    ("fanout_rss_mb", "< 150 MB", lambda v: v < 150),
    ("fanout_release_s", "—", None),
    ("fanout_released_by_change", "10,000", lambda v: v >= 10000),
    ("fanout_intake_rps", "—", None),
    ("fanout_kb_per_poll", "—", None),
    ("deep_queued", "≥ 150,000", lambda v: v >= 150000),
    ("deep_polling_oldest_rps", "—", None),
    ("deep_polling_oldest_p99_ms", "≤ 3 ms", lambda v: v <= 3),
    ("deep_polling_oldest_vs_ceiling", "≥ 0.8", lambda v: v >= 0.8),
    ("deep_polling_oldest_vs_deep_ceiling", "≥ 0.8 (trivial route around the polls)", lambda v: v >= 0.8),
    ("deep_polling_oldest_p99_vs_deep_ceiling_p99", "≤ 1.25 (p99 at 0.8× the rate)", lambda v: v <= 1.25),
    ("deep_polling_all_rps", "—", None),
    ("deep_polling_all_p99_ms", "≤ 3 ms", lambda v: v <= 3),
    ("deep_polling_all_vs_ceiling", "≥ 0.8", lambda v: v >= 0.8),
    ("deep_polling_all_vs_deep_ceiling", "≥ 0.8 (trivial route around the polls)", lambda v: v >= 0.8),
    ("deep_polling_all_p99_vs_deep_ceiling_p99", "≤ 1.25 (p99 at 0.8× the rate)", lambda v: v <= 1.25),
    ("deep_ceiling_mean_rps", "—", None),
    ("deep_ceiling_p99_mean_ms", "—", None),
    ("deep_rss_idle_mb", "—", None),
    ("deep_rss_held_mb", "—", None),
    ("board_feeds", "1,000", lambda v: v >= 1000),
    ("board_delivery_p99_ms", "≤ 100 ms", lambda v: v <= 100),
    ("board_change_to_feed_p50_ms", "—", None),
    ("board_change_to_feed_p99_ms", "≤ 100 ms", lambda v: v <= 100),
    ("board_missed", "= 0", lambda v: v == 0),
    ("board_base_intake_rps", "—", None),
    ("board_intake_rps", "—", None),
    ("board_intake_non2xx", "= 0", lambda v: v == 0),
    ("board_intake_vs_without", "≥ 0.8", lambda v: v >= 0.8),
    ("board_events_per_feed_per_s", "≤ 4", lambda v: v <= 4.2),
    ("board_kb_per_feed", "—", None),
    ("board_rss_held_mb", "—", None),
    ("ceiling_conns_idle_kb_per_conn", "—", None),
    ("ceiling_conns_kb_per_conn", "—", None),
    ("ceiling_held_kb_per_conn", "—", None),
    ("fanout_kb_vs_ceiling_conns", "≤ 1.15 (issue 16: against a connection that served one request)", lambda v: v <= 1.15),
    ("fanout_kb_vs_ceiling_held", "≤ 1.15 (against a request the framework holds)", lambda v: v <= 1.15),
    ("ceiling_conns_rss_mb", "—", None),
    ("scale_finished_rows", "10,000,000", None),
    ("scale_queued_rows", "100,000", None),
    ("scale_preload_s", "—", None),
    ("empty_start_ready_ms", "—", None),
    ("scale_start_ready_ms", "< 300 ms", lambda v: v < 300),
    ("scale_start_listening_ms", "—", None),
    ("scale_empty_intake_rps", "—", None),
    ("scale_empty_polling_rps", "—", None),
    ("scale_empty_claims_rps", "—", None),
    ("scale_intake_rps", "—", None),
    ("scale_intake_non2xx", "= 0", lambda v: v == 0),
    ("scale_intake_p99_ms", "—", None),
    ("scale_intake_vs_empty", "≥ 0.9", lambda v: v >= 0.9),
    ("scale_polling_rps", "—", None),
    ("scale_polling_p99_ms", "—", None),
    ("scale_polling_non2xx", "= 0", lambda v: v == 0),
    ("scale_polling_vs_empty", "≥ 0.9", lambda v: v >= 0.9),
    ("scale_claims_rps", "—", None),
    ("scale_claims_empty", "= 0 (queue never dry)", lambda v: v == 0),
    ("scale_claims_vs_empty", "≥ 0.9", lambda v: v >= 0.9),
    ("scale_intake_vs_http_step", "—", None),
    ("scale_polling_vs_http_step", "—", None),
    ("scale_claims_vs_http_step", "—", None),
]

BEGIN, END = "<!-- scripts/bench: begin -->", "<!-- scripts/bench: end -->"

INTRO = """# Benchmarks

Figures of `scripts/bench` on this machine (see [How the benchmark runs](#how-the-benchmark-runs)
below for what each step does and how to run it). The table between the markers below is
rewritten by every local run; text outside them is kept.

"""


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": os.uname().release}


def fmt(value):
    try:
        v = float(value)
    except ValueError:
        return value
    if v.is_integer() and abs(v) >= 1000:
        return f"{int(v):,}"
    return value


def cmd_report(args):
    results_path, md_path, command = args[0], args[1], args[2]
    results = {}
    with open(results_path) as f:
        for line in f:
            name, sep, value = line.strip().partition("=")
            if sep:
                results[name] = value
    m = machine()
    lines = [BEGIN, "",
             f"- **date**: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
             f"- **machine**: {m['nproc']} CPUs ({m['cpu']}), Linux {m['kernel']}, "
             f"load average before the run: {results.get('load_1m_before', '?')}",
             f"- **command**: `{command}` (ticketd at {results.get('commit', '?')})",
             f"- **wall time**: {results.get('bench_wall_s', '?')} s",
             "",
             "| figure | value | target | met |",
             "|---|---|---|---|"]
    shown = set()
    for name, target, ok in TARGETS:
        if name not in results:
            continue
        shown.add(name)
        met = ""
        if ok is not None:
            try:
                met = "yes" if ok(float(results[name])) else "**no**"
            except ValueError:
                met = ""
        lines.append(f"| `{name}` | {fmt(results[name])} | {target} | {met} |")
    micro = [k for k in results if k.startswith("micro_")]
    if micro:
        lines += ["", "Store micro-benchmarks (ordo-one/benchmark, `Benchmarks/`): wall clock of one iteration "
                  "(placement batch: 64 placements at once; claim and transition: one, each its own commit; "
                  "position: the last of 10,000 queued orders), and iterations per second:", "",
                  "| figure | value |", "|---|---|"]
        lines += [f"| `{k}` | {results[k]} |" for k in micro]
    rest = [k for k in results if k not in shown and not k.startswith("micro_")]
    if rest:
        lines += ["", "<details><summary>Every name=value line of the run</summary>", "", "```"]
        lines += [f"{k}={results[k]}" for k in rest]
        lines += ["```", "", "</details>"]
    lines += ["", END]
    table = "\n".join(lines)
    try:
        with open(md_path) as f:
            text = f.read()
    except FileNotFoundError:
        text = INTRO + BEGIN + "\n" + END + "\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + table + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + table + "\n"
    with open(md_path, "w") as f:
        f.write(text)
    log(f"wrote {md_path}")


# --- board: 1,000 board feeds held during intake, a change reaching all of them ------------------

def parse_event(block):
    """(event, data) of one text/event-stream block."""
    event, data = None, []
    for line in block.split(b"\n"):
        if line.startswith(b"event: "):
            event = line[7:]
        elif line.startswith(b"data: "):
            data.append(line[6:])
    return event, b"\n".join(data)


def ready_numbers(data):
    """The numbers of a board event's ready list, without parsing the whole event."""
    start = data.find(b'"ready":[')
    if start < 0:
        return []
    end = data.find(b"]", start)
    inner = data[start + 9:end]
    return [int(x) for x in inner.split(b",") if x]


def event_at(data):
    """The event's computation time (its "at"), in seconds since the epoch."""
    start = data.find(b'"at":"')
    if start < 0:
        return None
    return parse_ts(data[start + 6:start + 30].decode()) / 1000.0


SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SO_TIMESTAMPNS_NEW = 64


def kernel_arrival(ancillary):
    """The time the kernel stamped on the bytes a recvmsg returned (SO_TIMESTAMPNS: when the
    last of them reached this socket), in seconds since the epoch; None without a stamp."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind in (SO_TIMESTAMPNS, SO_TIMESTAMPNS_NEW) and len(data) >= 16:
            seconds, nanos = struct.unpack("qq", data[:16])
            return seconds + nanos / 1e9
    return None


class BoardFeeds(threading.Thread):
    """N board feeds read by one thread with epoll and recvmsg. Each delivery is timed twice:
    when the kernel put the event's bytes in the client's socket (SO_TIMESTAMPNS: the moment the
    change reached the feed, whatever the client does next) and when this thread read them
    (which adds the client's own turn for the CPU, shared with the daemon and wrk). Reading is
    kept light: every event is counted, but events are parsed only while a change is waiting
    to be seen by every feed. Each event is one chunk of the chunked body; splitting the raw
    bytes at blank lines isolates it (the chunk framing lands on lines of its own)."""

    def __init__(self, host, port, n, marker_numbers):
        super().__init__(daemon=True)
        self.host, self.port, self.n = host, port, n
        self.marker_numbers = marker_numbers
        self.seen = [dict() for _ in range(n)]   # feed -> {number: (arrived, read, event at)}
        self.events = [0] * n
        self.errors = []
        self.opened = threading.Event()
        self.open_count = 0
        self.stop = threading.Event()
        self.expecting = {"number": None, "seen_by": 0}

    def expect(self, number):
        self.expecting["seen_by"] = 0
        self.expecting["number"] = number

    def _opened_one(self):
        self.open_count += 1
        if self.open_count >= self.n:
            self.opened.set()

    def _take(self, i, block, arrived, read):
        event, data = parse_event(block)
        if event != b"board":
            return
        at = event_at(data)
        for number in ready_numbers(data):
            if number in self.marker_numbers and number not in self.seen[i]:
                self.seen[i][number] = (arrived, read, at)
                if number == self.expecting["number"]:
                    self.expecting["seen_by"] += 1
                    if self.expecting["seen_by"] >= self.n:
                        self.expecting["number"] = None

    def run(self):
        selector = selectors.EpollSelector()
        buffers, heads, first = [b""] * self.n, [False] * self.n, [True] * self.n
        request = f"GET /v1/board/events HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()
        for i in range(self.n):
            try:
                s = socket.create_connection((self.host, self.port), timeout=10)
                s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                s.sendall(request)
                s.setblocking(False)
                selector.register(s, selectors.EVENT_READ, i)
            except OSError as e:
                self.errors.append(repr(e))
                self._opened_one()
        while not self.stop.is_set():
            for key, _ in selector.select(0.2):
                i, s = key.data, key.fileobj
                try:
                    chunk, ancillary, _, _ = s.recvmsg(65536, 256)
                except BlockingIOError:
                    continue
                except OSError as e:
                    chunk, ancillary = b"", []
                    self.errors.append(repr(e))
                if not chunk:
                    selector.unregister(s)
                    s.close()
                    if first[i]:
                        first[i] = False
                        self._opened_one()
                    continue
                read = time.time()
                arrived = kernel_arrival(ancillary) or read
                buffers[i] += chunk
                if not heads[i]:
                    k = buffers[i].find(b"\r\n\r\n")
                    if k < 0:
                        continue
                    if not buffers[i].startswith(b"HTTP/1.1 200"):
                        self.errors.append(buffers[i].split(b"\r\n")[0].decode(errors="replace"))
                        selector.unregister(s)
                        s.close()
                        first[i] = False
                        self._opened_one()
                        continue
                    heads[i] = True
                    buffers[i] = buffers[i][k + 4:]
                cut = buffers[i].rfind(b"\n\n")
                if cut < 0:
                    continue
                complete, buffers[i] = buffers[i][:cut + 2], buffers[i][cut + 2:]
                count = complete.count(b"event: board")
                if count == 0:
                    continue
                self.events[i] += count
                if first[i]:
                    first[i] = False
                    self._opened_one()
                if self.expecting["number"] is not None and self.expecting["number"] not in self.seen[i]:
                    for block in complete.split(b"\n\n"):
                        self._take(i, block, arrived, read)
        for key in list(selector.get_map().values()):
            key.fileobj.close()
        selector.close()


async def board_async(base, pid, n, markers, wrk_cmd, changes, intake_s):
    u = urllib.parse.urlsplit(base)
    loop = asyncio.get_running_loop()
    feeds = BoardFeeds(u.hostname, u.port, n, {m["number"] for m in markers})
    idle = rss_mb(pid)
    t_open = time.monotonic()
    feeds.start()
    if not await loop.run_in_executor(None, feeds.opened.wait, 60):
        log("board: not every feed got its first board within 60 s")
    out("board_feeds_open_s", f"{time.monotonic() - t_open:.2f}")
    out("board_feeds", n - len(feeds.errors))
    await asyncio.sleep(1.0)
    held = rss_mb(pid)
    out("board_rss_idle_mb", f"{idle:.1f}")
    out("board_rss_held_mb", f"{held:.1f}")
    out("board_kb_per_feed", f"{(held - idle) * 1024 / n:.1f}")

    # Intake (wrk) while the feeds are held; the changes are made during it.
    events_before = sum(feeds.events)
    wrk = await asyncio.create_subprocess_exec(*wrk_cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    t_intake = time.monotonic()
    await asyncio.sleep(2.0)
    conn = Conn(base)
    acked = {}
    token = os.environ.get("BENCH_TOKEN", "")
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def change(marker):
        status, _, body = conn.request("POST", f"/v1/kitchen/orders/{marker['id']}/claim",
                                       json.dumps({"cook": "bench", "lease_seconds": 300}), auth)
        if status != 200:
            raise RuntimeError(f"claim answered {status}: {body[:200]!r}")
        lease = json.loads(body)["lease"]
        sent = time.time()
        status, _, body = conn.request("POST", f"/v1/kitchen/orders/{marker['id']}/ready", json.dumps({"lease": lease}), auth)
        if status != 200:
            raise RuntimeError(f"ready answered {status}: {body[:200]!r}")
        return sent, time.time()

    # The changes are spread over the intake at random gaps (a fixed seed), so that they fall at
    # every phase of the feed's event cycle rather than locking onto one.
    gaps = random.Random(15)
    for marker in markers[:changes]:
        feeds.expect(marker["number"])
        acked[marker["number"]] = await loop.run_in_executor(None, change, marker)
        await asyncio.sleep(max(0.0, (intake_s - 3.0) / changes) * gaps.uniform(0.5, 1.5))
    conn.close()
    wrk_out, _ = await wrk.communicate()
    intake_s_real = time.monotonic() - t_intake
    sys.stdout.write(wrk_out.decode(errors="replace"))
    out("board_events_per_feed_per_s", f"{(sum(feeds.events) - events_before) / max(1, n) / intake_s_real:.2f}")

    # Every feed must have seen every change.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(len(s) < len(acked) for s in feeds.seen):
        await asyncio.sleep(0.05)
    feeds.stop.set()
    await loop.run_in_executor(None, feeds.join, 10)
    from_ack, from_sent, fanout, fanout_read = [], [], [], []
    missing = 0
    for s in feeds.seen:
        for number, (sent, ack) in acked.items():
            if number not in s:
                missing += 1
                continue
            arrived, read, at = s[number]
            from_ack.append((arrived - ack) * 1000)
            from_sent.append((arrived - sent) * 1000)
            if at is not None:
                fanout.append((arrived - at) * 1000)
                fanout_read.append((read - at) * 1000)
    out("board_changes", len(acked))
    out("board_deliveries", len(from_ack))
    out("board_missed", missing)
    out("board_errors", len(feeds.errors))
    if feeds.errors:
        log(f"board: first errors: {feeds.errors[:3]}")
    if fanout:
        out("board_delivery_p50_ms", f"{percentile(fanout, 50):.1f}")
        out("board_delivery_p99_ms", f"{percentile(fanout, 99):.1f}")
        out("board_delivery_max_ms", f"{max(fanout):.1f}")
        out("board_delivery_read_p50_ms", f"{percentile(fanout_read, 50):.1f}")
        out("board_delivery_read_p99_ms", f"{percentile(fanout_read, 99):.1f}")
    if from_ack:
        out("board_change_to_feed_p50_ms", f"{percentile(from_ack, 50):.1f}")
        out("board_change_to_feed_p99_ms", f"{percentile(from_ack, 99):.1f}")
        out("board_change_to_feed_max_ms", f"{max(from_ack):.1f}")
        out("board_request_to_feed_p99_ms", f"{percentile(from_sent, 99):.1f}")
    out("board_rss_after_mb", f"{rss_mb(pid):.1f}")


def cmd_board(args):
    """N board feeds held while wrk places orders; CHANGES orders made ready during it (each a
    number every feed must see), with the delay of each delivery, and the memory the feeds hold."""
    base, pid, n, changes, intake_s = args[0], int(args[1]), int(args[2]), int(args[3]), float(args[4])
    wrk_cmd = args[5:]
    limit = raise_nofile()
    if limit < n + 200:
        sys.exit(f"bench: the open-file limit ({limit}) is too low for {n} board feeds")
    token = os.environ.get("BENCH_TOKEN", "")
    conn = Conn(base)
    items = os.environ.get("BENCH_ITEMS", DEFAULT_ITEMS)
    for i in range(changes):
        place_one(conn, i, items)
    status, _, body = conn.request("GET", f"/v1/orders?limit={changes}", headers={"Authorization": f"Bearer {token}"})
    conn.close()
    if status != 200:
        sys.exit(f"bench: GET /v1/orders answered {status}")
    markers = [{"id": o["id"], "number": o["number"]} for o in json.loads(body)["orders"]]
    asyncio.run(board_async(base, pid, n, markers, wrk_cmd, changes, intake_s))


COMMANDS = {
    "free-port": cmd_free_port,
    "wait-listening": cmd_wait_listening,
    "place": cmd_place,
    "held-memory": cmd_held_memory,
    "metrics": cmd_metrics,
    "menu-items": cmd_menu_items,
    "window": cmd_window,
    "fsync": cmd_fsync,
    "order-to-claim": cmd_order_to_claim,
    "longpoll-latency": cmd_longpoll_latency,
    "fanout": cmd_fanout,
    "board": cmd_board,
    "conn-memory": cmd_conn_memory,
    "startup": cmd_startup,
    "preload": cmd_preload,
    "topup": cmd_topup,
    "micro": cmd_micro,
    "report": cmd_report,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2:])
