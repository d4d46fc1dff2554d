"""Reading helpers shared by the export tests (this module holds no tests; the data comes from
``keel.testing.fill_every_tenant_table``)."""

import csv
import io


def read_csv(archive, path):
    with archive.open(path) as raw:
        return list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline="")))
