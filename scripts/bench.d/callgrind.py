#!/usr/bin/env python3
"""Callgrind instruction counts per placement and per poll of a ticketd daemon (stdlib only).

Called by scripts/callgrind (see its header for the valgrind this needs). For each binary given
with --binary NAME=PATH, and each of --runs runs (interleaved: old, new, old, new, ...):

  1. writes a config (synchronous: full, tickets.max_number: 1000000, kitchen.max_queued: 1000000)
     in a fresh temporary directory and starts
       valgrind --tool=callgrind --instr-atstart=no ... BINARY serve --config CONFIG
         --listen 127.0.0.1:PORT --db TMP/t.db --cooks 0 --log-level error
  2. waits for GET /readyz 200;
  3. warm-up on one keep-alive loopback connection: --warmup placements, then --warmup polls;
  4. `callgrind_control --instr=on PID`, `callgrind_control --zero PID`;
  5. exactly N placements (POST /v1/orders, fixed JSON body), each must answer 202;
     `callgrind_control --dump=placements PID`  -> dump file 1 holds exactly this window;
  6. exactly N polls (GET /v1/tickets/<ticket>) of tickets placed in 5, each must answer 200;
     `callgrind_control --dump=polls PID`       -> dump file 2;
  7. (--idle-seconds > 0, default 10) no requests for that long, `callgrind_control --dump=idle PID`
     -> dump 3: the daemon's background work alone;
  8. SIGTERM, wait, clean up.

Counts are the `summary:` Ir of each dump file: every thread of the daemon (callgrind's default
--separate-threads=no), client instructions only, counted from the zero or the previous dump.
Instrumentation is off until step 4 (--instr-atstart=no), which makes start-up and warm-up faster
and does not change what is counted in the windows.

Background: the daemon also works on its own clock (the sweeper every 0.5 s: requeue expired
leases, expire uncollected, check for work; plus rarer timers). That work lands in every window in
proportion to the window's wall time, which valgrind and the machine's load stretch, so it makes
raw counts depend on load. Each dump's call counts give the number of sweeps in that window
(the most-called function matching --tick-function, default `Sweeper.*runOnce`); the idle
window gives Ir per sweep (all background included); the net count subtracts
  sweeps in the window x idle Ir per sweep.
Without a match (a stripped binary) it subtracts idle Ir/s x window seconds instead; with
--idle-seconds 0 it subtracts nothing (net = raw).

Prints `name=value` lines on stdout (diagnostics on stderr), for every run k of binary NAME:
  callgrind_NAME_runk_ir_per_placement, _ir_per_poll           net (background subtracted)
  callgrind_NAME_runk_ir_per_placement_raw, _ir_per_poll_raw   everything in the window
  callgrind_NAME_runk_background (sweeps|seconds|none), _background_placements_pct / _polls_pct,
  _sweeps (placements,polls,idle), _idle_ir_per_sweep, _idle_ir_per_s, _window_seconds, _seconds
and over the runs:
  callgrind_NAME_ir_per_placement, _ir_per_poll (+ _raw)   mean of the runs, with _spread_pct
                                                           ((max - min) / mean)
  callgrind_NEW_over_FIRST_ir_per_placement, _ir_per_poll (+ _raw)   ratio of the means
  callgrind_NEW_vs_FIRST_within_5pct = yes|no              (net ratios, --tolerance-pct)
Every step is bounded in time; children and temporary directories are removed on any exit.
Only 127.0.0.1 is used.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BODY = b'{"items":[{"item":"cheeseburger","quantity":2}],"customer":"Ana"}'
CONFIG = """\
synchronous: full
tickets:
  max_number: 1000000
kitchen:
  max_queued: 1000000
"""

CHILDREN = []   # Popen objects still to stop
TEMPDIRS = []   # directories to remove
KEEP = False


def out(name, value):
    print(f"{name}={value}", flush=True)


def log(message):
    print(f"callgrind: {message}", file=sys.stderr, flush=True)


class Failure(Exception):
    pass


# --- cleanup -------------------------------------------------------------------------------

def stop_child(proc, grace):
    """SIGTERM the child's process group, wait up to `grace` s, then SIGKILL it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything left in its group
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def cleanup():
    while CHILDREN:
        stop_child(CHILDREN.pop(), 5)
    while TEMPDIRS:
        d = TEMPDIRS.pop()
        if KEEP:
            log(f"kept {d}")
        else:
            shutil.rmtree(d, ignore_errors=True)


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


# --- a small blocking HTTP/1.1 client (keep-alive, Content-Length bodies) -------------------

