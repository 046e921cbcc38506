#!/usr/bin/env python3
"""scripts/bench --store postgres [--nodes N]: the PostgreSQL store beside SQLite, in one run.

Everything on this machine: PostgreSQL (a throwaway cluster, fsync on), the ticketd nodes and
wrk share the same cores. Prints name=value lines (pg_* and sqlite_*), then a Markdown table.

Steps, each on fresh databases (the earlier steps' databases dropped and a CHECKPOINT first):
  intake        wrk POST /v1/orders on one node (cooks 0): orders/s and p99
  polling       wrk GET /v1/tickets/{t} on an empty queue, then with 100,000 queued orders
  lifecycle     wrk POST on one node with 64 cooks of 0-second items: orders made ready per second
  order_claim   PostgreSQL: placed on node A, claimed by an idle cook on node B (cooking_at - created_at)
  release       PostgreSQL: a long poll on node B released by a cancel on node A (client-side)
  nodes         PostgreSQL: intake on N nodes at once (one wrk each) against one node alone
On SQLite the cross-node steps are measured within the one daemon.
"""
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("chaos", os.path.join(HERE, "..", "chaos.d", "chaos.py"))
chaos = importlib.util.module_from_spec(spec)
spec.loader.exec_module(chaos)
request = chaos.request

DURATION = int(os.environ.get("BENCH_DURATION", "10"))
QUEUED = int(os.environ.get("BENCH_SCALE_QUEUED", "100000"))
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "200"))
LIFECYCLE_COOKS = int(os.environ.get("BENCH_LIFECYCLE_COOKS", "64"))
results = {}
started_nodes = []


def out(name, value):
    results[name] = value
    print("%s=%s" % (name, value), flush=True)


def log(text):
    print("bench: " + text, file=sys.stderr, flush=True)


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


class Node:
    def __init__(self, binary, workdir, name, db, cooks, items):
        self.d = chaos.Daemon(binary, workdir, cooks, db=db, name=name)
        with open(os.path.join(workdir, name + ".yaml"), "w") as f:
            f.write("node_id: %s\nlog_level: notice\nmax_connections: 4000\n"
                    "tickets: {max_number: 1000000000}\nkitchen: {max_queued: 1000000000, lease_seconds: 30}\n"
                    "menu:\n%s" % (name, "".join("  - {item: %s, cook_seconds: 0}\n" % i for i in items)))

    def start(self):
        started_nodes.append(self)
        self.d.start()
        return self

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.d.port

    def stop(self):
        self.d.stop()


def wrk(prefix, script, url, conns=64, secs=DURATION, threads=2, env=None):
    e = dict(os.environ, BENCH_D=HERE, BENCH_PREFIX=prefix, BENCH_ITEMS="water,coffee", **(env or {}))
    r = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % secs, "--timeout", "5s",
                        "-s", os.path.join(HERE, script), url], env=e, capture_output=True, text=True,
                       timeout=secs + 60)
    vals = dict(re.findall(r"^%s_(\w+)=(\S+)$" % prefix, r.stdout, re.M))
    return vals


def place(url, n):
    port = int(url.rsplit(":", 1)[1])
    tickets = []
    for i in range(n):
        status, t = request(port, "POST", "/v1/orders", {"items": [{"item": "water", "quantity": 1}]})
        if status == 202:
            tickets.append(t)
    return tickets


def preload_sql(n):
    return ("INSERT INTO orders (ticket, number, status, priority, items, max_attempts, available_at, created_at) "
            "SELECT 'pre' || g, g, 'queued', CASE WHEN g % 10 = 0 THEN 'rush' ELSE 'normal' END, "
            "'[{\"item\":\"water\",\"quantity\":1}]', 3, now(), now() FROM generate_series(1, " + str(n) + ") g")


