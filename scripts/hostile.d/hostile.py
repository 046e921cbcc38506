#!/usr/bin/env python3
"""Hostile clients against ticketd (see scripts/hostile).

While a normal client keeps asking (GET /v1/board and POST /v1/orders on fresh connections,
every 20 ms, latency recorded):
  1. 10,000 idle connections are opened and held (they send nothing);
  2. slow-loris clients send a request head one byte every 2 seconds;
  3. extra connections beyond max_connections ask GET /v1/board: each must get a clear answer
     (200 while slots remain, else 503 problem+json with Retry-After, then a close), none a hang;
  4. the idle timeout must close every idle connection, the request read timeout every
     slow-loris (long before the idle timeout would).
VmRSS of the daemon is sampled. Prints `name=value` lines and one summary line
`hostile: ... result=ok|FAILED`; exits 1 on any failure.
"""
import argparse
import os
import resource
import selectors
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz.d"))
from harness import Daemon, emit, note, percentile  # noqa: E402


class NormalClient(threading.Thread):
    """One well-behaved client; results are kept per phase."""

    def __init__(self, daemon):
        super().__init__(daemon=True)
        self.daemon_ = daemon
        self.phase = "baseline"
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.results = {}  # phase -> list of (ok, status or error, seconds)

    def run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            started = time.monotonic()
            try:
                if n % 5 == 0:
                    status, _, _ = self.daemon_.place(timeout=10)
                    ok = status == 202
                else:
                    status, _, _ = self.daemon_.request("GET", "/v1/board", timeout=10)
                    ok = status == 200
                what = status
            except Exception as e:  # noqa: BLE001 - every failure is a figure
                ok, what = False, type(e).__name__
            took = time.monotonic() - started
            with self.lock:
                self.results.setdefault(self.phase, []).append((ok, what, took))
            self.stop.wait(0.02)

    def summary(self, phase):
        with self.lock:
            rows = list(self.results.get(phase, []))
        lat = [t * 1000 for ok, _, t in rows if ok]
        failures = {}
        for ok, what, _ in rows:
            if not ok:
                failures[str(what)] = failures.get(str(what), 0) + 1
        return len(rows), len(lat), failures, percentile(lat, 50), percentile(lat, 99), max(lat) if lat else 0.0


def open_idle(port, count, deadline_s=120):
    socks = []
    errors = 0
    end = time.monotonic() + deadline_s
    while len(socks) < count and time.monotonic() < end:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.setblocking(False)
            socks.append((s, time.monotonic()))
        except OSError:
            errors += 1
            time.sleep(0.05)
    return socks, errors


