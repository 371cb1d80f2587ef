"""End to end in headless Chromium: sign in, overview, device page, upload and its devices;
alert triage, SBOM and advisory uploads, vulnerabilities and compliance.

Screenshots of every page go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import expect

from tests.api.conftest import DEMO, analyse_into
from tests.vuln.test_findings import device_sbom
from tests.web.conftest import PASSWORD, SCREENSHOTS, Server

FIXTURES = DEMO.parents[3] / "tests" / "fixtures" / "captures"
PUMP = "mac:00:03:b1:4d:53:30"


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def script_errors(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Console errors but the failed loads 4xx answers log (expected: the sign-in page's
    401, a refused upload's 415, the browser's own favicon request)."""
    expected = re.compile(r"Failed to load resource: the server responded with a status of 4")
    return [e for e in page.console_errors if not expected.match(e)]


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

    assert script_errors(page) == []

    # Signing out ends the session.
    page.click("form.who button")
    page.wait_for_selector("form[action='/login']")
    page.goto(server.url + "/")
    assert "Sign in" in page.inner_text("h1")


SCAN = "pcaps/portscan/ppa3_synscan.pcapng"  # a SYN scan of 1,000 ports
ADVISORY = "vuln/csaf/icsma/icsma-24-151-01.json"


def test_triage_an_alert_find_vulnerabilities_and_assess_compliance(  # type: ignore[no-untyped-def]
    server: Server, browser_page, corpus: Path, tmp_path: Path
) -> None:
    page = browser_page
    analyse_into(server.store, corpus / SCAN)
    sign_in(page, server)
    assert int(page.inner_text("#open-alerts .n")) >= 3  # two brute-force episodes, one scan
    assert page.locator("#alerts-over-time svg.chart rect").count() >= 2
    assert page.locator(".compliance-card").count() == 2
    shot(page, "08-overview-alerts")

    # The triage queue: acknowledge the port scan, then comment on it.
    page.click("header nav a[href='/alerts']")
    scan = page.locator("tr.alert-row[data-category=recon_port_scan]")
    expect(scan).to_have_count(1)
    assert "T1046" in scan.inner_text() and "probes: 1994" in scan.inner_text()
    assert scan.locator("code.uid").count() >= 1  # sample flows as evidence
    shot(page, "09-alerts")
    scan.locator("button.acknowledge").click()
    actions = scan.locator(".alert-actions")
    expect(actions).to_have_attribute("data-status", "acknowledged", timeout=10_000)
    assert "acknowledged by nurse-analyst" in actions.inner_text()
    shot(page, "10-alert-acknowledged")
    scan.locator("a").first.click()
    page.wait_for_selector("#alert-title")
    assert "SYN port scan" in page.inner_text("#alert-title")
    page.fill("#comments textarea[name=text]", "Scheduled vulnerability scan by IT; confirmed.")
    page.click("#comments button[type=submit]")
    expect(page.locator("#comments li")).to_contain_text("Scheduled vulnerability scan")
    shot(page, "11-alert")

    # An advisory and an SBOM for the infusion pump, through the upload page.
    page.click("header nav a[href='/upload']")
    page.set_input_files("#advisory-file", str(corpus / ADVISORY))
    page.click("#advisory-form button[type=submit]")
    page.wait_for_selector(".job[data-kind=advisory][data-state=done]", timeout=60_000)
    sbom = tmp_path / "plum.cdx.json"
    sbom.write_text(json.dumps(device_sbom()))
    page.fill("#sbom-manufacturer", "ICU Medical")
    page.fill("#sbom-model", "Plum 360")
    page.set_input_files("#sbom-file", str(sbom))
    page.click("#sbom-form button[type=submit]")
    page.wait_for_selector(".job[data-kind=sbom][data-state=done]", timeout=60_000)
    assert "1 new findings" in page.inner_text(".job[data-kind=sbom] .job-summary")
    shot(page, "12-upload-sbom")

    # The pump now carries the finding's priority as its risk.
    page.goto(server.url + f"/devices/{PUMP}")
    assert re.fullmatch(r"P[1-4]", page.inner_text("#device-risk .prio"))
    assert "CVE-2024-5176" in page.inner_text("#device-findings")
    shot(page, "13-device-risk")

    # The vulnerabilities page: the reason for the priority, then a VEX decision.
    page.click("header nav a[href='/vulnerabilities']")
    row = page.locator("tr.finding-row", has_text="CVE-2024-5176")
    expect(row).to_have_count(1)
    assert row.locator(".why").inner_text().strip()
    shot(page, "14-vulnerabilities")
    row.locator("select[name=state]").select_option("not_affected")
    row.locator("select[name=justification]").select_option("vulnerable_code_not_present")
    row.locator("input[name=comment]").fill("Configuration tool is not installed on pumps")
    row.locator("button[type=submit]").click()
    expect(row).to_have_attribute("data-state", "not_affected", timeout=10_000)
    row.locator("details summary").click()
    expect(row.locator(".history li").last).to_contain_text("not_affected")
    shot(page, "15-vulnerability-triaged")

    # Compliance: status per profile, then assess the hospital profile.
    page.click("header nav a[href='/compliance']")
    expect(page.locator(".profile-status[data-assessed=no]")).to_have_count(2)
    page.click("#profile-hospital button:has-text('Assess now')")
    page.wait_for_selector("#profile-title")
    assert page.locator("tr.control-row").count() > 20
    assert page.locator("tr.control-row[data-status=fail]").count() >= 1
    shot(page, "16-compliance-hospital")
    page.click("header nav a[href='/compliance']")
    expect(page.locator("#profile-hospital")).to_have_attribute("data-assessed", "yes")
    assert "%" in page.inner_text("#profile-hospital .score")
    shot(page, "17-compliance")
    assert script_errors(page) == []  # no script or CSP errors anywhere