def main():
    args = sys.argv[1:]
    binary, nodes = None, 3
    while args:
        a = args.pop(0)
        if a == "--binary":
            binary = args.pop(0)
        elif a == "--nodes":
            nodes = int(args.pop(0))
    binary = os.path.abspath(binary)
    items = ["water", "coffee"]
    work = tempfile.mkdtemp(prefix="ticketd-bench-pg-")
    cluster = chaos.PgCluster()
    counter = [0]

    def fresh_pg():
        # The databases of earlier steps go first (their nodes are stopped by then), then a
        # checkpoint: a step does not pay for an earlier one's autovacuum or dirty pages.
        for k in range(1, counter[0] + 1):
            cluster.psql("DROP DATABASE IF EXISTS b%d WITH (FORCE)" % k, database="postgres")
        cluster.psql("CHECKPOINT", database="postgres")
        counter[0] += 1
        name = "b%d" % counter[0]
        cluster.psql("CREATE DATABASE %s" % name, database="postgres")
        return "postgres://postgres@127.0.0.1:%d/%s" % (cluster.port, name), name

    def fresh_sqlite():
        counter[0] += 1
        return os.path.join(work, "b%d.db" % counter[0])

    try:
        steps(binary, nodes, items, work, cluster, fresh_pg, fresh_sqlite)
    finally:
        for n in started_nodes:
            n.d.kill()
        cluster.stop()
    table(nodes)


