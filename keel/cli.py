"""The ``keel`` command: ``keel <management command> [args]``, e.g. ``keel serve``, ``keel demo --contacts 5000``.

Hyphenated names map to the management commands (``keel delete-crm-records`` → ``delete_crm_records``, also in
``keel help delete-crm-records``), and ``keel bench generate|run`` reaches the benchmark suite. Before Django runs a
command, Keel says in one sentence (no traceback) what stops it: a bad environment variable (keel/env.py), a database
it cannot reach, or a database that needs ``keel migrate`` first.
"""

import os
import sys

# Commands that work on a database without Keel's tables (or without a database at all): everything else is refused
# until `keel migrate` has run, instead of failing half-way with "no such table".
WITHOUT_MIGRATED_DATABASE = {
    "help",
    "version",
    "check",
    "migrate",
    "makemigrations",
    "showmigrations",
    "sqlmigrate",
    "squashmigrations",
    "optimizemigration",
    "shell",
    "dbshell",
    "test",
    "collectstatic",
    "findstatic",
    "diffsettings",
    "sendtestemail",
    "startapp",
    "startproject",
    "inspectdb",
    "createcachetable",
    "verify_archive",
    "decrypt",
}


def keel_version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("keel")
    except PackageNotFoundError:  # run from a checkout that was never installed
        from django.conf import settings

        return settings.VERSION


def command_arguments(argv):
    """The arguments for Django's command line, with hyphenated command names turned into the modules' names."""
    args = list(argv)
    if args and not args[0].startswith("-"):
        args[0] = args[0].replace("-", "_")
        if args[0] == "help" and len(args) > 1 and not args[1].startswith("-"):
            args[1] = args[1].replace("-", "_")
    return args


def unapplied_migrations():
    """The migrations not yet applied to the default database, as "app.name" strings."""
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def database_problem():
    """A sentence saying why Keel cannot run on its database yet, or None."""
    from django.db import DatabaseError, connection

    try:
        pending = unapplied_migrations()
    except DatabaseError as exc:
        where = connection.settings_dict.get("NAME")
        return f"Keel cannot reach its database ({where}): {str(exc).strip()}. Check DATABASE_URL."
    finally:
        connection.close()
    if pending:
        return (
            f"The database needs {len(pending)} migration(s) before Keel can run: run `keel migrate` first "
            f"(then this command again)."
        )
    return None


def main(argv=None):
    argv = list(sys.argv if argv is None else argv)
    args = command_arguments(argv[1:])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "keel.settings")
    import django

    from keel.env import SettingError

    try:
        django.setup()
    except SettingError as exc:
        sys.exit(f"Keel cannot start: {exc}")
    if args[:1] in (["--version"], ["version"]):
        print(f"Keel {keel_version()}")
        return
    from django.core.management import execute_from_command_line, get_commands

    if args and args[0] in get_commands() and args[0] not in WITHOUT_MIGRATED_DATABASE:
        problem = database_problem()
        if problem:
            sys.exit(problem)
    execute_from_command_line(["keel", *args])


if __name__ == "__main__":
    main()
