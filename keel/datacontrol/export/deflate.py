"""The archive's deflate: ISA-L's (the ``isal`` package) in place of the standard library's zlib.

At level 1 it compresses CSV about four times as fast as zlib's level 1, to the same size (measured on 34 MB of
export-like CSV: 0.07 s against 0.29 s), and an export spends most of its CPU beyond reading rows on deflate
(docs/benchmarks.md, "Where PostgreSQL's time goes"). The stream is standard raw deflate: every unzip tool, and
Keel's own restore through zipfile, reads it.
"""

import zipfile

from isal import isal_zlib

# ISA-L's levels run 0 to 3; 1 is its fastest with a ratio like zlib's level 1.
LEVEL = 1


def open_entry(archive, path):
    """``archive.open(path, "w")`` (ZIP64-ready: a table may pass 4 GiB), deflated by ISA-L. zipfile has no choice
    of compressor, so the entry's is replaced before its first byte; zipfile only calls ``compress`` and ``flush``
    on it, which ``isal_zlib`` compressors share with zlib's."""
    entry = archive.open(path, "w", force_zip64=True)
    if entry._zinfo.compress_type == zipfile.ZIP_DEFLATED:
        entry._compressor = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, -15)
    return entry
