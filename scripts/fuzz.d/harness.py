"""Shared pieces of scripts/fuzz, scripts/hostile and scripts/exhaust: one ticketd child on a free
127.0.0.1 port in a temporary directory (with an admin token), plain HTTP calls, VmRSS samples.

Everything is bounded: every call has a timeout, and `Daemon.stop()` (also run at exit and on
SIGTERM/SIGINT of the script) ends the child with SIGTERM, then SIGKILL.
"""
import atexit
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOKEN = "reliability-token"


def emit(name, value):
    """One grep-friendly figure on standard output."""
    print(f"{name}={value}", flush=True)


def note(text):
    print(text, file=sys.stderr, flush=True)


class Daemon:
    """A ticketd child. `config` is extra YAML appended to the base configuration."""

    def __init__(self, binary, config="", cooks=0, label="ticketd", workdir=None, db_dir=None):
        self.binary = os.path.abspath(binary)
        self.own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix=f"{label}-")
        self.cooks = cooks
        self.proc = None
        self.port = None
        self.db = os.path.join(db_dir or self.workdir, "t.db")
        self.log_path = os.path.join(self.workdir, "ticketd.log")
        with open(os.path.join(self.workdir, "admin-token"), "w") as f:
            f.write(TOKEN + "\n")
        with open(os.path.join(self.workdir, "ticketd.yaml"), "w") as f:
            f.write("log_level: notice\n")
            f.write(f"admin_token_file: {os.path.join(self.workdir, 'admin-token')}\n")
            f.write(config)
        atexit.register(self.stop)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: sys.exit(130))

    def start(self, timeout=60.0, preexec=None):
        # stderr is a pipe drained by a thread (not a file the daemon writes): under
        # `prlimit --fsize` a log file of its own would hit the limit too.
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--config", os.path.join(self.workdir, "ticketd.yaml"),
             "--db", self.db, "--listen", "127.0.0.1:0", "--cooks", str(self.cooks)],
            cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, preexec_fn=preexec)
        log = open(self.log_path, "ab")
        deadline = time.monotonic() + timeout
        seen = b""
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            log.write(line)
            seen += line
            m = re.search(rb"ticketd listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                threading.Thread(target=self._drain, args=(log,), daemon=True).start()
                return self
        self.stop()
        raise RuntimeError("ticketd did not start:\n" + seen.decode(errors="replace"))

    def _drain(self, log):
        try:
            for line in self.proc.stderr:
                log.write(line)
                log.flush()
        finally:
            log.close()

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self):
        """VmRSS of the daemon in KiB (0 once it has ended)."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def stop(self, grace=15.0):
        """SIGTERM, then SIGKILL after `grace`; returns the exit status (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def finish(self, ok, label, lines=30):
        """Removes the work directory after a passing run; after a failing one keeps it and
        prints where it is and the end of the daemon's log."""
        if ok:
            self.cleanup()
        else:
            note(f"{label}: kept {self.workdir}")
            note(self.log_tail(lines))

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    # HTTP

    def request(self, method, path, body=None, headers=None, timeout=10.0, token=False, raw_body=None):
        """(status, headers dict lower-cased, body bytes); raises on network errors."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            h = dict(headers or {})
            data = raw_body
            if body is not None:
                data = json.dumps(body).encode()
                h["Content-Type"] = "application/json"
            if token:
                h["Authorization"] = f"Bearer {TOKEN}"
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw
        finally:
            conn.close()

    def place(self, timeout=30.0):
        return self.request("POST", "/v1/orders", body={"items": [{"item": "cola", "quantity": 1}]}, timeout=timeout)

    def healthy(self, timeout=5.0):
        """True when a normal request (GET /v1/board) is answered 200."""
        try:
            status, _, _ = self.request("GET", "/v1/board", timeout=timeout)
            return status == 200
        except (OSError, http.client.HTTPException):
            return False

    def metric(self, name):
        """The sum of a metric's samples from /metrics (0 when absent)."""
        _, _, raw = self.request("GET", "/metrics", timeout=10)
        total = 0.0
        for line in raw.decode(errors="replace").splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                try:
                    total += float(line.rsplit(" ", 1)[1])
                except ValueError:
                    pass
        return total

    def requests_by_status(self):
        """{status: count} from ticketd_http_requests_total."""
        _, _, raw = self.request("GET", "/metrics", timeout=10)
        counts = {}
        for line in raw.decode(errors="replace").splitlines():
            if line.startswith("ticketd_http_requests_total{"):
                m = re.search(r'status="(\d+)"', line)
                if m:
                    counts[m.group(1)] = counts.get(m.group(1), 0) + int(float(line.rsplit(" ", 1)[1]))
        return counts


def sqlite_integrity(db):
    out = subprocess.run(["sqlite3", db, "PRAGMA integrity_check"], capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or out.stderr.strip()


def raw_exchange(port, data, timeout=5.0, shutdown=False, chunks=None):
    """Sends `data` (or `chunks`, one send each) on a fresh connection, reads until the server closes or
    `timeout`; returns (bytes read, how it ended: 'closed', 'reset', 'timeout')."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.settimeout(timeout)
        try:
            for piece in (chunks if chunks is not None else [data]):
                s.sendall(piece)
            if shutdown:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            return b"", "reset"
        got = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return got, "timeout"
            except ConnectionResetError:
                return got, "reset"
            if not chunk:
                return got, "closed"
            got += chunk
        return got, "timeout"
    finally:
        s.close()


def percentile(values, p):
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(p / 100.0 * (len(ordered) - 1)))))
    return ordered[k]