class Conn:
    def __init__(self, port, timeout):
        self.port = port
        self.timeout = timeout
        self.sock = None
        self.buf = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(self, method, path, body=None):
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buf = b""
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + (body or b""))
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        raw, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                size_line, _, self.buf = self.buf.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._fill()
                data += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    break
        else:
            n = int(headers.get("content-length", "0"))
            while len(self.buf) < n:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n:]
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, data

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Failure("the daemon closed the connection")
        self.buf += chunk


def place(conn, deadline):
    if time.monotonic() > deadline:
        raise Failure("placements ran out of time")
    status, data = conn.request("POST", "/v1/orders", BODY)
    if status != 202:
        raise Failure(f"POST /v1/orders answered {status}: {data[:200]!r}")
    return json.loads(data)["ticket"]


def poll(conn, ticket, deadline):
    if time.monotonic() > deadline:
        raise Failure("polls ran out of time")
    status, data = conn.request("GET", f"/v1/tickets/{ticket}")
    if status != 200:
        raise Failure(f"GET /v1/tickets/{ticket} answered {status}: {data[:200]!r}")


# --- callgrind ------------------------------------------------------------------------------

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def control(args, pid, *command):
    """callgrind_control COMMAND PID (through vgdb; interrupts a daemon blocked in a syscall)."""
    argv = [args.callgrind_control, f"--vgdb-prefix={args._vgdb_prefix}", *command, str(pid)]
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=args.control_timeout, text=True)
    except subprocess.TimeoutExpired:
        raise Failure(f"{' '.join(argv)} did not answer within {args.control_timeout} s")
    if r.returncode != 0 or "Error" in r.stdout or "not found" in r.stdout:
        raise Failure(f"{' '.join(argv)} failed ({r.returncode}): {r.stdout.strip()[-400:]}")


def dump_files(out_base):
    d, base = os.path.split(out_base)
    pat = re.compile(re.escape(base) + r"\.(\d+)(-\d+)?$")  # base.N or base.N-TT (per thread)
    found = {}
    for name in os.listdir(d):
        m = pat.match(name)
        if m:
            found.setdefault(int(m.group(1)), []).append(os.path.join(d, name))
    return found


def parse_dump(path, names):
    """(Ir, {function name: calls to it}) of one callgrind dump file.

    Ir is the `summary:` line (else `totals:`): every event of the dump, all threads. Calls are
    summed from the `cfn=`/`calls=` pairs; `names` maps compressed ids `(n)` to names across the
    files of one run (callgrind names an id in full only at its first use).
    """
    events, summary, totals = None, None, None
    calls = {}
    cfn = None
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("cfn="):
                cfn = resolve(line[4:].strip(), names)
            elif line.startswith("calls="):
                if cfn is not None:
                    calls[cfn] = calls.get(cfn, 0) + int(line[6:].split()[0])
            elif line.startswith("fn="):
                resolve(line[3:].strip(), names)
            elif line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("summary:"):
                summary = line.split()[1:]
            elif line.startswith("totals:"):
                totals = line.split()[1:]
    values = summary or totals
    if not events or not values or totals is None:  # `totals:` ends a complete file
        raise Failure(f"{path}: no events/summary/totals line")
    ir = int(values[events.index("Ir")]) if "Ir" in events else int(values[0])
    return ir, calls


def resolve(spec, names):
    m = re.match(r"\((\d+)\)\s*(.*)$", spec)
    if not m:
        return spec
    if m.group(2):
        names[m.group(1)] = m.group(2)
    return names.get(m.group(1), spec)


def dump_ir(files, names):
    """Ir and call counts of one dump, summed over its files (one per thread with --separate-threads)."""
    total, calls = 0, {}
    for path in sorted(files):
        ir, c = parse_dump(path, names)
        total += ir
        for k, v in c.items():
            calls[k] = calls.get(k, 0) + v
    return total, calls


def ticks(calls, pattern):
    """Sweeps in a window: the most-called function whose name matches `pattern` (0 if none)."""
    counts = [v for k, v in calls.items() if pattern.search(k)]
    return max(counts) if counts else 0


def dump(args, pid, out_base, label, seen, names):
    control(args, pid, f"--dump={label}")
    deadline = time.monotonic() + args.control_timeout
    while True:
        files = dump_files(out_base)
        new = sorted(k for k in files if k not in seen)
        if new:
            if len(new) != 1:
                raise Failure(f"expected one new dump after '{label}', found {new}")
            seen.add(new[0])
            # a dump file is complete once callgrind_control returned; wait for its summary anyway
            try:
                return dump_ir(files[new[0]], names)
            except Failure:
                if time.monotonic() > deadline:
                    raise
        elif time.monotonic() > deadline:
            raise Failure(f"no dump file appeared after '{label}'")
        time.sleep(0.2)


