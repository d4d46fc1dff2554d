"""``keel serve``: gunicorn serving keel.wsgi plus the job workers, under one supervisor (docs/operations.md).

The supervisor fails loudly (a sentence and a non-zero exit for a taken port, a bad address, a bad count, a database
that needs migrating), stops every child on SIGTERM/SIGINT, takes them along when it is killed outright (keel/
serving.py), restarts a job worker that died with a growing pause, and stops everything if the web server dies.
"""

import http.client
import os
import signal
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from keel import serving

RESTART_PAUSE_FIRST, RESTART_PAUSE_MAX = 1.0, 60.0
STABLE_SECONDS = 60.0  # a worker that lived this long starts again from the shortest pause when it dies
STOP_SECONDS = 20.0  # children still running this long after SIGTERM are killed
READY_SECONDS = 60.0


def at_least_one(value):
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise CommandError(f"{value!r} is not a count Keel can use here; give 1 or more.")
    return number


class Command(BaseCommand):
    help = "Serve Keel on http://ADDR with gunicorn, together with background job workers; Ctrl-C stops everything."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="HOST:PORT to listen on (default 127.0.0.1:8000)")
        parser.add_argument("--workers", type=str, default="2", help="job worker processes (default 2)")
        parser.add_argument("--web-processes", type=str, default="1", help="gunicorn worker processes (default 1)")
        parser.add_argument("--threads", type=str, default="8", help="threads per web process (default 8)")

    def handle(self, addr, workers, web_processes, threads, **options):
        workers = self.count("--workers", workers)
        web_processes, threads = self.count("--web-processes", web_processes), self.count("--threads", threads)
        from keel.cli import database_problem

        try:
            host, port = serving.parse_addr(addr)
            problem = database_problem()
            if problem:
                raise serving.ServeError(problem)
            sock = serving.listen(host, port)
        except serving.ServeError as exc:
            raise CommandError(str(exc)) from None
        Supervisor(self, sock, host, port, workers, web_processes, threads).run()

    def count(self, flag, value):
        try:
            return at_least_one(value)
        except CommandError:
            raise CommandError(f"{flag} {value}: give a whole number, 1 or more.") from None


class Supervisor:
    def __init__(self, command, sock, host, port, workers, web_processes, threads):
        self.command, self.sock, self.host, self.port = command, sock, host, port
        self.env = self.child_environment()
        self.stop_signal = None
        self.web = None
        self.workers = [None] * workers  # [process, started_at, pause before the next restart]
        self.web_argv = [
            sys.executable, "-m", "gunicorn", "keel.wsgi:application",
            "--bind", f"fd://{sock.fileno()}",
            "--worker-class", "gthread", "--workers", str(web_processes), "--threads", str(threads),
            "--graceful-timeout", "10", "--timeout", "120",
            "--access-logfile", "-", "--error-logfile", "-", "--no-control-socket",
            "--logger-class", "keel.serving.MaskedGunicornLogger",
            # Keel's own middleware believes X-Forwarded-* from KEEL_TRUSTED_PROXIES only (docs/security.md).
            "--forwarded-allow-ips=",
        ]  # fmt: skip

    def child_environment(self):
        env = dict(os.environ)
        env.setdefault("KEEL_SITE_URL", serving.site_url(self.host, self.port))
        if not env.get("KEEL_ALLOWED_HOSTS") and self.host not in ("", "0.0.0.0", "::"):
            env["KEEL_ALLOWED_HOSTS"] = ",".join(dict.fromkeys([*settings.ALLOWED_HOSTS, self.host]))
        return env

    def run(self):
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        self.web = serving.spawn(self.web_argv, self.env, pass_fds=(self.sock.fileno(),))
        for index in range(len(self.workers)):
            self.start_worker(index, RESTART_PAUSE_FIRST)
        code = self.wait_until_ready()
        if code is None:
            url = self.env["KEEL_SITE_URL"]
            self.say(f"Keel is running at {url}/  (data in {settings.DATA_DIR}; Ctrl-C stops it)")
            code = self.watch()
        self.stop_children()
        if code:
            sys.exit(code)

    def request_stop(self, signum, frame):
        self.stop_signal = signum

    def start_worker(self, index, pause):
        argv = [sys.executable, "-m", "keel.cli", "worker"]
        self.workers[index] = [serving.spawn(argv, self.env), time.monotonic(), pause]

    def wait_until_ready(self):
        """None once the web server answers HTTP; an exit code if it died first or a signal came."""
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.stop_signal is not None:
                return 0
            if self.web.poll() is not None:
                self.warn(f"The web server (gunicorn) could not start (exit code {self.web.returncode}); see above.")
                return 1
            if self.answers():
                return None
            time.sleep(0.2)
        self.warn(f"The web server did not answer within {READY_SECONDS:.0f} s; stopping Keel.")
        return 1

    def answers(self):
        probe_host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        connection = http.client.HTTPConnection(probe_host, self.port, timeout=2)
        try:
            connection.request("GET", "/login/", headers={"Host": probe_host if ":" not in probe_host else "localhost"})
            connection.getresponse().read()
            return True
        except OSError:
            return False
        finally:
            connection.close()

    def watch(self):
        """Until a signal comes (exit code 0) or the web server dies (1): restart job workers that died."""
        while self.stop_signal is None:
            if self.web.poll() is not None:
                self.warn(f"The web server (gunicorn) stopped with exit code {self.web.returncode}; stopping Keel.")
                return 1
            for index, (process, started, pause) in enumerate(self.workers):
                self.restart_if_dead(index, process, started, pause)
            time.sleep(0.2)
        return 0

    def restart_if_dead(self, index, process, started, pause):
        if process is None:
            return
        now = time.monotonic()
        if process.returncode is None and process.poll() is None:
            return
        if now - started >= STABLE_SECONDS:
            pause = RESTART_PAUSE_FIRST
        if not hasattr(process, "restart_at"):  # its death just noticed: announce it once, then wait the pause
            process.restart_at = now + pause
            self.warn(f"A job worker stopped (exit code {process.returncode}); starting another in {pause:.0f} s.")
        if now >= process.restart_at:
            self.start_worker(index, min(pause * 2, RESTART_PAUSE_MAX))

    def stop_children(self):
        children = [self.web, *(entry[0] for entry in self.workers if entry)]
        for child in children:
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for child in children:
            if child is None:
                continue
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except Exception:
                child.kill()
                child.wait()
        self.sock.close()

    def say(self, sentence):
        self.command.stdout.write(sentence)
        self.command.stdout.flush()

    def warn(self, sentence):
        self.command.stderr.write(sentence)
        self.command.stderr.flush()
