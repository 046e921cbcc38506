#!/usr/bin/env python3
"""Chaos run for ticketd: mixed load, SIGKILL at random moments, invariants after each restart.

Load (all on 127.0.0.1, bounded): placements with and without Idempotency-Key (and retries of
the same key), polls and long polls, customer cancels, pickups, external-cook claims with
ready/fail, while in-process cooks cook with the command handler. The daemon is SIGKILLed at a
random moment each cycle and restarted on the same database.

Checked after every restart and at the end:
  * every order acknowledged with a 2xx exists, in the acknowledged state or a later one
    (its version is at least the acknowledged one; an acknowledged final state stays);
  * an idempotent retry never made a second order;
  * live ticket numbers are unique;
  * no order became ready twice (order_events);
  * PRAGMA integrity_check is ok;
and at the end, with cooks running and no more kills, nothing stays queued or cooking.

With --store postgres --nodes N, N nodes share one PostgreSQL database (a throwaway cluster
started here from Debian's postgresql binaries, as the `postgres` user when run as root); each
cycle SIGKILLs a random non-empty set of nodes, and some cycles (--db-restart-every) also
restart PostgreSQL with `pg_ctl restart -m immediate`. The same invariants are read with psql.
"""
import argparse
import http.client
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

FINAL = {"picked_up", "cancelled", "failed", "expired"}
ORDER = {"queued": 0, "cooking": 1, "ready": 2}
TOKEN = "chaos-token"


