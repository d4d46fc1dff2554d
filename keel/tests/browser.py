"""Helpers of the browser tests (a fixture module: no tests here)."""

from playwright.sync_api import expect

from keel.testing import PASSWORD


def log_in(page, user):
    """Log in through the login page as a person would; ``user`` is a User or an e-mail address."""
    page.goto("/login/")
    page.fill('input[name="username"]', getattr(user, "email", user))
    page.fill('input[name="password"]', PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
