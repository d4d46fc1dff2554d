"""In a real browser: the Content-Security-Policy blocks nothing Keel itself needs, and the API docs page runs
Swagger UI from Keel's own origin."""

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from keel.testing import PASSWORD


def watch(page):
    """Records Content-Security-Policy violations and requests that leave the live server's origin."""
    seen = {"violations": [], "foreign": []}
    origin = urlsplit(page.base_url).netloc
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and seen["violations"].append(message.text),
    )
    page.on(
        "request",
        lambda request: (
            request.url.startswith("http")
            and urlsplit(request.url).netloc != origin
            and seen["foreign"].append(request.url)
        ),
    )
    return seen


@pytest.mark.browser
def test_the_api_docs_page_runs_swagger_ui_from_keels_own_origin(page):
    seen = watch(page)
    page.goto("/api/v1/docs")
    expect(page.locator(".swagger-ui .title")).to_contain_text("Keel API")
    expect(page.get_by_text("/api/v1/contacts").first).to_be_visible()
    assert seen == {"violations": [], "foreign": []}


@pytest.mark.browser
def test_keels_pages_run_under_the_policy_without_violations(page, admin):
    seen = watch(page)
    page.goto("/login/")
    page.fill('input[name="username"]', admin.email)
    page.fill('input[name="password"]', PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/contacts/$"))
    for path in ("/contacts/", "/integrations/", "/settings/data/", "/settings/users/", "/profile/", "/audit/"):
        page.goto(path)
        expect(page.locator("main")).to_be_visible()
    assert seen == {"violations": [], "foreign": []}
