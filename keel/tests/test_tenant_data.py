"""The tenant-data factory behind the export, deletion and restore tests fills every tenant table, so a model
added later makes this test fail until the factory (and so those tests) covers it."""

from keel.testing import empty_tenant_tables, fill_every_tenant_table


def test_the_factory_fills_every_tenant_table(company, other_company):
    assert empty_tenant_tables(company), "a new company is not expected to hold rows in every table already"
    fill_every_tenant_table(company)
    assert empty_tenant_tables(company) == []


def test_the_factory_writes_only_the_given_company(company, other_company):
    before = len(empty_tenant_tables(other_company))
    fill_every_tenant_table(company)
    assert len(empty_tenant_tables(other_company)) == before