def request(port, method, path, body=None, headers=None, timeout=5.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return resp.status, parsed
    finally:
        conn.close()


class Ledger:
    """What the clients were told, keyed by ticket."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}        # ticket -> (status, version)
        self.ids = {}          # ticket -> order id (when known)
        self.keys = {}         # idempotency key -> ticket
        self.violations = []
        self.placed = 0

    def ack(self, ticket, status, version, order_id=None):
        with self.lock:
            old = self.acked.get(ticket)
            if old is None or version >= old[1]:
                self.acked[ticket] = (status, version)
            if order_id is not None:
                self.ids[ticket] = order_id

    def violation(self, text):
        with self.lock:
            self.violations.append(text)
        print("VIOLATION:", text, file=sys.stderr, flush=True)


class Daemon:
    def __init__(self, binary, workdir, cooks, db=None, name="ticketd"):
        self.binary = binary
        self.workdir = workdir
        self.cooks = cooks
        self.db = db or os.path.join(workdir, "chaos.db")
        self.name = name
        self.proc = None
        self.port = None

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=30.0):
        log = open(os.path.join(self.workdir, self.name + ".log"), "ab")
        config = os.path.join(self.workdir, self.name + ".yaml")
        if not os.path.exists(config):
            config = os.path.join(self.workdir, "ticketd.yaml")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--config", config,
             "--db", self.db, "--listen", "127.0.0.1:0",
             "--cooks", str(self.cooks)],
            cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        buf = b""
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            log.write(line)
            buf += line
            m = re.search(rb"ticketd listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                threading.Thread(target=self._drain, args=(log,), daemon=True).start()
                return
        raise RuntimeError("ticketd did not start:\n" + buf.decode(errors="replace"))

    def _drain(self, log):
        for line in self.proc.stderr:
            log.write(line)
        log.close()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait(timeout=10)
        return self.proc.returncode if self.proc else None


def client(ports, ledger, rng, stop, items):
    """One load client: a random mix of everything a customer or an external cook does, each
    request to a random node (`ports` is a function returning the nodes' ports)."""
    while not stop.is_set():
        action = rng.random()
        live = ports()
        if not live:
            time.sleep(0.01)
            continue
        port = rng.choice(live)
        try:
            if action < 0.40:
                body = {"items": [{"item": rng.choice(items), "quantity": rng.randint(1, 3)}],
                        "priority": rng.choice(["normal", "normal", "rush"])}
                headers = {}
                key = None
                if rng.random() < 0.4:
                    with ledger.lock:
                        reuse = list(ledger.keys.items())
                    if reuse and rng.random() < 0.3:
                        key, _ = rng.choice(reuse)
                        body = None  # resend the recorded body below
                    else:
                        key = "k-%d-%d" % (os.getpid(), rng.getrandbits(48))
                    headers["Idempotency-Key"] = key
                if body is None:
                    with ledger.lock:
                        ticket0 = ledger.keys[key]
                        body = ledger.bodies[key]
                status, t = request(port, "POST", "/v1/orders", body, headers)
                if status == 202 and t:
                    ledger.ack(t["ticket"], "queued", 1)
                    if key:
                        with ledger.lock:
                            prev = ledger.keys.get(key)
                            if prev is not None and prev != t["ticket"]:
                                ledger.violations.append("key %s made two orders" % key)
                            ledger.keys[key] = t["ticket"]
                            if not hasattr(ledger, "bodies"):
                                ledger.bodies = {}
                            ledger.bodies[key] = body
                    with ledger.lock:
                        ledger.placed += 1
            elif action < 0.55:
                ticket = pick(ledger, rng)
                if ticket:
                    status, t = request(port, "GET", "/v1/tickets/%s?wait=0.2" % ticket)
                    if status == 200 and t:
                        ledger.ack(ticket, t["status"], t["version"])
            elif action < 0.65:
                ticket = pick(ledger, rng)
                if ticket:
                    status, t = request(port, "DELETE", "/v1/tickets/%s" % ticket)
                    if status == 200 and t:
                        ledger.ack(ticket, t["status"], t["version"])
            elif action < 0.85:
                ticket = pick(ledger, rng)
                if ticket:
                    status, t = request(port, "POST", "/v1/tickets/%s/pickup" % ticket)
                    if status == 200 and t:
                        ledger.ack(ticket, t["status"], t["version"])
            else:
                auth = {"Authorization": "Bearer " + TOKEN}
                status, c = request(port, "POST", "/v1/kitchen/claim",
                                    {"cook": "external", "lease_seconds": 5, "wait": 0.2}, auth)
                if status == 200 and c:
                    o = c["order"]
                    ledger.ack(o["ticket"], o["status"], o["version"], o["id"])
                    path = "/v1/kitchen/orders/%d/%s" % (o["id"], "ready" if rng.random() < 0.7 else "fail")
                    status, o2 = request(port, "POST", path, {"lease": c["lease"]} if path.endswith("ready")
                                         else {"lease": c["lease"], "error": "chaos", "retry": True}, auth)
                    if status == 200 and o2:
                        ledger.ack(o2["ticket"], o2["status"], o2["version"], o2["id"])
        except (OSError, http.client.HTTPException):
            time.sleep(0.01)  # the daemon is down (being killed or restarting): back off a little


def pick(ledger, rng):
    with ledger.lock:
        if not ledger.acked:
            return None
        return rng.choice(list(ledger.acked.keys()))


class SQLiteReader:
    """Read-only queries on the SQLite database."""

    def __init__(self, path):
        self.path = path

    def rows(self, sql):
        db = sqlite3.connect("file:%s?mode=ro" % self.path, uri=True, timeout=10)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def integrity(self):
        return self.rows("PRAGMA integrity_check")[0][0]


class PgCluster:
    """A throwaway PostgreSQL cluster on a free loopback port, its socket in its directory."""

    def __init__(self):
        roots = sorted((int(v) for v in os.listdir("/usr/lib/postgresql") if v.isdigit()), reverse=True) \
            if os.path.isdir("/usr/lib/postgresql") else []
        bins = ["/usr/lib/postgresql/%d/bin" % v for v in roots if os.path.exists("/usr/lib/postgresql/%d/bin/initdb" % v)]
        if not bins:
            raise SystemExit("chaos: PostgreSQL's server binaries are missing: run scripts/ensure-deps (apt-get install postgresql)")
        self.bin = bins[0]
        self.dir = tempfile.mkdtemp(prefix="ticketd-chaos-pg-")
        os.chmod(self.dir, 0o755)
        self.as_root = os.geteuid() == 0
        if self.as_root:
            subprocess.run(["chown", "postgres:postgres", self.dir], check=True)
        self.run([self.bin + "/initdb", "-D", self.dir + "/data", "--auth=trust", "-U", "postgres", "--no-sync"])
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200" % (self.port, self.dir)
        self.run([self.bin + "/pg_ctl", "-D", self.dir + "/data", "-l", self.dir + "/log", "-w", "-o", self.opts, "start"])
        self.psql("CREATE DATABASE chaos", database="postgres")
        self.url = "postgres://postgres@127.0.0.1:%d/chaos" % self.port

    def run(self, argv):
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def restart_immediately(self):
        self.run([self.bin + "/pg_ctl", "-D", self.dir + "/data", "-l", self.dir + "/log", "-w", "-m", "immediate",
                  "-o", self.opts, "restart"])

    def psql(self, sql, database="chaos"):
        out = subprocess.run([self.bin + "/psql", "-h", self.dir, "-p", str(self.port), "-U", "postgres", "-d", database,
                              "-qAtX", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                             check=True, capture_output=True, text=True).stdout
        return [tuple(line.split("\t")) for line in out.splitlines() if line != ""]

    def stop(self):
        try:
            self.run([self.bin + "/pg_ctl", "-D", self.dir + "/data", "-m", "immediate", "-w", "stop"])
        except subprocess.CalledProcessError:
            pass
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)


class PgReader:
    """The same queries through psql (integers come back as text: converted where compared)."""

    def __init__(self, cluster):
        self.cluster = cluster

    def rows(self, sql):
        out = []
        for row in self.cluster.psql(sql):
            out.append(tuple(int(v) if v.lstrip("-").isdigit() else v for v in row))
        return out

    def integrity(self):
        # No integrity_check on PostgreSQL; a read of every order and event has to work.
        self.rows("SELECT count(*) FROM orders JOIN order_events ON order_events.order_id = orders.id")
        return "ok"


def check(reader, ledger, cycle):
    """The invariants, read with a read-only connection."""
    if True:
        rows = {t: (s, v) for t, s, v in reader.rows("SELECT ticket, status, version FROM orders")}
        with ledger.lock:
            acked = dict(ledger.acked)
        for ticket, (status, version) in acked.items():
            if ticket not in rows:
                ledger.violation("cycle %d: acknowledged ticket %s is gone" % (cycle, ticket))
                continue
            now_status, now_version = rows[ticket]
            if now_version < version:
                ledger.violation("cycle %d: ticket %s went back from version %d to %d" % (cycle, ticket, version, now_version))
            if status in FINAL and now_status != status:
                ledger.violation("cycle %d: ticket %s left final state %s for %s" % (cycle, ticket, status, now_status))
        dup = reader.rows("SELECT number, count(*) FROM orders WHERE status IN ('queued','cooking','ready') "
                          "GROUP BY number HAVING count(*) > 1")
        if dup:
            ledger.violation("cycle %d: live numbers shared: %s" % (cycle, dup))
        twice = reader.rows("SELECT order_id FROM order_events WHERE to_status = 'ready' "
                            "GROUP BY order_id HAVING count(*) > 1")
        if twice:
            ledger.violation("cycle %d: orders ready twice: %s" % (cycle, twice))
        ok = reader.integrity()
        if ok != "ok":
            ledger.violation("cycle %d: integrity_check: %s" % (cycle, ok))
        return len(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--cycles", type=int, default=50)
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--min-run", type=float, default=0.3)
    ap.add_argument("--max-run", type=float, default=1.5)
    ap.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--nodes", type=int, default=1, help="PostgreSQL: nodes sharing the database")
    ap.add_argument("--db-restart-every", type=int, default=4,
                    help="PostgreSQL: restart the database (immediate) in one cycle of this many, at random")
    args = ap.parse_args()
    if args.store == "sqlite" and args.nodes != 1:
        raise SystemExit("chaos: several nodes need --store postgres (one daemon per SQLite database)")
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    workdir = tempfile.mkdtemp(prefix="ticketd-chaos-")
    with open(os.path.join(workdir, "token"), "w") as f:
        f.write(TOKEN + "\n")
    # The command handler cooks: a short sleep, sometimes a failure (retried with backoff).
    with open(os.path.join(workdir, "ticketd.yaml"), "w") as f:
        f.write("""admin_token_file: %s
tickets:
  max_number: 100000
  pickup_timeout_seconds: 3600
kitchen:
  handler: command
  command: ["/bin/bash", "-c", "sleep 0.0$((RANDOM %% 5)); [ $((RANDOM %% 10)) -ne 0 ]"]
  command_timeout_seconds: 5
  lease_seconds: 2
  max_attempts: 50
  retry_base_seconds: 0.05
  retry_max_seconds: 0.2
  shutdown_grace_seconds: 1
menu:
  - {item: burger, cook_seconds: 0.05}
  - {item: fries, cook_seconds: 0.02}
  - {item: cola, cook_seconds: 0}
""" % os.path.join(workdir, "token"))
    items = ["burger", "fries", "cola"]
    cluster = None
    if args.store == "postgres":
        cluster = PgCluster()
        reader = PgReader(cluster)
        db_location = cluster.url
        for i in range(1, args.nodes + 1):
            with open(os.path.join(workdir, "ticketd.yaml")) as f:
                base = f.read()
            with open(os.path.join(workdir, "n%d.yaml" % i), "w") as f:
                f.write("node_id: n%d\n" % i + base)
    else:
        reader = SQLiteReader(os.path.join(workdir, "chaos.db"))
        db_location = None
    ledger = Ledger()
    ledger.bodies = {}
    daemons = [Daemon(os.path.abspath(args.binary), workdir, cooks=3, db=db_location,
                      name=("n%d" % (i + 1)) if cluster else "ticketd") for i in range(args.nodes)]

    def ports():
        return [d.port for d in daemons if d.alive and d.port]

    started = time.monotonic()
    rows = 0
    db_restarts = 0
    try:
        for cycle in range(1, args.cycles + 1):
            for d in daemons:
                if not d.alive:
                    d.start()
            rows = check(reader, ledger, cycle)
            stop = threading.Event()
            threads = [threading.Thread(target=client, args=(ports, ledger, random.Random(rng.random()), stop, items),
                                        daemon=True) for _ in range(args.clients)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(args.min_run, args.max_run))  # a random moment to die
            victims = [d for d in daemons if rng.random() < 0.5] or [rng.choice(daemons)]
            for d in victims:
                d.kill()
            if cluster and rng.randrange(args.db_restart_every) == 0:
                # The database crashes and recovers under the surviving nodes' load.
                cluster.restart_immediately()
                db_restarts += 1
                time.sleep(rng.uniform(0.2, 1.0))
            stop.set()
            for t in threads:
                t.join(timeout=10)
        # The end: no more kills; cooks and a collecting client finish everything.
        for d in daemons:
            if not d.alive:
                d.start()
        rows = check(reader, ledger, args.cycles + 1)
        deadline = time.monotonic() + 120
        live = None
        while time.monotonic() < deadline:
            ready = [t for (t,) in reader.rows("SELECT ticket FROM orders WHERE status = 'ready'")]
            live = reader.rows("SELECT count(*) FROM orders WHERE status IN ('queued','cooking')")[0][0]
            for t in ready:
                try:
                    status, body = request(rng.choice(ports()), "POST", "/v1/tickets/%s/pickup" % t)
                except (OSError, http.client.HTTPException) as e:
                    print("chaos: a pickup failed (%s); trying again" % e, file=sys.stderr, flush=True)
                    continue
                if status == 200 and body:
                    ledger.ack(t, body["status"], body["version"])
            if live == 0 and not ready:
                break
            time.sleep(0.2)
        if live:
            ledger.violation("%d orders still queued or cooking 120 s after the last restart" % live)
        for d in daemons:
            code = d.stop()
            if code != 0:
                ledger.violation("the final SIGTERM of %s exited with %s" % (d.name, code))
        rows = check(reader, ledger, args.cycles + 2)
    finally:
        for d in daemons:
            d.kill()
        if cluster and sys.exc_info()[0] is not None:
            cluster.stop()
    elapsed = time.monotonic() - started
    statuses = ",".join("%s:%d" % r for r in reader.rows("SELECT status, count(*) FROM orders GROUP BY status ORDER BY status"))
    attempts = reader.rows("SELECT count(*) FROM order_events WHERE to_status = 'cooking'")[0][0]
    if cluster:
        cluster.stop()
    print("chaos: final statuses %s; %d claims in all" % (statuses, attempts), file=sys.stderr, flush=True)
    with ledger.lock:
        extra = " store=postgres nodes=%d db_restarts=%d" % (args.nodes, db_restarts) if cluster else ""
        print("chaos: cycles=%d orders=%d acknowledged=%d violations=%d seed=%d seconds=%.0f%s workdir=%s" % (
            args.cycles, rows, len(ledger.acked), len(ledger.violations), seed, elapsed, extra, workdir), flush=True)
        failed = bool(ledger.violations)
    if not failed:
        import shutil
        shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
