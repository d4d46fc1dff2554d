import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_login_throttle():
    # The local-memory cache outlives a test; failed logins counted here must not throttle another test's login.
    cache.clear()
    yield
    cache.clear()
