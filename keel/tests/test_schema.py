"""Every index is worth its writes (docs/architecture.md, "Indexes"): each one costs every insert and every
deletion of a row, so no index may repeat what another already serves."""

import pytest
from django.apps import apps
from django.db import connection


def keel_tables():
    return sorted(
        {m._meta.db_table for m in apps.get_models(include_auto_created=True) if m.__module__.startswith("keel.")}
    )


def pattern_indexes(cursor, table):
    """On PostgreSQL, the ``*_pattern_ops`` indexes Django adds beside a text key's own index: the same column in
    another operator class, for ``LIKE 'prefix%'`` whatever the collation, so not a repeat of the key's index."""
    if connection.vendor != "postgresql":
        return set()
    cursor.execute(
        "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s", [table, "%_pattern_ops%"]
    )
    return {name for (name,) in cursor.fetchall()}


def repeated_indexes(table):
    """Non-unique indexes whose columns lead another index of the same table, which serves every lookup they do."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
        other_operators = pattern_indexes(cursor, table)
    indexes = {
        name: c["columns"]
        for name, c in constraints.items()
        if (c["index"] or c["unique"]) and name not in other_operators
    }
    repeated = []
    for name, columns in indexes.items():
        constraint = constraints[name]
        if constraint["unique"] or constraint["primary_key"] or None in columns:
            continue
        for other, other_columns in indexes.items():
            if other != name and len(other_columns) >= len(columns) and other_columns[: len(columns)] == columns:
                repeated.append(f"{table}.{name} {columns} leads {other} {other_columns}")
    return repeated


@pytest.mark.django_db
def test_no_index_repeats_the_leading_columns_of_another():
    assert [line for table in keel_tables() for line in repeated_indexes(table)] == []


@pytest.mark.django_db
def test_the_check_finds_a_repeated_index():
    with connection.cursor() as cursor:
        cursor.execute('CREATE INDEX "contactevent_repeat" ON "contacts_contactevent" ("company_id")')
    assert repeated_indexes("contacts_contactevent") == [
        "contacts_contactevent.contactevent_repeat ['company_id'] leads contactevent_company ['company_id', 'id']"
    ]


@pytest.mark.django_db
def test_every_tenant_table_keeps_its_company_index():
    """Export, deletion and every lookup by company walk ``(company, id)``; dropping the foreign key's own index
    relies on it."""
    from keel.datacontrol import graph

    for model in graph.tenant_models():
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
        assert ["company_id", "id"] in [c["columns"] for c in constraints.values() if c["index"]], model