def slow_loris(port, results, lock, interval, limit_s):
    """Sends a request head one byte every `interval` s until the server closes the connection."""
    head = b"GET /v1/board HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4096
    started = time.monotonic()
    got = b""
    how = "timeout"
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.settimeout(interval)
        for i in range(len(head)):
            if time.monotonic() - started > limit_s:
                break
            try:
                s.send(head[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                how = "closed"
                break
            try:
                chunk = s.recv(4096)
                if not chunk:
                    how = "closed"
                    break
                got += chunk
            except socket.timeout:
                pass
            except ConnectionResetError:
                how = "closed"
                break
        s.close()
    except OSError as e:
        how = "error:" + type(e).__name__
    with lock:
        results.append((how, got.startswith(b"HTTP/1.1 408"), time.monotonic() - started))


def extra_connections(port, count):
    """Opens `count` connections at once (all held, so together they pass the limit), then asks
    GET /v1/board on each; returns the outcome of each: 200, 503 (problem+json with Retry-After,
    then closed), hang or error."""
    socks = []
    results = []
    for _ in range(count):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        except OSError as e:
            results.append("connect_error:" + type(e).__name__)
    lock = threading.Lock()

    def ask(s):
        try:
            s.settimeout(10)
            s.sendall(b"GET /v1/board HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            got = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            if got.startswith(b"HTTP/1.1 200"):
                kind = "200"
            elif (got.startswith(b"HTTP/1.1 503") and b"application/problem+json" in got
                  and b"retry-after: 1" in got.lower() and b"max_connections" in got):
                kind = "503"
            else:
                kind = "other:" + got[:40].decode(errors="replace")
        except socket.timeout:
            kind = "hang"
        except OSError as e:
            kind = "error:" + type(e).__name__
        finally:
            s.close()
        with lock:
            results.append(kind)
    threads = [threading.Thread(target=ask, args=(s,), daemon=True) for s in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def wait_idle_closed(socks, timeout_s):
    """Waits for the server to close each idle socket; returns seconds from open to close, per socket."""
    sel = selectors.DefaultSelector()
    for s, opened in socks:
        sel.register(s, selectors.EVENT_READ, opened)
    closed = []
    end = time.monotonic() + timeout_s
    remaining = len(socks)
    while remaining and time.monotonic() < end:
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                closed.append(time.monotonic() - key.data)
                sel.unregister(s)
                s.close()
                remaining -= 1
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    sel.close()
    return closed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--slowloris", type=int, default=50)
    ap.add_argument("--extra", type=int, default=200)
    ap.add_argument("--idle-timeout", type=float, default=60)
    ap.add_argument("--read-timeout", type=float, default=3)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.idle + args.slowloris + args.extra + 512
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(want, soft)), hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    emit("hostile_nofile", soft)
    if soft < want:
        note(f"hostile: the open-file limit {soft} is below the {want} this run needs (hard limit {hard})")
        return 1
    # Room for the idle and slow clients and a few normal ones; the extras go past it.
    max_connections = args.idle + args.slowloris + 50
    config = (f"max_connections: {max_connections}\nidle_timeout_seconds: {args.idle_timeout}\n"
              f"request_read_timeout_seconds: {args.read_timeout}\nmenu:\n  - {{item: cola, cook_seconds: 0}}\n")
    daemon = Daemon(args.binary, config=config, cooks=2, label="ticketd-hostile").start()
    emit("hostile_max_connections", max_connections)
    emit("hostile_idle_timeout_s", args.idle_timeout)
    emit("hostile_request_read_timeout_s", args.read_timeout)
    ok = True
    rss_start = daemon.rss_kib()

    client = NormalClient(daemon)
    client.start()
    time.sleep(2)  # a baseline of the normal client's latency (a measurement window, not a wait)

    client.phase = "idle_flood"
    t0 = time.monotonic()
    idle, connect_errors = open_idle(daemon.port, args.idle)
    emit("hostile_idle_opened", len(idle))
    emit("hostile_idle_open_s", f"{time.monotonic() - t0:.1f}")
    emit("hostile_idle_connect_errors", connect_errors)
    open_now = daemon.metric("ticketd_open_connections")
    emit("hostile_server_open_connections", int(open_now))
    rss_held = daemon.rss_kib()

    lock = threading.Lock()
    loris = []
    loris_threads = [threading.Thread(target=slow_loris, args=(daemon.port, loris, lock, 2.0, args.idle_timeout + 20),
                                      daemon=True) for _ in range(args.slowloris)]
    for t in loris_threads:
        t.start()
    time.sleep(0.5)  # let the slow clients take their slots before the extras come

    client.phase = "at_limit"
    # Enough extras to pass the limit whatever is open now (at least --extra).
    open_before_extras = int(daemon.metric("ticketd_open_connections"))
    emit("hostile_open_before_extras", open_before_extras)
    extras = extra_connections(daemon.port, max(args.extra, max_connections - open_before_extras + 100))
    client.phase = "slowloris"
    for t in loris_threads:
        t.join(args.idle_timeout + 40)
    rss_loris = daemon.rss_kib()

    client.phase = "idle_expiry"
    closed = wait_idle_closed(idle, args.idle_timeout + 30)
    client.phase = "after"
    time.sleep(2)
    client.stop.set()
    client.join(15)
    rss_end = daemon.rss_kib()
    open_after = daemon.metric("ticketd_open_connections")

    # Figures
    emit("hostile_idle_closed_by_server", len(closed))
    emit("hostile_idle_close_p50_s", f"{percentile(closed, 50):.1f}")
    emit("hostile_idle_close_max_s", f"{max(closed) if closed else 0:.1f}")
    loris_closed = [r for r in loris if r[0] == "closed"]
    loris_408 = sum(1 for r in loris if r[1])
    loris_times = [r[2] for r in loris_closed]
    emit("hostile_slowloris", len(loris))
    emit("hostile_slowloris_closed", len(loris_closed))
    emit("hostile_slowloris_408", loris_408)
    emit("hostile_slowloris_close_p50_s", f"{percentile(loris_times, 50):.1f}")
    emit("hostile_slowloris_close_max_s", f"{max(loris_times) if loris_times else 0:.1f}")
    kinds = {}
    for k in extras:
        kinds[k] = kinds.get(k, 0) + 1
    emit("hostile_extra", len(extras))
    emit("hostile_extra_outcomes", ",".join(f"{k}:{v}" for k, v in sorted(kinds.items())))
    emit("hostile_refused_total", int(daemon.metric("ticketd_connections_refused_total")))
    emit("hostile_open_connections_after", int(open_after))
    phase_errors = 0
    for phase in ("baseline", "idle_flood", "at_limit", "slowloris", "idle_expiry", "after"):
        n, good, failures, p50, p99, worst = client.summary(phase)
        emit(f"hostile_normal_{phase}", f"requests:{n},ok:{good},p50_ms:{p50:.1f},p99_ms:{p99:.1f},max_ms:{worst:.1f}"
             + (",failures:" + ";".join(f"{k}x{v}" for k, v in sorted(failures.items())) if failures else ""))
        # Only at the limit may the normal client be refused, and then only with a 503.
        allowed = {"503"} if phase == "at_limit" else set()
        phase_errors += sum(v for k, v in failures.items() if k not in allowed)
    emit("hostile_normal_unexpected_failures", phase_errors)
    emit("hostile_rss_start_mb", f"{rss_start / 1024:.1f}")
    emit("hostile_rss_idle_held_mb", f"{rss_held / 1024:.1f}")
    emit("hostile_rss_slowloris_mb", f"{rss_loris / 1024:.1f}")
    emit("hostile_rss_end_mb", f"{rss_end / 1024:.1f}")
    status = daemon.stop()
    emit("hostile_daemon_exit", status)

    if len(idle) != args.idle or len(closed) != len(idle):
        ok = False
    if len(loris_closed) != args.slowloris or any(t >= args.idle_timeout for t in loris_times):
        ok = False
    if any(k not in ("200", "503") for k in extras) or kinds.get("503", 0) == 0:
        ok = False
    if phase_errors or status != 0:
        ok = False
    print(f"hostile: idle={len(idle)} idle_closed={len(closed)} idle_close_max_s={max(closed) if closed else 0:.1f} "
          f"slowloris={len(loris)} slowloris_closed={len(loris_closed)} slowloris_408={loris_408} "
          f"slowloris_close_max_s={max(loris_times) if loris_times else 0:.1f} "
          f"extra={len(extras)} extra_503={kinds.get('503', 0)} extra_200={kinds.get('200', 0)} "
          f"normal_unexpected_failures={phase_errors} rss_held_mb={rss_held / 1024:.1f} rss_end_mb={rss_end / 1024:.1f} "
          f"result={'ok' if ok else 'FAILED'}", flush=True)
    daemon.finish(ok, "hostile")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
