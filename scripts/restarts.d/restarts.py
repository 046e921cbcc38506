#!/usr/bin/env python3
"""Restarts that refuse no one: socket activation as systemd does it (see scripts/restarts).

This process binds the listening socket and holds it, as systemd's ticketd.socket does, and
starts each daemon with the socket as descriptor 3, LISTEN_FDS=1 and LISTEN_PID set to the
daemon's own pid (fork, dup2, set the environment, exec: what systemd does). Client threads
send a steady load of placements, each on a new connection with a 10 s timeout, while the
daemon is restarted N times (SIGTERM, wait for its exit, start the next). Connections made
while no daemon runs wait in the socket's backlog and are answered by the next one.

Counts connection errors and answers outside 2xx, the longest wait a request saw, and checks
that every acknowledged order is in the database. Prints `name=value` lines and one summary
line `restarts: ... result=ok|FAILED`; exits 1 on a failure.
"""
import argparse
import http.client
import json
import os
import signal
import socket
import sqlite3
import sys
import tempfile
import threading
import time

CONFIG = """log_level: warning
menu:
  - {item: cola, cook_seconds: 0}
tickets:
  max_number: 1000000
kitchen:
  max_queued: 1000000
  shutdown_grace_seconds: 1
"""
BODY = b'{"items":[{"item":"cola","quantity":1}]}'


def emit(name, value):
    print(f"{name}={value}", flush=True)


