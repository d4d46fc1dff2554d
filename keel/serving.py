"""What ``keel serve`` is made of: its address, its listening socket, and child processes that die with it.

The supervisor binds the port itself and hands the socket to gunicorn (``--bind fd://N``), so that a taken port or a
bad address is one clear sentence before anything starts, and no other process can take the port in between.
Children get the Linux parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGTERM)``): when ``keel serve`` is killed
outright (``kill -9``, an OOM kill), each child is sent SIGTERM by the kernel and stops as on Ctrl-C.
"""

import ctypes
import errno
import logging
import os
import signal
import socket
import subprocess
import sys

from gunicorn.glogging import Logger

PR_SET_PDEATHSIG = 1  # linux/prctl.h


class ServeError(Exception):
    """Keel cannot serve as asked; the message is the sentence to show."""


def parse_addr(addr):
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``PORT`` → (host, port); ServeError for anything else."""
    text = addr.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif ":" in text:
        host, _, port = text.rpartition(":")
    else:
        host, port = "127.0.0.1", text
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ServeError(
            f"--addr {addr!r} is not an address to listen on; use HOST:PORT (e.g. 127.0.0.1:8000, 0.0.0.0:8000, "
            f"[::1]:8000) with a port from 1 to 65535."
        )
    return host, int(port)


def listen(host, port):
    """A listening socket on host:port, inheritable by a child; ServeError says why not."""
    try:
        family, kind, proto, _name, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        raise ServeError(f"Keel cannot listen on {host}:{port}: {host!r} is not a host name or address.") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(sockaddr)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ServeError(bind_failure(host, port, exc)) from None
    sock.set_inheritable(True)
    return sock


def bind_failure(host, port, exc):
    if exc.errno == errno.EADDRINUSE:
        return (
            f"Keel cannot listen on {host}:{port}: the port is already in use (another Keel, or another program). "
            f"Stop that program or choose another port with --addr HOST:PORT."
        )
    if exc.errno == errno.EACCES:
        return f"Keel cannot listen on {host}:{port}: permission denied (ports below 1024 need privileges)."
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"Keel cannot listen on {host}:{port}: {host} is not an address of this machine."
    return f"Keel cannot listen on {host}:{port}: {exc.strerror or exc}."


def site_url(host, port):
    """The base of links when KEEL_SITE_URL is not set: the address served, a wildcard shown as 127.0.0.1."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _die_with_parent(parent_pid):
    """Runs in the child between fork and exec: ask the kernel for SIGTERM when the parent dies (Linux only)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def spawn(argv, env, pass_fds=()):
    """Start a child that is sent SIGTERM when this process dies, in this process's process group (so that Ctrl-C
    in a terminal reaches it too)."""
    parent = os.getpid()
    return subprocess.Popen(argv, env=env, pass_fds=pass_fds, preexec_fn=lambda: _die_with_parent(parent))


class MaskWholeLine(logging.Filter):
    """Masks secret paths in the whole formatted line: gunicorn formats its access line from a dict of atoms, which
    keel.security.MaskSecretPaths (made for Django's tuple arguments) does not read."""

    def filter(self, record):
        from keel.security import mask_secret_paths  # here: gunicorn's master loads this before Django is set up

        record.msg, record.args = mask_secret_paths(record.getMessage()), ()
        return True


class MaskedGunicornLogger(Logger):
    """gunicorn's logger (``--logger-class``) whose access and error lines never show a deletion-status or
    set-password token: such a URL is a credential (docs/security.md, "Secrets kept out of logs")."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.access_log, self.error_log):
            if not any(isinstance(existing, MaskWholeLine) for existing in log.filters):
                log.addFilter(MaskWholeLine())
