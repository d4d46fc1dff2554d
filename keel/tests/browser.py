"""Helpers of the browser tests (a fixture module: no tests here)."""

import re

from playwright.sync_api import expect

from keel.testing import PASSWORD


def log_in(page, email):
    """Log in through the login page as a person would, and land on the contacts page."""
    page.goto("/login/")
    page.fill('input[name="username"]', email)
    page.fill('input[name="password"]', PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/contacts/$"))