class Load:
    """Placements on fresh connections until told to stop: `processes` worker processes (one
    Python process cannot make 500 connections a second), each with `threads` threads."""

    def __init__(self, port, processes, threads, rate):
        self.port = port
        self.processes = processes
        self.threads = threads
        self.rate = rate
        self.stop_file = tempfile.mktemp(prefix="ticketd-restarts-stop-")
        self.workers = []   # (pid, results path)
        self.sent = 0
        self.statuses = {}
        self.errors = []
        self.acked = []
        self.longest = 0.0

    def start(self):
        for i in range(self.processes):
            results = tempfile.mktemp(prefix=f"ticketd-restarts-{i}-")
            pid = os.fork()
            if pid == 0:
                try:
                    self.work(results)
                finally:
                    os._exit(0)
            self.workers.append((pid, results))

    def work(self, results):
        """One worker process: its threads place orders and write one line per request."""
        lock = threading.Lock()
        out = open(results, "w")
        interval = self.processes * self.threads / self.rate

        def run():
            next_at = time.monotonic()
            while not os.path.exists(self.stop_file):
                started = time.monotonic()
                step = "connect"
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                    conn.connect()
                    step = "send"
                    conn.request("POST", "/v1/orders", body=BODY,
                                 headers={"Content-Type": "application/json", "Connection": "close"})
                    step = "answer"
                    response = conn.getresponse()
                    body = response.read()
                    conn.close()
                    ticket = json.loads(body)["ticket"] if 200 <= response.status < 300 else "-"
                    line = f"{response.status} {time.monotonic() - started:.4f} {ticket}\n"
                except (OSError, http.client.HTTPException) as e:
                    line = (f"error {time.monotonic() - started:.4f} {type(e).__name__}:{str(e).replace(' ', '_')}"
                            f"_at_{step}_{time.time():.3f}\n")
                with lock:
                    out.write(line)
                next_at += interval
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)  # the load's pace
                else:
                    next_at = time.monotonic()

        threads = [threading.Thread(target=run) for _ in range(self.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        out.close()

    def finish(self):
        open(self.stop_file, "w").close()
        for pid, results in self.workers:
            os.waitpid(pid, 0)
            with open(results) as f:
                for line in f:
                    kind, took, rest = line.rstrip("\n").split(" ", 2)
                    self.sent += 1
                    self.longest = max(self.longest, float(took))
                    if kind == "error":
                        self.errors.append(rest)
                        continue
                    status = int(kind)
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    if 200 <= status < 300:
                        self.acked.append(rest)
            os.unlink(results)
        os.unlink(self.stop_file)


def start_daemon(binary, sock, workdir, log):
    """fork, the socket to descriptor 3, LISTEN_PID = the child's pid, exec: as systemd does."""
    config = os.path.join(workdir, "ticketd.yaml")
    args = [binary, "serve", "--config", config, "--db", os.path.join(workdir, "t.db")]
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(sock.fileno(), 3)
            os.set_inheritable(3, True)
            out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.dup2(out, 2)
            env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
            env.pop("NOTIFY_SOCKET", None)
            os.execve(binary, args, env)
        finally:
            os._exit(127)
    return pid


def wait_ready(port, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return True
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.02)  # a poll interval with a deadline
    return False


def stop_daemon(pid, timeout):
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "killed"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument("--rate", type=float, default=600, help="placements per second, all threads together")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=6, help="threads per load process")
    parser.add_argument("--between", type=float, default=1.0, help="seconds of load between restarts")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="ticketd-restarts-")
    with open(os.path.join(workdir, "ticketd.yaml"), "w") as f:
        f.write(CONFIG)
    log = os.path.join(workdir, "daemon.log")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    port = sock.getsockname()[1]
    emit("restarts_port", port)

    failures = []
    pid = start_daemon(args.binary, sock, workdir, log)
    if not wait_ready(port, 60):
        print(open(log).read(), file=sys.stderr)
        stop_daemon(pid, 10)
        print("restarts: the first daemon never became ready result=FAILED")
        return 1
    load = Load(port, args.processes, args.threads, args.rate)
    started = time.monotonic()
    load.start()
    exit_codes = []
    gaps = []
    timeline = []  # wall-clock times of each restart's steps, printed with errors
    for _ in range(args.restarts):
        time.sleep(args.between)  # steady load between restarts
        t0 = time.monotonic()
        timeline.append(f"{time.time():.3f} SIGTERM")
        exit_codes.append(stop_daemon(pid, 30))
        timeline.append(f"{time.time():.3f} exited")
        pid = start_daemon(args.binary, sock, workdir, log)
        if not wait_ready(port, 60):
            failures.append("a restarted daemon never became ready")
            break
        timeline.append(f"{time.time():.3f} ready")
        gaps.append(time.monotonic() - t0)
    time.sleep(args.between)
    load.finish()
    elapsed = time.monotonic() - started
    exit_codes.append(stop_daemon(pid, 30))
    sock.close()

    db = sqlite3.connect(f"file:{os.path.join(workdir, 't.db')}?mode=ro", uri=True)
    stored = {row[0] for row in db.execute("SELECT ticket FROM orders")}
    db.close()
    missing = [t for t in load.acked if t not in stored]
    non2xx = sum(n for s, n in load.statuses.items() if not 200 <= s < 300)

    emit("restarts_done", len(gaps))
    emit("restarts_requests", load.sent)
    emit("restarts_rate_per_s", round(load.sent / elapsed))
    emit("restarts_acknowledged", len(load.acked))
    emit("restarts_connection_errors", len(load.errors))
    emit("restarts_non_2xx", non2xx)
    emit("restarts_longest_wait_ms", round(load.longest * 1000, 1))
    emit("restarts_longest_restart_ms", round(max(gaps, default=0) * 1000, 1))
    emit("restarts_exit_codes", ",".join(str(c) for c in exit_codes))
    emit("restarts_acknowledged_missing", len(missing))
    for e in load.errors[:5]:
        print(f"restarts: error: {e}", file=sys.stderr)
    if load.errors:
        print("restarts: timeline: " + ", ".join(timeline), file=sys.stderr)
    if load.errors:
        failures.append(f"{len(load.errors)} connection errors")
    if non2xx:
        failures.append(f"{non2xx} answers outside 2xx: {load.statuses}")
    if missing:
        failures.append(f"{len(missing)} acknowledged orders missing")
    if any(c != 0 for c in exit_codes):
        failures.append(f"exit codes {exit_codes}")
    if len(gaps) < args.restarts:
        failures.append("not every restart happened")
    result = "ok" if not failures else "FAILED"
    print(f"restarts: {len(gaps)} restarts, {load.sent} requests at {round(load.sent / elapsed)}/s, "
          f"{len(load.errors)} connection errors, {non2xx} non-2xx, longest wait {round(load.longest * 1000)} ms "
          f"result={result}" + ("" if not failures else " (" + "; ".join(failures) + ")"))
    if failures:
        print(open(log).read()[-4000:], file=sys.stderr)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