def valgrind_crashed(path):
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    for needle in ("VALGRIND INTERNAL ERROR", "the 'impossible' happened", "I can't recover",
                   "unhandled instruction", "Unrecognised instruction", "SIGILL"):
        if needle in text:
            i = text.index(needle)
            start = text.rfind("\n", 0, max(0, i - 400)) + 1
            return text[start:i + 800]
    return None


def tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def one_run(args, name, binary, run):
    t0 = time.monotonic()
    work = tempfile.mkdtemp(prefix=f"ticketd-callgrind-{name}-{run}-")
    TEMPDIRS.append(work)
    args._vgdb_prefix = os.path.join(work, "vgdb-pipe")
    config = os.path.join(work, "t.yaml")
    with open(config, "w") as f:
        f.write(CONFIG)
    out_base = os.path.join(work, "callgrind.out")
    vg_log = os.path.join(work, "valgrind.log")
    proc, port = None, None
    for attempt in range(3):  # a port taken between free_port() and the daemon's bind: retry
        port = free_port()
        argv = [args.valgrind, "--tool=callgrind", "--instr-atstart=no",
                f"--callgrind-out-file={out_base}", "--dump-instr=no", "--dump-line=no",
                "--vgdb=yes", f"--vgdb-prefix={args._vgdb_prefix}",
                f"--log-file={vg_log}", *args.valgrind_option,
                binary, "serve", "--config", config, "--listen", f"127.0.0.1:{port}",
                "--db", os.path.join(work, "t.db"), "--cooks", "0", "--log-level", "error"]
        with open(os.path.join(work, "stdout.log"), "wb") as so, \
                open(os.path.join(work, "stderr.log"), "wb") as se:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=so, stderr=se,
                                    cwd=work, start_new_session=True)
        CHILDREN.append(proc)
        if attempt == 0:
            log(f"{name} run {run}: {' '.join(argv)}")
        # readiness
        deadline = time.monotonic() + args.start_timeout
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                c = Conn(port, 5)
                status, _ = c.request("GET", "/readyz")
                c.close()
                if status == 200:
                    ready = True
                    break
            except (OSError, Failure, ValueError, IndexError):
                pass
            time.sleep(0.5)
        if ready:
            break
        crash = valgrind_crashed(vg_log)
        stderr_tail = tail(os.path.join(work, "stderr.log"))
        CHILDREN.remove(proc)
        stop_child(proc, 10)
        if crash:
            raise Failure(f"{name}: valgrind failed:\n{crash}")
        if proc.returncode is not None and "address already in use" in stderr_tail.lower() and attempt < 2:
            log(f"{name}: port {port} taken, retrying")
            continue
        raise Failure(f"{name}: not ready within {args.start_timeout} s "
                      f"(exit {proc.returncode}); stderr:\n{stderr_tail}\nvalgrind log:\n{tail(vg_log)}")
    pid = proc.pid
    t_ready = time.monotonic()
    log(f"{name} run {run}: ready after {t_ready - t0:.1f} s (pid {pid}, port {port})")

    conn = Conn(port, args.request_timeout)
    try:
        deadline = time.monotonic() + args.phase_timeout
        warm = [place(conn, deadline) for _ in range(args.warmup)]
        for i in range(args.warmup):
            poll(conn, warm[i % len(warm)], deadline)

        seen = set(dump_files(out_base))
        names = {}
        control(args, pid, "--instr=on")
        control(args, pid, "--zero")

        t1 = time.monotonic()
        deadline = t1 + args.phase_timeout
        tickets = [place(conn, deadline) for _ in range(args.n)]
        ir_place, calls_place = dump(args, pid, out_base, "placements", seen, names)
        t2 = time.monotonic()
        deadline = t2 + args.phase_timeout
        for t in tickets:
            poll(conn, t, deadline)
        ir_poll, calls_poll = dump(args, pid, out_base, "polls", seen, names)
        t3 = time.monotonic()
        ir_idle, calls_idle, t4 = None, {}, t3
        if args.idle_seconds > 0:
            time.sleep(args.idle_seconds)
            ir_idle, calls_idle = dump(args, pid, out_base, "idle", seen, names)
            t4 = time.monotonic()
    finally:
        conn.close()

    CHILDREN.remove(proc)
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=args.stop_timeout)
    except subprocess.TimeoutExpired:
        code = None
    stop_child(proc, 5)
    crash = valgrind_crashed(vg_log)
    if crash:
        raise Failure(f"{name}: valgrind reported a problem:\n{crash}")
    if code != 0:
        log(f"{name} run {run}: daemon exit status after SIGTERM: {code}")
    if not KEEP:
        shutil.rmtree(work, ignore_errors=True)
        TEMPDIRS.remove(work)
    wall = time.monotonic() - t0
    # Background: work the daemon does on its own clock (the sweeper every 0.5 s, timers) lands
    # in every window in proportion to its wall time, which valgrind and the machine's load
    # stretch. The idle window measures it; it is subtracted per sweep counted in each window
    # (exact), else per second (when no function matches --tick-function, e.g. a stripped binary).
    pattern = re.compile(args.tick_function)
    k_place, k_poll, k_idle = ticks(calls_place, pattern), ticks(calls_poll, pattern), ticks(calls_idle, pattern)
    r = {"ir_per_placement_raw": ir_place / args.n, "ir_per_poll_raw": ir_poll / args.n,
         "placements_s": t2 - t1, "polls_s": t3 - t2, "seconds": wall,
         "sweeps_placements": k_place, "sweeps_polls": k_poll, "sweeps_idle": k_idle,
         "idle_s": t4 - t3, "idle_ir": ir_idle}
    if ir_idle is None:
        r["background"] = "none"
        bg_place = bg_poll = 0.0
    elif k_idle >= 2:
        r["background"] = "sweeps"
        r["idle_ir_per_sweep"] = ir_idle / k_idle
        bg_place, bg_poll = k_place * ir_idle / k_idle, k_poll * ir_idle / k_idle
    else:
        r["background"] = "seconds"
        bg_place, bg_poll = ir_idle / (t4 - t3) * (t2 - t1), ir_idle / (t4 - t3) * (t3 - t2)
    r["idle_ir_per_s"] = ir_idle / (t4 - t3) if ir_idle is not None else None
    r["background_placements_pct"] = 100 * bg_place / ir_place
    r["background_polls_pct"] = 100 * bg_poll / ir_poll
    r["ir_per_placement"] = (ir_place - bg_place) / args.n
    r["ir_per_poll"] = (ir_poll - bg_poll) / args.n
    log(f"{name} run {run}: {r['ir_per_placement']:,.0f} Ir/placement net, {r['ir_per_placement_raw']:,.0f} raw "
        f"({t2 - t1:.1f} s, {k_place} sweeps); {r['ir_per_poll']:,.0f} Ir/poll net, {r['ir_per_poll_raw']:,.0f} raw "
        f"({t3 - t2:.1f} s, {k_poll} sweeps); idle {k_idle} sweeps in {t4 - t3:.1f} s; run {wall:.1f} s")
    return r