def steps(binary, nodes, items, work, cluster, fresh_pg, fresh_sqlite):
    if True:
        for store in ["sqlite", "postgres"]:
            p = "pg" if store == "postgres" else "sqlite"
            # Intake, one node.
            db = fresh_pg()[0] if store == "postgres" else fresh_sqlite()
            n = Node(binary, work, "%s-intake" % p, db, 0, items).start()
            v = wrk("i", "intake.lua", n.url + "/v1/orders")
            out("%s_intake_rps" % p, v.get("rps"))
            out("%s_intake_p99_ms" % p, v.get("p99_ms"))
            n.stop()
            # Polling: empty queue, then 100,000 queued (preloaded before the node starts).
            for label, preload in [("empty", 0), ("queued", QUEUED)]:
                if store == "postgres":
                    db, name = fresh_pg()
                    if preload:
                        node0 = Node(binary, work, "%s-mig" % p, db, 0, items).start()
                        node0.stop()
                        cluster.psql(preload_sql(preload), database=name)
                else:
                    db = fresh_sqlite()
                    if preload:
                        node0 = Node(binary, work, "%s-mig" % p, db, 0, items).start()
                        node0.stop()
                        stamp = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
                        sql = ("WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM g WHERE x < %d) "
                               "INSERT INTO orders (ticket, number, status, priority, items, max_attempts, available_at, created_at) "
                               "SELECT 'pre' || x, x, 'queued', CASE WHEN x %% 10 = 0 THEN 'rush' ELSE 'normal' END, "
                               "'[{\"item\":\"water\",\"quantity\":1}]', 3, %s, %s FROM g" % (preload, stamp, stamp))
                        subprocess.run(["sqlite3", db, sql], check=True)
                n = Node(binary, work, "%s-poll-%s" % (p, label), db, 0, items).start()
                tickets = [t["ticket"] for t in place(n.url, 200)]
                tfile = os.path.join(work, "%s-%s.txt" % (p, label))
                with open(tfile, "w") as f:
                    f.write("\n".join(tickets) + "\n")
                v = wrk("p", "poll.lua", n.url, env={"BENCH_TICKETS": tfile})
                out("%s_polling_%s_rps" % (p, label), v.get("rps"))
                out("%s_polling_%s_p99_ms" % (p, label), v.get("p99_ms"))
                n.stop()
            # Lifecycle: placed and made ready by in-process cooks of 0-second items (cooks: 64,
            # every other kitchen key at its default, as scripts/bench's lifecycle step).
            db = fresh_pg()[0] if store == "postgres" else fresh_sqlite()
            n = Node(binary, work, "%s-life" % p, db, LIFECYCLE_COOKS, items).start()
            secs = DURATION * 2
            v = wrk("l", "intake.lua", n.url + "/v1/orders", secs=secs)
            time.sleep(2)
            port = n.d.port
            status, m = None, None
            reader = chaos.PgReader(cluster) if store == "postgres" else chaos.SQLiteReader(db)
            if store == "postgres":
                cluster_db = db.rsplit("/", 1)[1]
                ready = int(cluster.psql("SELECT count(*) FROM order_events WHERE to_status = 'ready'", database=cluster_db)[0][0])
            else:
                ready = reader.rows("SELECT count(*) FROM order_events WHERE to_status = 'ready'")[0][0]
            out("%s_lifecycle_completed_per_s" % p, "%.0f" % (ready / float(secs)))
            out("%s_lifecycle_intake_p99_ms" % p, v.get("p99_ms"))
            n.stop()
            # Order -> claim, and change -> long-poll release (across nodes on PostgreSQL).
            if store == "postgres":
                db, name = fresh_pg()
                a = Node(binary, work, "pg-a", db, 0, items).start()
                b = Node(binary, work, "pg-b", db, 4, items).start()
            else:
                db = fresh_sqlite()
                a = b = Node(binary, work, "sqlite-ab", db, 4, items).start()
            tickets = []
            for i in range(SAMPLES):
                tickets += place(a.url, 1)
                time.sleep(0.005 + (i * 7 % 16) / 1000.0)
            time.sleep(1)
            ids = ",".join("'%s'" % t["ticket"] for t in tickets)
            if store == "postgres":
                rows = cluster.psql("SELECT ticketd_ms(cooking_at) - ticketd_ms(created_at) FROM orders WHERE ticket IN (%s) "
                                    "AND cooking_at IS NOT NULL" % ids, database=name)
                gaps = [float(r[0]) for r in rows]
            else:
                rows = subprocess.run(["sqlite3", db, "SELECT (julianday(cooking_at) - julianday(created_at)) * 86400000 "
                                       "FROM orders WHERE ticket IN (%s) AND cooking_at IS NOT NULL" % ids],
                                      capture_output=True, text=True, check=True).stdout.split()
                gaps = [float(r) for r in rows]
            out("%s_order_to_claim_p50_ms" % p, "%.1f" % pct(gaps, 50))
            out("%s_order_to_claim_p99_ms" % p, "%.1f" % pct(gaps, 99))
            if store == "postgres":
                b.stop()
                b = Node(binary, work, "pg-b2", db, 0, items).start()
            else:
                a.stop()
                db = fresh_sqlite()
                a = b = Node(binary, work, "sqlite-ab2", db, 0, items).start()
            samples = []
            for i in range(SAMPLES):
                t = place(a.url, 1)[0]
                import http.client
                poll = http.client.HTTPConnection("127.0.0.1", b.d.port, timeout=40)
                poll.request("GET", "/v1/tickets/%s?wait=30&version=%d" % (t["ticket"], t["version"]))
                time.sleep(0.02)  # the poll is held by then
                t0 = time.perf_counter()
                request(a.d.port, "DELETE", "/v1/tickets/%s" % t["ticket"])
                r = poll.getresponse()
                r.read()
                t1 = time.perf_counter()
                poll.close()
                samples.append((t1 - t0) * 1000)
            out("%s_release_p50_ms" % p, "%.2f" % pct(samples, 50))
            out("%s_release_p99_ms" % p, "%.2f" % pct(samples, 99))
            a.stop()
            if b is not a:
                b.stop()
        # N nodes' intake together, on one database.
        db, name = fresh_pg()
        ns = [Node(binary, work, "pg-n%d" % i, db, 0, items).start() for i in range(nodes)]
        results_n = [None] * nodes

        def run(i):
            results_n[i] = wrk("n%d" % i, "intake.lua", ns[i].url + "/v1/orders", conns=max(8, 64 // nodes), threads=1)
        threads = [threading.Thread(target=run, args=(i,)) for i in range(nodes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = sum(float(r.get("rps", 0)) for r in results_n)
        out("pg_nodes", nodes)
        out("pg_nodes_intake_rps", "%.0f" % total)
        out("pg_nodes_intake_p99_ms", max(float(r.get("p99_ms", 0)) for r in results_n))
        for n in ns:
            n.stop()


def table(nodes):
    print("\n| figure | SQLite | PostgreSQL |\n|---|---|---|")
    for label, key in [("intake, one node (orders/s)", "intake_rps"), ("intake p99 (ms)", "intake_p99_ms"),
                       ("polling, empty queue (req/s)", "polling_empty_rps"),
                       ("polling, %d queued (req/s)" % QUEUED, "polling_queued_rps"),
                       ("lifecycle (ready/s)", "lifecycle_completed_per_s"),
                       ("order -> claim p99 (ms; PostgreSQL: node A -> node B)", "order_to_claim_p99_ms"),
                       ("change -> long-poll release p99 (ms; PostgreSQL: A -> B)", "release_p99_ms")]:
        print("| %s | %s | %s |" % (label, results.get("sqlite_" + key), results.get("pg_" + key)))
    print("| intake, %d nodes together (orders/s) | — | %s |" % (nodes, results.get("pg_nodes_intake_rps")))


if __name__ == "__main__":
    main()
