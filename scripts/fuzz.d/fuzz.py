#!/usr/bin/env python3
"""API and HTTP-layer fuzzing of ticketd (see scripts/fuzz).

1. schemathesis against GET /openapi.json with the bearer token (operator and kitchen routes
   included), with every check but use_after_free (a cancelled ticket stays readable by the SPEC,
   so a GET after DELETE answers 200 by design), positive_data_acceptance and
   negative_data_rejection included, until at least --requests requests reached the daemon
   (counted by the daemon itself: ticketd_http_requests_total). hooks.py makes each valid
   Idempotency-Key unique (a replayed key with another body is 422 by the SPEC) and caps valid
   kitchen leases at 2 s, so that every event stream ends by itself.
2. A raw-socket fuzzer: garbage, truncated requests, header floods, a 1 MiB header, pipelined
   junk, bad chunked encoding, slow partial requests. After every round a normal request must
   succeed and VmRSS is sampled.

Prints `name=value` lines and one summary line `fuzz: ...`; exits 1 on any failure.
"""
import argparse
import os
import random
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, TOKEN, emit, note, raw_exchange  # noqa: E402

CHECKS = "all"
EXCLUDED_CHECKS = "use_after_free"
HOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hooks.py")

# Short timers so that fuzzed long polls, claims and SSE streams end quickly: waits are capped at
# 1 s, orders cook at once and expire 1 s after ready (a final state ends an event stream), a
# failed attempt is retried within 2 s, and the fuzzer's own leases last at most 2 s (hooks.py).
# The board's and the kitchen's streams never end by themselves: event_stream_max_seconds bounds
# each to a quarter of a second (each one still sends its retry: hint and the current snapshot).
CONFIG = """long_poll_max_seconds: 1
event_stream_max_seconds: 0.25
request_read_timeout_seconds: 2
idle_timeout_seconds: 10
tickets:
  pickup_timeout_seconds: 1
kitchen:
  max_queued: 1000000
  retry_max_seconds: 2
menu:
  - {item: cheeseburger, cook_seconds: 0}
  - {item: fries, cook_seconds: 0}
  - {item: cola, cook_seconds: 0}
"""


def total_requests(daemon):
    return sum(daemon.requests_by_status().values())


def server_errors(daemon):
    return sum(n for s, n in daemon.requests_by_status().items() if s.startswith("5"))


def run_schemathesis(daemon, venv, want, seed, report_dir, budget_s):
    st = os.path.abspath(os.path.join(venv, "bin", "st"))
    before = total_requests(daemon)
    rounds = failures = errors = cases = 0
    exit_codes = []
    started = time.monotonic()
    while total_requests(daemon) - before < want and rounds < 4 and time.monotonic() - started < budget_s:
        junit = os.path.join(report_dir, f"junit-{rounds}.xml")
        # One worker: with two, hypothesis' lambda-source parsing (CPython's ast module, not
        # thread-safe in 3.11) once failed inside schemathesis with "AST constructor recursion
        # depth mismatch" -- an error of the tool, not of ticketd, but it fails the run.
        cmd = [st, "run", f"http://127.0.0.1:{daemon.port}/openapi.json",
               "--checks", CHECKS, "--exclude-checks", EXCLUDED_CHECKS, "-H", f"Authorization: Bearer {TOKEN}",
               "--max-examples", "120", "--seed", str(seed + rounds), "--workers", "1",
               "--request-timeout", "10", "--suppress-health-check", "all",
               "--report", "junit", "--report-junit-path", junit, "--max-time", str(int(budget_s / 2))]
        note("fuzz: " + " ".join(cmd))
        log = open(os.path.join(report_dir, f"schemathesis-{rounds}.log"), "w")
        try:
            # In the run's own directory: schemathesis keeps a cache (.schemathesis/) where it runs.
            rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=budget_s, cwd=report_dir,
                                env=dict(os.environ, NO_COLOR="1", SCHEMATHESIS_HOOKS=HOOKS)).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        log.close()
        exit_codes.append(rc)
        try:
            root = ET.parse(junit).getroot()
            for suite in root.iter("testsuite"):
                cases += int(suite.get("tests", 0))
                failures += int(suite.get("failures", 0))
                errors += int(suite.get("errors", 0))
        except (OSError, ET.ParseError) as e:
            note(f"fuzz: no junit report ({e})")
            errors += 1
        rounds += 1
    sent = total_requests(daemon) - before
    return {"requests": sent, "rounds": rounds, "operations_tested": cases, "failures": failures,
            "errors": errors, "exit_codes": ",".join(str(c) for c in exit_codes)}


