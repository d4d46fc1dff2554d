"""Fixtures of the restore tests."""

import pytest

from keel.datacontrol.restore.tests.archives import export_bytes
from keel.testing import fill_every_tenant_table


@pytest.fixture
def filled_archive(transactional_db, company):
    """The export archive (bytes) of a company with rows in every tenant table, and what the factory made."""
    made = fill_every_tenant_table(company)
    return export_bytes(company), made
