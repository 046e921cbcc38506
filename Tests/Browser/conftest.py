"""Fixtures of the browser tests: the real ticketd binary on a free loopback port in a temporary
directory, and headless Chromium (Debian's) driven by Selenium.

Every wait has a deadline (a condition polled until it holds, never a sleep as
synchronisation); the browser's console is read after each test, and an error there fails it
unless the test expected exactly that error (a refused connection while it stopped the daemon,
a 409 it provoked)."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

BINARY = os.environ.get("TICKETD_BINARY", "")
ARTIFACTS = os.environ.get("TICKETD_ARTIFACTS", os.path.join(os.getcwd(), ".artifacts", "browser"))
TOKEN = "browser-test-token-0123456789abcdef"

CONFIG = """listen: 127.0.0.1:{port}
database: {db}
log_level: info
{token_line}
tickets:
  pickup_timeout_seconds: 600
kitchen:
  cooks: 0
  max_attempts: 3
  retry_base_seconds: 0.2
  retry_max_seconds: 1
menu:
  - item: cheeseburger
    cook_seconds: 4
  - item: fries
    cook_seconds: 3
  - item: cola
    cook_seconds: 0.5
"""


def wait_until(what, condition, timeout=10.0, poll=0.02):
    """Polls `condition` until it returns a truthy value; fails at the deadline. An element the
    page replaced (or has not put back yet) while the condition read it counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (StaleElementReferenceException, NoSuchElementException):
            # The page re-rendered what the condition was reading (live updates): look again.
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """ticketd on 127.0.0.1 with its own directory, database and (unless told) admin token."""

    def __init__(self, workdir, with_token=True):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = os.path.join(workdir, "ticketd.db")
        token_line = ""
        if with_token:
            token_file = os.path.join(workdir, "admin-token")
            with open(token_file, "w") as f:
                f.write(TOKEN + "\n")
            os.chmod(token_file, 0o600)
            token_line = f"admin_token_file: {token_file}"
        self.config = os.path.join(workdir, "ticketd.yaml")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(port=self.port, db=self.db, token_line=token_line))
        self.process = None
        self.log_path = os.path.join(workdir, "ticketd.log")

    def start(self):
        log = open(self.log_path, "a")
        self.process = subprocess.Popen([BINARY, "serve", "--config", self.config], cwd=self.workdir,
                                        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        wait_until("ticketd to answer /readyz", self.ready, timeout=30)
        return self

    def ready(self):
        if self.process.poll() is not None:
            raise AssertionError(f"ticketd exited with {self.process.returncode}:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=1) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
                raise AssertionError("ticketd did not stop within 20 s of SIGTERM")
        return self.process.returncode if self.process else None

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    # ---- the API, as a client would use it --------------------------------------------------

    def call(self, method, path, body=None, token=False, expect=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {TOKEN}")
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                status, payload, headers = r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            status, payload, headers = e.code, e.read(), dict(e.headers)
        if expect is not None and status != expect:
            raise AssertionError(f"{method} {path} answered {status}, expected {expect}: {payload[:300]!r}")
        return status, (json.loads(payload) if payload else None), headers

    def place(self, items=(("cheeseburger", 1), ("fries", 2)), customer=None, priority="normal"):
        body = {"items": [{"item": i, "quantity": q} for i, q in items], "priority": priority}
        if customer:
            body["customer"] = customer
        return self.call("POST", "/v1/orders", body, expect=202)[1]

    def claim(self, order_id, cook="test-cook"):
        return self.call("POST", f"/v1/kitchen/orders/{order_id}/claim", {"cook": cook, "lease_seconds": 120},
                         token=True, expect=200)[1]

    def ready_order(self, order_id, lease):
        return self.call("POST", f"/v1/kitchen/orders/{order_id}/ready", {"lease": lease}, token=True, expect=200)[1]

    def order_id(self, ticket):
        orders = self.call("GET", "/v1/orders?limit=1000", token=True, expect=200)[1]["orders"]
        return next(o["id"] for o in orders if o["ticket"] == ticket)

    def ticket(self, ticket):
        return self.call("GET", f"/v1/tickets/{ticket}", expect=200)[1]


@pytest.fixture
def workdir():
    path = tempfile.mkdtemp(prefix="ticketd-browser-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemon(workdir):
    if not BINARY or not os.access(BINARY, os.X_OK):
        pytest.fail("TICKETD_BINARY must name the ticketd binary (scripts/browser-test sets it)")
    d = Daemon(workdir).start()
    yield d
    status = d.stop()
    if status not in (0, None):
        pytest.fail(f"ticketd exited with {status} at the end of the test:\n{d.log_tail()}")


class Browser:
    """One headless Chromium with its console collected; `expect_console(pattern)` allows an
    error a test provokes on purpose."""

    def __init__(self):
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--window-size=1920,1080", "--no-first-run", "--disable-extensions",
                    "--disable-background-networking", "--disable-component-update", "--lang=en-US"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(20)
        self.driver.set_script_timeout(20)
        self.expected = []
        self.console = []
        self.viewport(1920, 1080)

    def viewport(self, width, height, mobile=False):
        """An exact viewport (the window's size would include no browser frame in headless mode,
        but this makes it certain)."""
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def expect_console(self, pattern):
        self.expected.append(re.compile(pattern))

    def collect_console(self):
        for entry in self.driver.get_log("browser"):
            self.console.append(entry)

    def console_errors(self):
        self.collect_console()
        errors = [e for e in self.console if e.get("level") in ("SEVERE", "ERROR")]
        return [e for e in errors if not any(p.search(e.get("message", "")) for p in self.expected)]

    def screenshot(self, name):
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.join(ARTIFACTS, f"{name}.png")
        self.driver.save_screenshot(path)
        return path

    def quit(self):
        try:
            self.driver.quit()
        except Exception:  # the browser is gone already
            pass


@pytest.fixture
def browsers():
    """A factory of browsers; each one's console must hold no unexpected error at the end."""
    made = []

    def make():
        b = Browser()
        made.append(b)
        return b

    yield make
    problems = []
    for b in made:
        try:
            errors = b.console_errors()
        except Exception as e:  # the session died: that is a failure too
            errors = [{"message": f"could not read the console: {e}"}]
        if errors:
            problems.append("\n".join(e.get("message", "") for e in errors))
        b.quit()
    if problems:
        pytest.fail("errors in the browser console:\n" + "\n".join(problems))


@pytest.fixture
def browser(browsers):
    return browsers()


def pytest_terminal_summary(terminalreporter):
    """The accessibility checks' summary and where the screenshots are, before the closing line."""
    path = os.path.join(ARTIFACTS, "axe.txt")
    if os.path.exists(path):
        terminalreporter.write_line("accessibility (axe-core; a serious or critical violation fails the test):")
        with open(path) as f:
            for line in f:
                terminalreporter.write_line("  " + line.rstrip("\n"))
    terminalreporter.write_line(f"screenshots: {ARTIFACTS}")
