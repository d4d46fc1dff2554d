import pytest
from django.core.cache import cache

from keel.integrations.tests.servers import DripServer, Provider


@pytest.fixture(autouse=True)
def _fresh_login_throttle():
    # The local-memory cache outlives a test; failed logins counted here must not throttle another test's login.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_provider(settings):
    """Starts a provider on 127.0.0.1 and allows its host:port in KEEL_OUTBOUND_ALLOWLIST: a loopback address is
    not one a tenant may aim Keel at, so only the operator's allowlist lets the test's listener through."""
    started = []
    settings.KEEL_OUTBOUND_ALLOWLIST = []

    def make(server_class=Provider, **options):
        server = server_class(**options)
        settings.KEEL_OUTBOUND_ALLOWLIST = [*settings.KEEL_OUTBOUND_ALLOWLIST, server.netloc]
        started.append(server)
        return server

    yield make
    for server in started:
        server.close()


@pytest.fixture
def provider(make_provider):
    return make_provider()


@pytest.fixture
def drip_server(make_provider):
    return make_provider(DripServer)
