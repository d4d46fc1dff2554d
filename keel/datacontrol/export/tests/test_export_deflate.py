"""The archive's entries are deflated by ISA-L (docs/export.md, "The archive") and read back by any unzip."""

import io
import zipfile
import zlib

from isal import isal_zlib

from keel.datacontrol.export.deflate import LEVEL, open_entry

CSV = b"".join(b"%d,person%d@example.com,Ada,Lovelace,lead,2026-01-01T00:00:00Z\r\n" % (i, i) for i in range(20_000))


def zip_with_one_entry(data):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with open_entry(archive, "contacts.csv") as entry:
            entry.write(data)
    return buffer


def test_entries_are_deflated_by_isal_not_zlib():
    isal = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, -15)
    by_isal = isal.compress(CSV) + isal.flush()
    by_zlib = zlib.compress(CSV, 1, wbits=-15)
    assert len(by_isal) != len(by_zlib)  # so the sizes tell which one wrote the entry

    with zipfile.ZipFile(zip_with_one_entry(CSV)) as archive:
        info = archive.getinfo("contacts.csv")
    assert info.compress_type == zipfile.ZIP_DEFLATED
    assert info.compress_size == len(by_isal)


def test_the_standard_library_reads_the_entries_back():
    with zipfile.ZipFile(zip_with_one_entry(CSV)) as archive:
        assert archive.testzip() is None  # the CRC-32 of every entry checks out
        assert archive.read("contacts.csv") == CSV
