"""The pages in a real browser (headless Chromium from Debian, Selenium): the board, a customer's
ticket, the kitchen display and the operator console, against the real ticketd binary."""
import importlib.util
import os
import threading
import time

import pytest
from axe_selenium_python import Axe
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from conftest import ARTIFACTS, TOKEN, Daemon, wait_until


# ---- helpers --------------------------------------------------------------------------------------

def numbers(driver, list_id):
    """The numbers a list shows (read in the page at once: the lists change under the test)."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => Number(e.dataset.number));", f"#{list_id} li")


def card_numbers(driver, selector):
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => Number(e.dataset.number));", selector)


def click(driver, selector):
    """Clicks the element matching `selector` as it is now (cards are redrawn on each event)."""
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); if (!e) return false; e.click(); return true;", selector)


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def axe_script():
    """axe-core 4.x as axe-playwright-python ships it (installed without Playwright), else the
    older one axe-selenium-python bundles."""
    spec = importlib.util.find_spec("axe_playwright_python")
    if spec and spec.submodule_search_locations:
        path = os.path.join(list(spec.submodule_search_locations)[0], "axe.min.js")
        if os.path.exists(path):
            return path
    return None


def accessibility(browser, page):
    """axe-core on the page as it is now: no serious or critical violation."""
    script = axe_script()
    axe = Axe(browser.driver, script_url=script) if script else Axe(browser.driver)
    axe.inject()
    results = axe.run()
    bad = [v for v in results["violations"] if v.get("impact") in ("serious", "critical")]
    summary = {v["id"]: len(v["nodes"]) for v in results["violations"]}
    version = browser.driver.execute_script("return window.axe && axe.version")
    line = f"axe-core {version} on {page}: {len(results['passes'])} rules passed, violations {summary or 'none'}"
    print(line)
    with open(os.path.join(ARTIFACTS, "axe.txt"), "a") as f:
        f.write(line + "\n")
    assert not bad, f"axe on {page}: " + "; ".join(f"{v['id']} ({v['impact']}): {v['help']}" for v in bad)


def sign_in(driver):
    field = wait_until("the token field", lambda: driver.find_elements(By.ID, "token"))[0]
    field.send_keys(TOKEN)
    driver.find_element(By.CSS_SELECTOR, ".token-form button[type=submit]").click()


def confirm_dialog(driver):
    wait_until("the confirmation", lambda: driver.execute_script(
        "return document.querySelector('dialog[open]') !== null"))
    driver.find_element(By.CSS_SELECTOR, "dialog[open] button[value=yes]").click()


# ---- the board ------------------------------------------------------------------------------------

def test_board_shows_orders_live(daemon, browser):
    d = browser.driver
    first = daemon.place()
    d.get(daemon.url + "/")
    wait_until("the first board", lambda: numbers(d, "preparing") == [first["number"]])
    d.execute_script("window.__notReloaded = true")

    # A new order appears under Preparing, without a reload.
    second = daemon.place(items=(("cola", 1),))
    start = time.monotonic()
    wait_until("the new order under Preparing", lambda: second["number"] in numbers(d, "preparing"), timeout=5)
    assert time.monotonic() - start <= 1.0, "a new order shows within 1 s"

    # Ready moves it to the Ready column within 1 s of the change, highlighted.
    claim = daemon.claim(daemon.order_id(second["ticket"]))
    daemon.ready_order(claim["order"]["id"], claim["lease"])
    start = time.monotonic()
    wait_until("the order under Ready", lambda: numbers(d, "ready") == [second["number"]], timeout=5)
    elapsed = time.monotonic() - start
    assert elapsed <= 1.0, f"ready shows within 1 s of the change (took {elapsed:.3f} s)"
    assert second["number"] not in numbers(d, "preparing")
    assert d.execute_script("return document.querySelector(arguments[0]).classList.contains('fresh')",
                            f"#ready li[data-number='{second['number']}']")
    assert d.execute_script("return window.__notReloaded === true"), "the page was not reloaded"
    assert d.find_element(By.ID, "ready").get_attribute("aria-live") == "polite"

    # Read across a room: at 1920x1080 a number is at least 8 % of the viewport's height.
    size, height = d.execute_script(
        "const li = document.querySelector('#ready li');"
        "return [parseFloat(getComputedStyle(li).fontSize), window.innerHeight];")
    assert height == 1080
    assert size >= 0.08 * height, f"font size {size} px at a viewport {height} px high"

    # The typical wait shows once an order became ready.
    wait_until("the typical wait", lambda: d.find_element(By.ID, "wait").is_displayed(), timeout=20)

    # Picked up: the number leaves the board.
    daemon.call("POST", f"/v1/tickets/{second['ticket']}/pickup", expect=200)
    wait_until("the number to leave", lambda: second["number"] not in numbers(d, "ready"), timeout=5)
    accessibility(browser, "board")


def test_board_screenshots(daemon, browser):
    """A busy board, as the README shows it (1920x1080), and on a phone (390x844)."""
    d = browser.driver
    # Numbers in the forties, as in a restaurant that has been open for a while.
    for _ in range(40):
        daemon.call("DELETE", f"/v1/tickets/{daemon.place()['ticket']}", expect=200)
    placed = [daemon.place(items=(("fries", 1),)) for _ in range(14)]
    for order in placed[:5]:
        claim = daemon.claim(daemon.order_id(order["ticket"]))
        daemon.ready_order(claim["order"]["id"], claim["lease"])
    d.get(daemon.url + "/board")
    wait_until("the busy board", lambda: len(numbers(d, "ready")) == 5 and len(numbers(d, "preparing")) == 9, timeout=10)
    wait_until("the typical wait", lambda: d.find_element(By.ID, "wait").is_displayed(), timeout=20)
    # One more ready, so that the picture shows a freshly called number.
    claim = daemon.claim(daemon.order_id(placed[5]["ticket"]))
    daemon.ready_order(claim["order"]["id"], claim["lease"])
    wait_until("the called number", lambda: d.find_elements(By.CSS_SELECTOR, "#ready li.fresh"), timeout=5)
    browser.screenshot("board-1920x1080")
    browser.viewport(390, 844, mobile=True)
    wait_until("the phone layout", lambda: d.execute_script("return window.innerWidth") == 390)
    browser.screenshot("board-390x844")
    accessibility(browser, "board on a phone")


def test_board_recovers_after_restart(daemon, browser):
    d = browser.driver
    # While the daemon is down, the browser's reconnects are refused: the errors this test makes.
    browser.expect_console(r"/v1/board/events - Failed to load resource: net::ERR_CONNECTION_REFUSED")
    browser.expect_console(r"/v1/board/events.*net::ERR_(CONNECTION_REFUSED|EMPTY_RESPONSE|CONNECTION_RESET)")
    first = daemon.place()
    d.get(daemon.url + "/")
    wait_until("the board", lambda: numbers(d, "preparing") == [first["number"]])
    d.execute_script("window.__notReloaded = true")

    assert daemon.stop() == 0
    wait_until("the page to say it is disconnected", lambda: d.find_element(By.ID, "connection").is_displayed(), timeout=10)
    daemon.start()
    second = daemon.place()
    wait_until("the board after the restart", lambda: numbers(d, "preparing") == [first["number"], second["number"]],
               timeout=15)
    wait_until("the disconnected notice to go", lambda: not d.find_element(By.ID, "connection").is_displayed(), timeout=5)
    assert d.execute_script("return window.__notReloaded === true"), "recovered without a reload"


# ---- a customer's ticket --------------------------------------------------------------------------

def step_current(driver):
    return driver.execute_script("const li = document.querySelector('#steps li[aria-current=step]'); return li ? li.dataset.step : null;")


def test_ticket_page_walks_to_picked_up(daemon, browser):
    d = browser.driver
    daemon.place(items=(("fries", 1),))   # one ahead
    order = daemon.place(customer="Ana")
    assert order["number"] > 0
    d.get(daemon.url + f"/t/{order['ticket']}")
    wait_until("the number", lambda: text(d, "number") == str(order["number"]))
    wait_until("queued", lambda: step_current(d) == "queued")
    assert "queue" in text(d, "message")
    assert text(d, "position") == "1"
    wait_until("a countdown", lambda: text(d, "estimate") != "")
    assert d.find_element(By.ID, "cancel").is_displayed()
    browser.viewport(390, 844, mobile=True)
    browser.screenshot("ticket-queued-390x844")
    accessibility(browser, "ticket (queued)")

    order_id = daemon.order_id(order["ticket"])
    claim = daemon.claim(order_id)
    wait_until("cooking", lambda: step_current(d) == "cooking", timeout=5)
    assert "cooked" in text(d, "message")
    assert not d.find_element(By.ID, "cancel").is_displayed()

    daemon.ready_order(order_id, claim["lease"])
    wait_until("ready", lambda: step_current(d) == "ready", timeout=5)
    assert "ready" in text(d, "message").lower()
    assert "counter" in text(d, "advice")
    browser.screenshot("ticket-ready-390x844")
    browser.viewport(1920, 1080)
    browser.screenshot("ticket-ready-1920x1080")
    accessibility(browser, "ticket (ready)")

    d.find_element(By.ID, "pickup").click()
    confirm_dialog(d)
    wait_until("picked up", lambda: "Collected" in text(d, "message"), timeout=5)
    assert daemon.ticket(order["ticket"])["status"] == "picked_up"


def test_ticket_page_cancel(daemon, browser):
    d = browser.driver
    order = daemon.place()
    d.get(daemon.url + f"/t/{order['ticket']}")
    wait_until("the cancel button", lambda: d.find_element(By.ID, "cancel").is_displayed())
    d.find_element(By.ID, "cancel").click()
    confirm_dialog(d)
    wait_until("cancelled", lambda: "cancelled" in text(d, "message"), timeout=5)
    assert daemon.ticket(order["ticket"])["status"] == "cancelled"
    assert not d.find_element(By.ID, "cancel").is_displayed()


def test_ticket_page_words_for_other_states(daemon, browser):
    d = browser.driver
    browser.expect_console(r"/v1/tickets/[A-Za-z0-9_-]+ - Failed to load resource: the server responded with a status of 404")
    d.get(daemon.url + "/t/AZ3kqM4rJmQxN0v7bS9wYc2dEfGhIj")
    wait_until("the unknown ticket said", lambda: "No order" in text(d, "message"))
    # Handed back: cooking, then back to the queue (the cook's attempt failed, attempts left).
    order = daemon.place()
    d.get(daemon.url + f"/t/{order['ticket']}")
    wait_until("queued", lambda: step_current(d) == "queued")
    order_id = daemon.order_id(order["ticket"])
    claim = daemon.claim(order_id)
    wait_until("cooking", lambda: step_current(d) == "cooking", timeout=5)
    daemon.call("POST", f"/v1/kitchen/orders/{order_id}/fail", {"lease": claim["lease"], "error": "burnt"},
                token=True, expect=200)
    wait_until("handed back", lambda: "back to the queue" in text(d, "message"), timeout=5)


# ---- the kitchen display --------------------------------------------------------------------------

def open_kitchen(browser, daemon, name):
    d = browser.driver
    d.get(daemon.url + "/kitchen")
    sign_in(d)
    wait_until("the kitchen", lambda: d.find_element(By.ID, "kitchen").is_displayed())
    cook = d.find_element(By.ID, "cook")
    cook.clear()
    cook.send_keys(name)
    return d


def test_kitchen_two_screens(daemon, browsers):
    a, b = browsers(), browsers()
    da = open_kitchen(a, daemon, "grill-1")
    db = open_kitchen(b, daemon, "grill-2")
    rush = daemon.place(items=(("fries", 2), ("fries", 1), ("cola", 1)), priority="rush")
    normal = daemon.place(items=(("cheeseburger", 1),))

    def queue_numbers(driver):
        return card_numbers(driver, "#queue .card")

    for driver in (da, db):
        wait_until("both orders, rush first", lambda: queue_numbers(driver) == [rush["number"], normal["number"]], timeout=5)
    card_class, card_text = da.execute_script(
        "const c = document.querySelector(arguments[0]); return [c.className, c.innerText];",
        f"#queue .card[data-number='{rush['number']}']")
    assert "rush" in card_class
    assert "3× fries" in card_text and "1× cola" in card_text, card_text
    a.screenshot("kitchen-1920x1080")
    accessibility(a, "kitchen")

    # Both screens press Start on the same order at once: exactly one cooks it.
    b.expect_console(r"/v1/kitchen/orders/\d+/claim - Failed to load resource: the server responded with a status of 409")
    a.expect_console(r"/v1/kitchen/orders/\d+/claim - Failed to load resource: the server responded with a status of 409")
    selector = f"#queue .card[data-number='{rush['number']}'] button.start"
    threads = [threading.Thread(target=click, args=(driver, selector)) for driver in (da, db)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    def mine(driver):
        return card_numbers(driver, "#mine .card")

    wait_until("one screen to cook it", lambda: (rush["number"] in mine(da)) != (rush["number"] in mine(db)), timeout=5)
    winner, loser = (da, db) if rush["number"] in mine(da) else (db, da)
    # The other screen no longer offers it: it is cooking elsewhere (or was refused with 409).
    wait_until("the other screen to show it elsewhere",
               lambda: rush["number"] in card_numbers(loser, "#elsewhere .card"), timeout=5)
    assert rush["number"] not in card_numbers(loser, "#queue .card")
    order_id = daemon.order_id(rush["ticket"])
    owner = daemon.call("GET", f"/v1/orders/{order_id}", token=True, expect=200)[1]
    assert owner["status"] == "cooking"
    assert owner["attempts"] == 1, "claimed once"

    # A stale card on the other screen cannot start it either: the claim is refused (409).
    status = loser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"fetch('/v1/kitchen/orders/{order_id}/claim', {{method: 'POST', headers: {{'Content-Type': 'application/json',"
        f" Authorization: 'Bearer ' + sessionStorage.getItem('ticketd.adminToken')}}, body: JSON.stringify({{cook: 'late'}})}})"
        ".then(r => done(r.status), () => done(0));")
    assert status == 409

    # Done on the winning screen: the order is ready.
    assert click(winner, f"#mine .card[data-number='{rush['number']}'] button.done")
    wait_until("ready", lambda: daemon.ticket(rush["ticket"])["status"] == "ready", timeout=5)
    wait_until("the card to leave", lambda: rush["number"] not in mine(winner), timeout=5)


def test_kitchen_renews_the_lease_of_an_open_card(daemon, browser):
    d = open_kitchen(browser, daemon, "wok")
    order = daemon.place()
    wait_until("the card's start", lambda: click(d, f"#queue .card[data-number='{order['number']}'] button.start"))
    wait_until("mine", lambda: order["number"] in card_numbers(d, "#mine .card"), timeout=5)
    order_id = daemon.order_id(order["ticket"])
    first = daemon.call("GET", f"/v1/orders/{order_id}", token=True, expect=200)[1]["lease_expires_at"]
    # The page renews every 20 s; a reload renews at once (and keeps the card: the lease is kept for the tab).
    d.refresh()
    wait_until("the lease renewed", lambda: daemon.call("GET", f"/v1/orders/{order_id}", token=True)[1]["lease_expires_at"] > first,
               timeout=10)
    assert order["number"] in card_numbers(d, "#mine .card")


def test_operator_access_off(workdir, browsers):
    d_off = Daemon(workdir, with_token=False).start()
    try:
        b = browsers()
        for page in ("/kitchen", "/admin"):
            b.driver.get(d_off.url + page)
            wait_until("the notice", lambda: "Operator access is off" in b.driver.find_element(By.ID, "access").text)
            assert not b.driver.find_elements(By.ID, "token")
    finally:
        assert d_off.stop() == 0


# ---- the operator console -------------------------------------------------------------------------

def test_console_requeue_brings_a_failed_order_back(daemon, browser):
    d = browser.driver
    order = daemon.place()
    order_id = daemon.order_id(order["ticket"])
    claim = daemon.claim(order_id)
    daemon.call("POST", f"/v1/kitchen/orders/{order_id}/fail", {"lease": claim["lease"], "error": "fryer jammed", "retry": False},
                token=True, expect=200)
    assert daemon.ticket(order["ticket"])["status"] == "failed"
    for _ in range(3):
        daemon.place(items=(("cola", 1),))

    d.get(daemon.url + "/admin")
    sign_in(d)
    wait_until("the console", lambda: d.find_element(By.ID, "console").is_displayed())
    wait_until("the counts", lambda: d.find_elements(By.ID, "count-queued"))
    wait_until("3 queued", lambda: "3" in text(d, "count-queued"), timeout=10)
    wait_until("a chart", lambda: d.find_elements(By.CSS_SELECTOR, "#chart-throughput polyline"))
    Select(d.find_element(By.ID, "status-filter")).select_by_value("failed")
    selector = f"#order-rows tr[data-order='{order_id}']"
    wait_until("the failed order with its error", lambda: "fryer jammed" in d.find_element(By.CSS_SELECTOR, selector).text
               if d.find_elements(By.CSS_SELECTOR, selector) else None)
    # The list re-renders on live updates: find the button afresh for the click.
    wait_until("the order opened", lambda: d.find_element(By.CSS_SELECTOR, selector + " button.open-order").click() or True)
    wait_until("the order's history", lambda: len(d.find_elements(By.CSS_SELECTOR, "#events tr")) >= 3)
    browser.screenshot("console-1920x1080")
    accessibility(browser, "console")
    d.find_element(By.ID, "do-requeue").click()
    confirm_dialog(d)
    wait_until("requeued", lambda: "Back in the queue" in text(d, "detail-message"), timeout=5)
    assert daemon.ticket(order["ticket"])["status"] == "queued"
    wait_until("the new status shown", lambda: "queued" in text(d, "detail-heading"), timeout=5)
    browser.viewport(390, 844, mobile=True)
    browser.screenshot("console-390x844")


def test_console_cancel_with_confirmation(daemon, browser):
    d = browser.driver
    order = daemon.place()
    order_id = daemon.order_id(order["ticket"])
    d.get(daemon.url + "/admin")
    sign_in(d)
    wait_until("the order", lambda: d.find_elements(By.CSS_SELECTOR, f"#order-rows tr[data-order='{order_id}'] button"))
    wait_until("the order opened", lambda: d.find_element(By.CSS_SELECTOR, f"#order-rows tr[data-order='{order_id}'] button").click() or True)
    wait_until("the detail", lambda: d.find_element(By.ID, "do-cancel").is_displayed())
    d.find_element(By.ID, "do-cancel").click()
    # Saying no changes nothing.
    wait_until("the confirmation", lambda: d.execute_script("return document.querySelector('dialog[open]') !== null"))
    d.find_element(By.CSS_SELECTOR, "dialog[open] button[value=no]").click()
    assert daemon.ticket(order["ticket"])["status"] == "queued"
    d.find_element(By.ID, "do-cancel").click()
    confirm_dialog(d)
    wait_until("cancelled", lambda: daemon.ticket(order["ticket"])["status"] == "cancelled", timeout=5)


@pytest.mark.parametrize("path", ["/", "/kitchen", "/admin"])
def test_keyboard_reaches_the_controls(daemon, browser, path):
    """Tab moves through the page's controls, each with a name, and focus is visible."""
    d = browser.driver
    d.get(daemon.url + path)
    wait_until("the page", lambda: d.execute_script("return document.readyState") == "complete")
    wait_until("a control", lambda: d.find_elements(By.CSS_SELECTOR, "button, input"))
    reached = []
    for _ in range(3):
        ActionChains(d).send_keys(Keys.TAB).perform()
        active = d.switch_to.active_element
        name = active.get_attribute("aria-label") or active.text or active.get_attribute("id")
        reached.append((active.tag_name, name))
    assert any(tag in ("button", "input") and name for tag, name in reached), reached