def fmt(x):
    return f"{x:.0f}" if x >= 100 else f"{x:.4g}"


def main():
    global KEEP
    p = argparse.ArgumentParser(description="callgrind Ir per placement and per poll of ticketd")
    p.add_argument("--binary", action="append", required=True, metavar="NAME=PATH",
                   help="a ticketd binary, optionally named (repeat: --binary old=A --binary new=B)")
    p.add_argument("-n", "--n", type=int, default=2000, help="placements and polls measured (2000)")
    p.add_argument("--warmup", type=int, default=200, help="placements and polls before (200)")
    p.add_argument("--runs", type=int, default=2, help="runs of each binary (2)")
    p.add_argument("--valgrind", default=os.environ.get("VALGRIND", "valgrind"))
    p.add_argument("--callgrind-control", default=None,
                   help="default: callgrind_control beside --valgrind")
    p.add_argument("--valgrind-option", action="append", default=[],
                   help="extra valgrind option (repeat), e.g. --valgrind-option=--fair-sched=yes")
    p.add_argument("--idle-seconds", type=float, default=10.0,
                   help="idle window after the polls that measures the background (10; 0: none, "
                        "nothing subtracted)")
    p.add_argument("--tick-function", default=r"Sweeper.*runOnce",
                   help="regex of the function called once per background tick (the sweeper's)")
    p.add_argument("--tolerance-pct", type=float, default=5.0)
    p.add_argument("--start-timeout", type=float, default=600.0)
    p.add_argument("--phase-timeout", type=float, default=1800.0)
    p.add_argument("--request-timeout", type=float, default=120.0)
    p.add_argument("--control-timeout", type=float, default=120.0)
    p.add_argument("--stop-timeout", type=float, default=120.0)
    p.add_argument("--keep", action="store_true", help="keep the temporary directories")
    args = p.parse_args()
    KEEP = args.keep
    if args.n < 1 or args.warmup < 1 or args.runs < 1:
        p.error("-n, --warmup and --runs must be at least 1")

    binaries = []
    for i, spec in enumerate(args.binary):
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = f"b{i + 1}", spec
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            p.error(f"binary name '{name}' must be letters, digits, _")
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            p.error(f"{path}: not an executable file")
        if name in [b[0] for b in binaries]:
            p.error(f"binary name '{name}' given twice")
        binaries.append((name, os.path.abspath(path)))

    vg = shutil.which(args.valgrind)
    if not vg:
        p.error(f"{args.valgrind}: not found (scripts/callgrind --help says how to build one)")
    args.valgrind = vg
    if args.callgrind_control is None:
        beside = os.path.join(os.path.dirname(vg), "callgrind_control")
        args.callgrind_control = beside if os.access(beside, os.X_OK) else "callgrind_control"
    if not shutil.which(args.callgrind_control):
        p.error(f"{args.callgrind_control}: not found")
    version = subprocess.run([vg, "--version"], stdout=subprocess.PIPE, text=True, timeout=30).stdout.strip()

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)

    out("callgrind_valgrind", vg)
    out("callgrind_valgrind_version", version)
    out("callgrind_method", "instr-atstart=no; callgrind_control --instr=on, --zero, --dump after N "
        "placements, --dump after N polls, --dump after --idle-seconds; Ir = summary: of each dump "
        "(all threads); net = raw - sweeps in the window x idle Ir per sweep")
    out("callgrind_n", args.n)
    out("callgrind_warmup", args.warmup)
    started = time.monotonic()
    results = {name: [] for name, _ in binaries}
    try:
        for run in range(1, args.runs + 1):
            for name, path in binaries:
                r = one_run(args, name, path, run)
                results[name].append(r)
                pre = f"callgrind_{name}_run{run}"
                for key in ("ir_per_placement", "ir_per_poll", "ir_per_placement_raw", "ir_per_poll_raw"):
                    out(f"{pre}_{key}", fmt(r[key]))
                out(f"{pre}_background", r["background"])
                out(f"{pre}_background_placements_pct", f"{r['background_placements_pct']:.2f}")
                out(f"{pre}_background_polls_pct", f"{r['background_polls_pct']:.2f}")
                out(f"{pre}_sweeps", f"{r['sweeps_placements']},{r['sweeps_polls']},{r['sweeps_idle']}")
                if r.get("idle_ir_per_sweep"):
                    out(f"{pre}_idle_ir_per_sweep", fmt(r["idle_ir_per_sweep"]))
                if r["idle_ir_per_s"] is not None:
                    out(f"{pre}_idle_ir_per_s", fmt(r["idle_ir_per_s"]))
                out(f"{pre}_window_seconds", f"{r['placements_s']:.1f},{r['polls_s']:.1f}")
                out(f"{pre}_seconds", f"{r['seconds']:.1f}")
    except Failure as e:
        log(f"FAILED: {e}")
        return 1
    finally:
        cleanup()

    means = {}
    for name, _ in binaries:
        rs = results[name]
        means[name] = {}
        for key in ("ir_per_placement", "ir_per_poll", "ir_per_placement_raw", "ir_per_poll_raw"):
            vals = [r[key] for r in rs]
            mean = sum(vals) / len(vals)
            means[name][key] = mean
            out(f"callgrind_{name}_{key}", fmt(mean))
            out(f"callgrind_{name}_{key}_spread_pct", f"{100 * (max(vals) - min(vals)) / mean:.2f}")
    first = binaries[0][0]
    for name, _ in binaries[1:]:
        within = True
        for key in ("ir_per_placement", "ir_per_poll", "ir_per_placement_raw", "ir_per_poll_raw"):
            ratio = means[name][key] / means[first][key]
            out(f"callgrind_{name}_over_{first}_{key}", f"{ratio:.4f}")
            if not key.endswith("_raw"):
                within = within and abs(ratio - 1) * 100 <= args.tolerance_pct
        out(f"callgrind_{name}_vs_{first}_within_{args.tolerance_pct:g}pct", "yes" if within else "no")
    out("callgrind_seconds", f"{time.monotonic() - started:.0f}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        cleanup()
