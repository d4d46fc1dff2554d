"""In a real browser, with a real worker: CRM Contacts → Import, upload, check the columns, start, watch the status
bar reach 100 %, read the summary, and see the contacts."""

import pytest
from playwright.sync_api import expect

from keel.contacts.models import Contact
from keel.tests.browser import log_in

CSV = (
    "Email,First Name,Last Name,Company,Tags\n"
    "ada@example.com,Ada,Lovelace,Analytical Engines,vip\n"
    "grace@example.com,Grace,Hopper,Navy,\n"
    "not-an-address,Bad,Row,,\n" + "".join(f"person{n}@example.com,Person,Number {n},,\n" for n in range(200))
).encode()


@pytest.mark.browser
def test_upload_a_csv_watch_the_status_bar_reach_100_percent_and_see_the_contacts(page, worker, company):
    log_in(page, company.admin)
    page.goto("/contacts/")
    page.get_by_role("link", name="Import", exact=True).click()
    expect(page.get_by_role("heading", name="Import contacts")).to_be_visible()

    page.set_input_files("input[name=file]", files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": CSV}])
    page.get_by_role("button", name="Upload and check the columns").click()
    expect(page.get_by_label("Email")).to_have_value("email")  # detected from the column names
    expect(page.get_by_label("Last Name")).to_have_value("last_name")
    page.get_by_label("Company").select_option("")  # adjust: do not import the company

    with page.expect_response(lambda response: "/progress/" in response.url, timeout=30000) as polled:
        page.get_by_role("button", name="Start import").click()
        expect(page.locator(".job-progress .progress-bar")).to_be_visible()
    assert polled.value.ok  # the status bar updates itself from its endpoint

    expect(page.locator(".progress-percent")).to_have_text("100 %", timeout=60000)
    expect(page.locator(".progress-outcome")).to_contain_text("Imported 203 rows from people.csv")
    summary = page.locator(".import-summary")
    expect(summary).to_contain_text("Contacts created")
    expect(summary.get_by_role("link", name="Download the error report")).to_be_visible()

    summary.get_by_role("link", name="See the contacts").click()
    expect(page.get_by_role("cell", name="ada@example.com")).to_be_visible()
    expect(page.get_by_role("cell", name="grace@example.com")).to_be_visible()
    assert Contact.objects.filter(company=company).count() == 202
    assert Contact.objects.get(company=company, email="ada@example.com").company_name == ""
