import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve Keel on http://ADDR:PORT together with background workers; Ctrl-C stops everything."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")

    def handle(self, addr, workers, **options):
        manage = [sys.executable, "-m", "keel.cli"]
        children = [subprocess.Popen([*manage, "worker"]) for _ in range(workers)]
        children.append(subprocess.Popen([*manage, "runserver", addr, "--noreload", "--skip-checks"]))
        self.stdout.write(f"Keel is running at http://{addr}/  (data in {settings.DATA_DIR}; Ctrl-C stops it)")

        def stop(*_):
            for child in children:
                if child.poll() is None:
                    child.terminate()
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
            sys.exit(0)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while True:
            time.sleep(1)
            for i, child in enumerate(children[:-1]):
                if child.poll() is not None:  # a worker died: start another, its jobs are reaped and resumed
                    self.stderr.write("A worker stopped; starting a new one.")
                    children[i] = subprocess.Popen([*manage, "worker"])
            if children[-1].poll() is not None:
                stop()
