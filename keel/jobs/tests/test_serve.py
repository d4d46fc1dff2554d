"""`keel serve` in its own process: gunicorn and the job workers under one supervisor that fails loudly and
leaves nothing behind (docs/operations.md). Linux: the tests read /proc."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from keel import testing


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keel(*args, env=None, **options):
    return subprocess.Popen(
        [sys.executable, "-m", "keel.cli", *args],
        env={**os.environ, "DATABASE_URL": testing.test_database_url(), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


def finished(*args, env=None):
    process = keel(*args, env=env)
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def descendants(pid):
    """Every live process below ``pid`` (zombies waiting for a reaper are dead)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(condition, timeout=60, what="the condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers, response.read().decode()
    except OSError:
        return None


@pytest.fixture
def served(transactional_db):
    """`keel serve` on a free port of the test database, with two job workers; stopped (killed) afterwards."""
    port = free_port()
    process = keel("serve", "--addr", f"127.0.0.1:{port}", "--workers", "2")
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: get(url + "/login/") or process.poll() is not None, what="keel serve to answer")
    assert process.poll() is None, process.communicate()
    yield process, url, port
    family = [process.pid, *descendants(process.pid)]
    for pid in family:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    process.communicate()


def test_a_page_is_served_by_gunicorn_with_workers_beside_it(served):
    process, url, _port = served
    status, headers, body = get(url + "/login/")
    assert status == 200 and "<form" in body
    assert headers["Server"] == "gunicorn"
    commands = [open(f"/proc/{pid}/cmdline").read().replace("\0", " ") for pid in descendants(process.pid)]
    assert sum("gunicorn keel.wsgi:application" in command for command in commands) >= 2  # master and a worker
    assert sum("keel.cli worker" in command for command in commands) == 2


def test_killing_keel_serve_outright_leaves_no_child_behind(served):
    process, url, port = served
    family = descendants(process.pid)
    assert len(family) >= 4
    process.send_signal(signal.SIGKILL)
    process.wait()
    wait_until(lambda: not any(alive(pid) for pid in family), timeout=30, what="every child of keel serve to stop")
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server would: TIME_WAIT is no holder
        sock.bind(("127.0.0.1", port))
        sock.listen()  # nothing listens on the port any more


def test_sigterm_stops_every_child_and_exits_cleanly(served):
    process, _url, _port = served
    family = descendants(process.pid)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert not any(alive(pid) for pid in family)


def test_a_job_worker_that_dies_is_replaced(served):
    process, _url, _port = served

    def workers():
        return {
            pid
            for pid in descendants(process.pid)
            if "keel.cli worker" in open(f"/proc/{pid}/cmdline").read().replace("\0", " ")
        }

    before = workers()
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: len(workers() - before) == 1 and victim not in workers(), timeout=30, what="a new worker")
    assert len(workers()) == 2


def test_a_taken_port_is_a_sentence_and_a_failure(transactional_db):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = finished("serve", "--addr", f"127.0.0.1:{port}")
    assert code != 0
    assert f"Keel cannot listen on 127.0.0.1:{port}: the port is already in use" in err
    assert "Keel is running" not in out and "Traceback" not in err


@pytest.mark.parametrize("addr", ["nonsense", "127.0.0.1:99999", "127.0.0.1:", "no-such-host.invalid:8000"])
def test_an_invalid_address_is_refused(transactional_db, addr):
    code, out, err = finished("serve", "--addr", addr)
    assert code != 0 and "Keel is running" not in out and "Traceback" not in err
    assert "not an address to listen on" in err or "is not a host name or address" in err


@pytest.mark.parametrize("flag,value", [("--workers", "0"), ("--workers", "-1"), ("--threads", "0")])
def test_counts_below_one_are_refused(transactional_db, flag, value):
    code, _out, err = finished("serve", flag, value)
    assert code != 0 and f"{flag} {value}: give a whole number, 1 or more." in err


def test_serve_refuses_an_unmigrated_database_with_the_command_to_run(tmp_path):
    empty = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    code, out, err = finished("serve", "--addr", f"127.0.0.1:{free_port()}", env={"DATABASE_URL": empty})
    assert code != 0 and "run `keel migrate` first" in err
    assert "Keel is running" not in out and "Traceback" not in err


def test_tokens_in_paths_never_reach_gunicorn_s_access_log(served):
    process, url, _port = served
    secret = "Zq9-status-token-that-is-a-credential"
    for path in (f"/deletion-status/{secret}/", f"/api/v1/deletions/{secret}", f"/set-password/MTIz/{secret}/"):
        try:
            urllib.request.urlopen(url + path, timeout=10)
        except urllib.error.HTTPError:
            pass
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    access = [line for line in (out + err).splitlines() if '"GET /' in line]
    assert len([line for line in access if "[token]" in line]) == 3, access
    assert secret not in out + err
