"""``keel import --company SLUG FILE``."""

import pytest
from django.core.management import CommandError, call_command

from keel.contacts.models import Contact
from keel.jobs.models import DataJob
from keel.jobs.tasks import create_job


def test_the_command_imports_a_file_with_a_progress_bar(transactional_db, company, tmp_path, capsys):
    path = tmp_path / "people.csv"
    path.write_text("Mail,Name\nada@example.com,Ada\nbroken,B\n")
    call_command("import", str(path), company=company.slug, mapping='{"Mail": "email", "Name": "first_name"}')
    out, err = capsys.readouterr()
    job = DataJob.objects.get(company=company, kind="import")
    assert f"Import job {job.pk} started for Acme." in out
    assert "Imported 2 rows from people.csv: 1 contacts created, 0 updated." in out
    assert f"Error report: /contacts/import/{job.pk}/errors.csv" in out
    assert "100 %" in err
    assert job.requested_by == company.admin
    assert Contact.objects.get(company=company).first_name == "Ada"


def test_the_command_refuses_with_the_same_reasons(transactional_db, company, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(b"email\nRen\xe9@example.com\n")
    with pytest.raises(CommandError, match="The file is not UTF-8 encoded"):
        call_command("import", str(path), company=company.slug)
    with pytest.raises(CommandError, match="No company has the slug “nope”."):
        call_command("import", str(path), company="nope")
    with pytest.raises(CommandError, match="There is no file"):
        call_command("import", str(tmp_path / "missing.csv"), company=company.slug)
    create_job(company, DataJob.Kind.CRM_DELETION, company.admin)
    path.write_text("email\nada@example.com\n")
    with pytest.raises(CommandError, match="All CRM records are being deleted."):
        call_command("import", str(path), company=company.slug)