# Raw-socket rounds: (name, list of (payload or chunks, shutdown after sending)).

def request_bytes(method="GET", path="/v1/board", headers=None, body=b""):
    h = {"Host": "127.0.0.1"}
    h.update(headers or {})
    if body and "Transfer-Encoding" not in h:
        h["Content-Length"] = str(len(body))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    return head.encode() + body


def rounds(rng):
    order = b'{"items": [{"item": "cola", "quantity": 1}]}'
    valid = [request_bytes(), request_bytes("POST", "/v1/orders", {"Content-Type": "application/json"}, order),
             request_bytes("GET", "/v1/menu"), request_bytes("GET", "/metrics")]
    yield "garbage", [(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096))), rng.random() < 0.5)
                      for _ in range(300)]
    yield "garbage_text", [("".join(rng.choice(" \r\n:/GETPOSTHTTP1.0abc%\x00\x7f") for _ in range(rng.randint(1, 600)))
                            .encode("latin-1"), True) for _ in range(300)]
    yield "truncated", [(v[:rng.randint(1, len(v) - 1)], True) for v in (rng.choice(valid) for _ in range(200))]
    yield "header_flood", [(request_bytes(headers={f"X-F-{i}": "v" * 8 for i in range(n)}), False)
                           for n in (1001, 2000, 5000, 20000) for _ in range(3)]
    yield "header_1mib", [(request_bytes(headers={"X-Big": "a" * (1 << 20)}), False) for _ in range(5)] + \
        [(request_bytes(path="/v1/board?" + "q" * (1 << 20)), False) for _ in range(3)]
    yield "pipelined_junk", [(rng.choice(valid) + rng.choice(valid) +
                              bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 512))), True) for _ in range(200)]
    bad_chunked = [
        b"ZZ\r\nabc\r\n0\r\n\r\n",                     # size is not hex
        b"5\r\nab",                                    # shorter than announced, then FIN
        b"-1\r\nabc\r\n0\r\n\r\n",                     # negative size
        b"ffffffffffffffffff\r\nabc\r\n",              # size overflow
        b"3\r\nabcXX0\r\n\r\n",                        # missing CRLF after the data
        b"3;ext=" + b"e" * 70000 + b"\r\nabc\r\n0\r\n\r\n",  # huge chunk extension
        b"0\r\nX-Trailer: " + b"t" * 100000 + b"\r\n\r\n",    # huge trailer
        b"10000\r\n" + b"{" * 65536 + b"\r\n0\r\n\r\n",      # body over max_body_bytes
    ]
    chunked = []
    for body in bad_chunked:
        for te in ("chunked", "chunked, chunked", "gzip, chunked"):
            chunked.append((request_bytes("POST", "/v1/orders", {"Content-Type": "application/json",
                                                                 "Transfer-Encoding": te}) + body, True))
        # Content-Length and Transfer-Encoding together (request smuggling)
        chunked.append((request_bytes("POST", "/v1/orders", {"Content-Type": "application/json", "Content-Length": "4",
                                                             "Transfer-Encoding": "chunked"}) + body, True))
    yield "bad_chunked", chunked
    yield "bad_request_line", [(line, True) for line in [
        b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\r\n\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"GET / HTTP/1.1\r\n Folded: header\r\n\r\n", b"G\x00T / HTTP/1.1\r\n\r\n",
        b"GET /v1/tickets/%zz HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /v1/tickets/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    ] * 5]


def classify(data, ended):
    if data.startswith(b"HTTP/1.1 5") or b"\r\n\r\nHTTP/1.1 5" in data or b"\nHTTP/1.1 5" in data:
        return "5xx"
    if data.startswith(b"HTTP/1."):
        return "answered"
    return ended  # closed, reset or timeout without an answer


def slow_partials(daemon, count, read_timeout):
    """Partial requests left open (no FIN): the request read timeout must close each."""
    results = []
    lock = threading.Lock()

    def one():
        data, ended = raw_exchange(daemon.port, b"GET /v1/board HTTP/1.1\r\nHost: x\r\nX-Half: ",
                                   timeout=read_timeout + 10)
        with lock:
            results.append(classify(data, ended))
    threads = [threading.Thread(target=one) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(read_timeout + 20)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--venv", required=True)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-schemathesis", action="store_true")
    ap.add_argument("--raw-repeat", type=int, default=3,
                    help="passes over the raw rounds (VmRSS after each pass shows whether it keeps growing)")
    args = ap.parse_args()

    daemon = Daemon(args.binary, config=CONFIG, cooks=2, label="ticketd-fuzz").start()
    report_dir = os.path.join(daemon.workdir, "reports")
    os.makedirs(report_dir, exist_ok=True)
    ok = True
    rss = [daemon.rss_kib()]
    emit("fuzz_rss_start_kib", rss[0])

    if not args.skip_schemathesis:
        s = run_schemathesis(daemon, args.venv, args.requests, args.seed, report_dir, budget_s=420)
        five = server_errors(daemon)
        for k, v in s.items():
            emit(f"schemathesis_{k}", v)
        emit("schemathesis_server_5xx", five)
        by_status = daemon.requests_by_status()
        emit("schemathesis_statuses", ",".join(f"{k}:{v}" for k, v in sorted(by_status.items())))
        if s["failures"] or s["errors"] or five or s["requests"] < args.requests:
            ok = False
            for name in sorted(os.listdir(report_dir)):
                if name.endswith(".log"):
                    with open(os.path.join(report_dir, name), errors="replace") as f:
                        text = f.read()
                    note(f"--- {name} (last 80 lines) ---\n" + "\n".join(text.splitlines()[-80:]))
        rss.append(daemon.rss_kib())
        emit("fuzz_rss_after_schemathesis_kib", rss[-1])
    else:
        s = {"requests": 0, "failures": 0, "errors": 0}

    raw_total = raw_5xx = raw_hangs = 0
    unhealthy_rounds = []
    pass_rss = []
    for rep in range(1, args.raw_repeat + 1):
        rng = random.Random(args.seed + rep)
        for name, cases in rounds(rng):
            outcomes = {}
            for payload, shutdown in cases:
                try:
                    data, ended = raw_exchange(daemon.port, payload, timeout=5.0, shutdown=shutdown)
                    kind = classify(data, ended)
                except OSError as e:
                    kind = "connect_error:" + type(e).__name__
                outcomes[kind] = outcomes.get(kind, 0) + 1
            raw_total += len(cases)
            raw_5xx += outcomes.get("5xx", 0)
            raw_hangs += outcomes.get("timeout", 0)
            healthy = daemon.alive() and daemon.healthy()
            rss.append(daemon.rss_kib())
            if rep == 1:
                emit(f"raw_{name}_cases", len(cases))
                emit(f"raw_{name}_outcomes", ",".join(f"{k}:{v}" for k, v in sorted(outcomes.items())))
                emit(f"raw_{name}_healthy_after", "yes" if healthy else "no")
                emit(f"raw_{name}_rss_kib", rss[-1])
            elif set(outcomes) - {"answered", "closed", "reset"}:
                emit(f"raw_{name}_pass{rep}_outcomes", ",".join(f"{k}:{v}" for k, v in sorted(outcomes.items())))
            if not healthy:
                unhealthy_rounds.append(f"{name}#{rep}")
        pass_rss.append(rss[-1])
        emit(f"raw_pass{rep}_rss_kib", rss[-1])
    slow = slow_partials(daemon, 50, read_timeout=2)
    slow_closed = sum(1 for k in slow if k in ("answered", "closed", "reset"))
    emit("raw_slow_partial_cases", len(slow))
    emit("raw_slow_partial_closed_by_server", slow_closed)
    raw_total += len(slow)
    healthy = daemon.alive() and daemon.healthy()
    rss.append(daemon.rss_kib())
    if not healthy:
        unhealthy_rounds.append("slow_partial")

    max_mb = max(rss) / 1024
    end_mb = rss[-1] / 1024
    emit("fuzz_rss_max_mb", f"{max_mb:.1f}")
    emit("fuzz_rss_end_mb", f"{end_mb:.1f}")
    status = daemon.stop()
    emit("fuzz_daemon_exit", status)
    if raw_5xx or raw_hangs or unhealthy_rounds or slow_closed != len(slow) or status != 0:
        ok = False
    print(f"fuzz: schemathesis_requests={s['requests']} schemathesis_failures={s['failures'] + s['errors']} "
          f"raw_passes={args.raw_repeat} raw_cases={raw_total} raw_5xx={raw_5xx} raw_hangs={raw_hangs} "
          f"unhealthy_rounds={len(unhealthy_rounds)} rss_start_mb={rss[0] / 1024:.1f} rss_max_mb={max_mb:.1f} "
          f"rss_end_mb={end_mb:.1f} result={'ok' if ok else 'FAILED'}", flush=True)
    daemon.finish(ok, "fuzz (ticketd.log, reports/)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
