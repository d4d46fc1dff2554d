"""A second thread that checksums and compresses the archive's pieces while the next ones are read and formatted.

Reading rows (SQLite's stepping, PostgreSQL's COPY) and formatting them hold one core; SHA-256, CRC-32 and
deflate release Python's lock and can use another. The queue holds at most ``DEPTH`` pieces of about one batch
each, so memory stays flat. Pieces are written in the order they were given; ``drain()`` waits until every piece
is written (an entry is closed, and the next one opened, only after that), and re-raises a failure of the thread
in the caller, as does the next ``write()`` after it.
"""

import queue
import threading

DEPTH = 4


class BackgroundWriter:
    def __init__(self):
        self._queue = queue.Queue(maxsize=DEPTH)
        self._error = None
        self._thread = threading.Thread(target=self._run, name="keel-export-writer", daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:
                    write, data = item
                    write(data)
            except BaseException as error:  # handed to the caller by write() or drain()
                self._error = error
            finally:
                self._queue.task_done()

    def _raise(self):
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def write(self, write, data):
        """Call ``write(data)`` on the writer thread, after every piece given before."""
        self._raise()
        self._queue.put((write, data))

    def drain(self):
        self._queue.join()
        self._raise()

    def close(self):
        """Stop the thread; pieces not written yet are dropped (after a failure) or written (otherwise)."""
        self._queue.put(None)
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
