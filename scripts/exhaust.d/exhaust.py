#!/usr/bin/env python3
"""Resource exhaustion against ticketd (see scripts/exhaust).

1. efbig: `prlimit --pid PID --fsize=N` (N a little above the database and WAL sizes) while 8
   clients place orders: writes fail with EFBIG → placements must answer 503 problem+json with
   Retry-After (never another 5xx), the daemon keeps running and reading; then
   `prlimit --fsize=unlimited` → placements succeed again without a restart.
2. enospc: the database on a small tmpfs (where this machine lets us mount one), the
   filesystem filled by a file → 503; the file removed → service resumes.
3. lock: an outside `sqlite3` holds `BEGIN IMMEDIATE` for 8 s (longer than the 5 s busy
   timeout) → placements answer 503 with Retry-After within the timeout (no hang), then resume.
After each: every order acknowledged (202) is still there (GET 200, and in the table after a clean
stop), and PRAGMA integrity_check is ok. Prints `name=value` lines and one summary line
`exhaust: ... result=ok|FAILED`; exits 1 on any failure.
"""
import argparse
import http.client
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz.d"))
from harness import Daemon, emit, note, sqlite_integrity  # noqa: E402

CONFIG = "menu:\n  - {item: cola, cook_seconds: 0}\n"


class Placer:
    """Clients placing orders; remembers every acknowledged ticket and every answer's status."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.lock = threading.Lock()
        self.acked = []
        self.statuses = {}
        self.bad_503 = 0      # 503 without problem+json or Retry-After
        self.slowest = 0.0
        self.last = None      # (ticket, position) of the last acknowledged placement

    def place_once(self, timeout=30):
        started = time.monotonic()
        try:
            status, headers, body = self.daemon.place(timeout=timeout)
        except (OSError, http.client.HTTPException) as e:
            status, headers, body = "error:" + type(e).__name__, {}, b""
        took = time.monotonic() - started
        with self.lock:
            self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
            self.slowest = max(self.slowest, took)
            if status == 202:
                ticket = json.loads(body)
                self.acked.append(ticket["ticket"])
                self.last = (ticket["ticket"], ticket.get("position"))
            elif status == 503:
                if headers.get("content-type") != "application/problem+json" or "retry-after" not in headers:
                    self.bad_503 += 1
        return status

    def run_until(self, stop, clients=8):
        def loop():
            while not stop.is_set():
                self.place_once()
        threads = [threading.Thread(target=loop, daemon=True) for _ in range(clients)]
        for t in threads:
            t.start()
        return threads

    def other_failures(self):
        return sum(v for k, v in self.statuses.items() if k not in ("202", "503"))


def until(predicate, timeout, step=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def verify_acked(daemon, placer, label):
    """Every acknowledged ticket answers 200 now, and is in the table after a clean stop."""
    missing = 0
    for ticket in placer.acked:
        status, _, _ = daemon.request("GET", f"/v1/tickets/{ticket}", timeout=10)
        if status != 200:
            missing += 1
    exit_status = daemon.stop()
    db = sqlite3.connect(daemon.db)
    have = {row[0] for row in db.execute("SELECT ticket FROM orders")}
    # The in-memory queue index (positions) must have stayed in step with the table through
    # the failed batches: the last placement's position is the count of queued orders before it.
    position_ok = True
    if placer.last is not None:
        ticket, position = placer.last
        (before,) = db.execute("SELECT count(*) FROM orders WHERE status = 'queued' AND id < "
                               "(SELECT id FROM orders WHERE ticket = ?)", (ticket,)).fetchone()
        position_ok = position == before
        emit(f"{label}_last_position", f"{position}(table:{before})")
    db.close()
    lost = sum(1 for t in placer.acked if t not in have)
    integrity = sqlite_integrity(daemon.db)
    emit(f"{label}_acknowledged", len(placer.acked))
    emit(f"{label}_missing_over_http", missing)
    emit(f"{label}_lost", lost)
    emit(f"{label}_integrity", integrity)
    emit(f"{label}_daemon_exit", exit_status)
    return missing == 0 and lost == 0 and integrity == "ok" and exit_status == 0 and position_ok


def placements_resume(placer, timeout=30):
    started = time.monotonic()
    ok = until(lambda: placer.place_once(timeout=10) == 202, timeout, step=0.2)
    return ok, time.monotonic() - started


def efbig(binary):
    daemon = Daemon(binary, config=CONFIG, label="ticketd-efbig").start()
    placer = Placer(daemon)
    for _ in range(50):
        placer.place_once()
    sizes = [os.path.getsize(p) for p in (daemon.db, daemon.db + "-wal") if os.path.exists(p)]
    limit = max(sizes) + 128 * 1024
    emit("efbig_fsize_limit_bytes", limit)
    subprocess.run(["prlimit", "--pid", str(daemon.pid), f"--fsize={limit}:unlimited"], check=True, timeout=10)
    stop = threading.Event()
    threads = placer.run_until(stop)
    hit = until(lambda: placer.statuses.get("503", 0) > 0 or not daemon.alive(), 120)
    acked_at_first_503 = len(placer.acked)
    time.sleep(3)  # keep placing into the failing disk for a while: every answer must be a 503
    reads_ok = daemon.alive() and daemon.healthy()
    stop.set()
    for t in threads:
        t.join(40)
    alive = daemon.alive()
    emit("efbig_first_503_after_acknowledged", acked_at_first_503)
    emit("efbig_statuses_while_limited", ",".join(f"{k}:{v}" for k, v in sorted(placer.statuses.items())))
    emit("efbig_503_without_problem_or_retry_after", placer.bad_503)
    emit("efbig_daemon_alive", "yes" if alive else "no")
    emit("efbig_reads_while_limited", "ok" if reads_ok else "failed")
    if not alive:
        note(daemon.log_tail())
        emit("efbig_resumed", "no")
        return False, placer
    subprocess.run(["prlimit", "--pid", str(daemon.pid), "--fsize=unlimited"], check=True, timeout=10)
    resumed, took = placements_resume(placer)
    emit("efbig_resumed", "yes" if resumed else "no")
    emit("efbig_resume_s", f"{took:.2f}")
    for _ in range(20):
        placer.place_once()
    ok = hit and resumed and reads_ok and placer.bad_503 == 0 and placer.other_failures() == 0
    ok = verify_acked(daemon, placer, "efbig") and ok
    daemon.cleanup()
    return ok, placer


def enospc(binary):
    mount = tempfile.mkdtemp(prefix="ticketd-enospc-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mount], capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        emit("enospc", "skipped(mount tmpfs: " + (r.stderr.strip().splitlines() or ["not allowed"])[-1].replace(" ", "_") + ")")
        os.rmdir(mount)
        return None, None
    try:
        # Only the database is on the small filesystem: the daemon's log is not.
        daemon = Daemon(binary, config=CONFIG, label="ticketd-enospc", db_dir=mount).start()
        placer = Placer(daemon)
        for _ in range(50):
            placer.place_once()
        filler = os.path.join(mount, "filler")
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True, timeout=60)
        emit("enospc_free_bytes_after_fill", shutil.disk_usage(mount).free)
        stop = threading.Event()
        threads = placer.run_until(stop)
        hit = until(lambda: placer.statuses.get("503", 0) > 0 or not daemon.alive(), 120)
        time.sleep(3)
        reads_ok = daemon.alive() and daemon.healthy()
        stop.set()
        for t in threads:
            t.join(40)
        emit("enospc_statuses_while_full", ",".join(f"{k}:{v}" for k, v in sorted(placer.statuses.items())))
        emit("enospc_503_without_problem_or_retry_after", placer.bad_503)
        emit("enospc_daemon_alive", "yes" if daemon.alive() else "no")
        emit("enospc_reads_while_full", "ok" if reads_ok else "failed")
        os.remove(filler)
        resumed, took = placements_resume(placer) if daemon.alive() else (False, 0.0)
        emit("enospc_resumed", "yes" if resumed else "no")
        emit("enospc_resume_s", f"{took:.2f}")
        ok = hit and resumed and reads_ok and placer.bad_503 == 0 and placer.other_failures() == 0
        ok = verify_acked(daemon, placer, "enospc") and ok
        daemon.finish(ok, "exhaust", lines=60)
        return ok, placer
    finally:
        subprocess.run(["umount", "-l", mount], capture_output=True, timeout=20)
        shutil.rmtree(mount, ignore_errors=True)


def lock(binary, hold_s):
    daemon = Daemon(binary, config=CONFIG, label="ticketd-lock").start()
    placer = Placer(daemon)
    for _ in range(20):
        placer.place_once()
    marker = os.path.join(daemon.workdir, "locked")
    holder = subprocess.Popen(["sqlite3", daemon.db], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=daemon.workdir)
    holder.stdin.write(f"BEGIN IMMEDIATE;\n.shell touch {marker}\n".encode())
    holder.stdin.flush()
    locked = until(lambda: os.path.exists(marker), 10, step=0.02)
    emit("lock_taken", "yes" if locked else "no")
    locked_at = time.monotonic()
    during = {}
    times = []
    lock_ = threading.Lock()

    def one():
        started = time.monotonic()
        status = placer.place_once(timeout=30)
        with lock_:
            during[str(status)] = during.get(str(status), 0) + 1
            times.append(time.monotonic() - started)
    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    reads_ok = daemon.healthy()
    time.sleep(max(0.0, hold_s - (time.monotonic() - locked_at)))  # the outside process holds the lock this long
    holder.stdin.write(b"COMMIT;\n.quit\n")
    holder.stdin.close()
    holder.wait(timeout=20)
    emit("lock_held_s", f"{time.monotonic() - locked_at:.1f}")
    emit("lock_statuses_while_held", ",".join(f"{k}:{v}" for k, v in sorted(during.items())))
    emit("lock_slowest_answer_s", f"{max(times) if times else 0:.1f}")
    emit("lock_503_without_problem_or_retry_after", placer.bad_503)
    emit("lock_reads_while_held", "ok" if reads_ok else "failed")
    resumed, took = placements_resume(placer)
    emit("lock_resumed", "yes" if resumed else "no")
    emit("lock_resume_s", f"{took:.2f}")
    ok = locked and during.get("503", 0) == len(threads) and placer.bad_503 == 0 and resumed and reads_ok
    ok = verify_acked(daemon, placer, "lock") and ok
    daemon.cleanup()
    return ok, during


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--hold", type=float, default=8.0)
    ap.add_argument("--only", default="efbig,enospc,lock", help="comma-separated parts to run")
    args = ap.parse_args()
    parts = args.only.split(",")
    results = {}
    if "efbig" in parts:
        results["efbig"], _ = efbig(args.binary)
    if "enospc" in parts:
        results["enospc"], _ = enospc(args.binary)
    if "lock" in parts:
        results["lock"], _ = lock(args.binary, args.hold)
    ok = all(v is not False for v in results.values())
    print("exhaust: " + " ".join(f"{k}={'skipped' if v is None else ('ok' if v else 'FAILED')}" for k, v in results.items())
          + f" result={'ok' if ok else 'FAILED'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
