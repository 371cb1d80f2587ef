"""End to end in headless Chromium: sign in, overview, device page, upload and its devices.

Screenshots of every page go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.api.conftest import DEMO
from tests.web.conftest import PASSWORD, SCREENSHOTS, Server

FIXTURES = DEMO.parents[3] / "tests" / "fixtures" / "captures"
PUMP = "mac:00:03:b1:4d:53:30"


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page, server: Server) -> None:  # type: ignore[no-untyped-def]
    page.goto(server.url + "/")
    page.wait_for_selector("form[action='/login']")
    shot(page, "01-sign-in")
    page.fill("input[name=username]", "nurse-analyst")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Overview')")


def test_sign_in_overview_device_and_upload(server: Server, browser_page) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    page.goto(server.url + "/devices")
    assert "Sign in" in page.inner_text("h1")  # nothing without an account

    # A wrong password is refused with a message, the right one opens the overview.
    page.fill("input[name=username]", "nurse-analyst")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "Wrong user name or password" in page.inner_text(".error")
    sign_in(page, server)
    total = int(page.inner_text("#total-devices").replace(",", ""))
    assert total >= 10
    assert page.locator("svg.chart rect").count() > 10  # the charts are drawn
    assert page.locator("#phi-conversations tbody tr").count() >= 1
    assert page.locator("#newest-devices li a").count() >= 5
    shot(page, "02-overview")

    # Device list: search, then open the pump's page.
    page.click("nav >> text=Devices")
    page.wait_for_selector("table.devices")
    shot(page, "03-devices")
    page.fill("input[name=q]", "10.77.0.30")
    # (page.wait_for_function would need eval, which the Content-Security-Policy forbids)
    expect(page.locator("table.devices tbody tr")).to_have_count(1, timeout=10_000)
    page.click(f"table.devices a[href='/devices/{PUMP}']")
    page.wait_for_selector("#device-title")
    assert "00:03:b1:4d:53:30" in page.inner_text("#device-title")
    assert page.locator("#protocols td:has-text('hl7')").count() >= 1
    assert page.locator("svg.chart circle").count() >= 2  # the peer graph
    shot(page, "04-device")

    # Upload a capture through the page and see its devices.
    page.click("nav >> text=Upload")
    page.wait_for_selector("#upload-form")
    page.set_input_files("#upload-file", str(FIXTURES / "dhcp.pcap"))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector(".job[data-state=done]", timeout=60_000)
    links = page.locator(".job[data-state=done] .job-devices a")
    assert links.count() >= 1
    shot(page, "05-upload-done")
    href = links.first.get_attribute("href") or ""
    assert re.fullmatch(r"/devices/(mac|ip):[0-9a-f:.]+", href)
    links.first.click()
    page.wait_for_selector("#device-title")
    shot(page, "06-uploaded-device")

    # A refused upload explains itself.
    page.goto(server.url + "/upload")
    page.set_input_files("#upload-file", str(FIXTURES / "fake_phi.json"))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#upload-error:not([hidden])")
    assert "not a pcap or pcapng capture" in page.inner_text("#upload-error")
    shot(page, "07-upload-refused")

    # No script or CSP errors anywhere (4xx answers are logged as failed loads: expected
    # for the sign-in page's 401 and the refused upload's 415).
    expected = re.compile(r"Failed to load resource: the server responded with a status of 4")
    assert [e for e in page.console_errors if not expected.match(e)] == []

    # Signing out ends the session.
    page.click("form.who button")
    page.wait_for_selector("form[action='/login']")
    page.goto(server.url + "/")
    assert "Sign in" in page.inner_text("h1")
