"""The `keel` command as an operator meets it: its version, help by hyphenated names, one flag style, passwords
kept off the command line, a clear sentence on an unmigrated database, progress bars that fit the terminal."""

import io
import os
import pty
import subprocess
import sys
from importlib.metadata import version

import pytest
from django.core.management import CommandError, call_command, get_commands

from keel import cli
from keel.accounts.models import Company, User
from keel.datacontrol.models import DeletionReceipt
from keel.jobs.cli import ProgressBar
from keel.testing import ensure_plans


def keel(*args, env=None, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "keel.cli", *args],
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_version_is_keel_s():
    done = keel("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"Keel {version('keel')}"


def test_help_takes_the_hyphenated_names():
    done = keel("help", "delete-company")
    assert done.returncode == 0, done.stderr
    assert "--company SLUG" in done.stdout and "--yes" in done.stdout


def test_every_command_on_an_unmigrated_database_says_to_migrate_first(tmp_path):
    """Each command that needs Keel's tables, in one process (to be quick), then one end to end."""
    empty = {"DATABASE_URL": f"sqlite:///{tmp_path / 'new.sqlite3'}"}
    needing_tables = sorted(set(get_commands()) - cli.WITHOUT_MIGRATED_DATABASE)
    assert {"serve", "worker", "demo", "createcompany", "export", "delete_company", "import"} <= set(needing_tables)
    script = (
        "import sys\nfrom keel import cli\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n        cli.main(['keel', name.replace('_', '-')])\n        print(name, 'RAN')\n"
        "    except SystemExit as exc:\n        print(name, exc.code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *needing_tables],
        env={**os.environ, **empty},
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stdout.splitlines()
    assert len(lines) == len(needing_tables), done.stderr
    assert all("run `keel migrate` first" in line for line in lines), lines
    demo = keel("demo", env=empty)
    assert demo.returncode != 0 and "Traceback" not in demo.stderr
    assert "needs" in demo.stderr and "run `keel migrate` first" in demo.stderr


def test_an_unreachable_database_is_a_sentence():
    done = keel("worker", env={"DATABASE_URL": "postgres://keel@127.0.0.1:1/keel"})
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "Keel cannot reach its database (keel)" in done.stderr and "Check DATABASE_URL." in done.stderr


# --- one flag style -----------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_delete_company_takes_company_slug_like_the_other_commands(company):
    out = io.StringIO()
    call_command("delete_company", "--company", company.slug, "--yes", stdout=out)
    assert DeletionReceipt.objects.get().state == "succeeded" and "System confirmation" in out.getvalue()


@pytest.mark.parametrize("args", [[], ["acme", "--company", "globex"]])
def test_delete_company_wants_the_company_named_once(db, args):
    with pytest.raises(CommandError, match="Name the company once: keel delete-company --company SLUG."):
        call_command("delete_company", *args, "--yes")


# --- passwords off the command line -------------------------------------------------------------------------------


def create_company(*args, stdin=""):
    ensure_plans()
    out = io.StringIO()
    call_command(
        "createcompany", "--name", "Initech", "--admin-email", "boss@initech.test", *args,
        stdin=io.StringIO(stdin), stdout=out,
    )  # fmt: skip
    return Company.objects.get(pk=int(out.getvalue()))


def test_createcompany_reads_the_password_from_a_file(db, tmp_path):
    secret = tmp_path / "password"
    secret.write_text("a long passphrase\nignored second line\n")
    create_company("--admin-password-file", str(secret))
    assert User.objects.get(email="boss@initech.test").check_password("a long passphrase")


def test_createcompany_reads_the_password_from_stdin(db):
    create_company("--admin-password-file", "-", stdin="a long passphrase\n")
    assert User.objects.get(email="boss@initech.test").check_password("a long passphrase")


def test_a_missing_password_file_is_a_sentence(db, tmp_path):
    with pytest.raises(CommandError, match=r"Cannot read --admin-password-file .*nothing: No such file"):
        create_company("--admin-password-file", str(tmp_path / "nothing"))
    assert not Company.objects.filter(name="Initech").exists()


def test_without_a_terminal_or_a_password_createcompany_says_how_to_give_one(db):
    with pytest.raises(CommandError, match="--admin-password-file FILE"):
        create_company()


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of forkpty:DeprecationWarning")
@pytest.mark.parametrize("second,created", [("a long passphrase", True), ("another passphrase", False)])
def test_createcompany_prompts_for_the_password_twice_on_a_terminal(second, created):
    """A real terminal (a pseudo-terminal): the password is asked twice and never echoed."""
    from keel.testing import test_database_url

    ensure_plans()
    argv = [sys.executable, "-m", "keel.cli", "createcompany", "--name", "Initech", "--admin-email", "b@initech.test"]
    env = {**os.environ, "DATABASE_URL": test_database_url()}
    pid, terminal = pty.fork()  # the child only calls execve, which is safe after forking a threaded process
    if pid == 0:
        os.execve(sys.executable, argv, env)
    seen = read_until(terminal, b"Password of the first Company Administrator: ")
    os.write(terminal, b"a long passphrase\n")
    seen += read_until(terminal, b"The same password again: ")
    os.write(terminal, second.encode() + b"\n")
    seen += read_until(terminal, None)
    _, status = os.waitpid(pid, 0)
    assert b"passphrase" not in seen  # never echoed
    assert (os.waitstatus_to_exitcode(status) == 0) is created
    assert Company.objects.filter(name="Initech").exists() is created
    if not created:
        assert b"The two passwords differ; nothing was created." in seen


def read_until(fd, marker):
    seen = b""
    while marker is None or marker not in seen:
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    return seen


# --- progress bars ------------------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("columns", [20, 40, 60, 200])
def test_a_progress_bar_on_a_terminal_fits_its_width(columns):
    out = Terminal()
    bar = ProgressBar(out, interval=0, columns=columns)
    for percent in (0, 42, 100):
        bar.show(percent, "Importing rows from a file with a rather long name.csv", force=True)
    bar.close()
    drawn = [line for line in out.getvalue().replace("\n", "\r").split("\r") if line.strip()]
    assert len(drawn) == 3 and all(len(line.rstrip()) < columns for line in drawn)
    assert all(line.startswith("[") and "%" in line for line in drawn)


def test_the_terminal_s_own_width_is_used(monkeypatch):
    monkeypatch.setenv("COLUMNS", "35")
    out = Terminal()
    ProgressBar(out).show(50, "A step with a long description that would wrap", force=True)
    assert 0 < len(out.getvalue().strip("\r")) < 35
