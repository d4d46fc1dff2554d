"""The benchmark suite itself: the generator builds what it says, a --quick run measures every scenario, and the
contacts listing scenario compares deep pages with first pages."""

import json
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection

from bench import generator, listing, report, scenarios, suite, targets
from bench.scenarios import SCRATCH_FOLDER
from keel.accounts.models import Company, User
from keel.contacts.models import Attachment, Contact, ContactEvent, ContactTag, ListMembership, Note
from keel.marketing.models import Campaign, CampaignRecipient, WorkflowEnrollment
from keel.testing import ensure_plans


@pytest.fixture
def plans(db):
    ensure_plans()


def test_generator_builds_the_company_it_describes(plans):
    made = generator.generate_company("Bench Large 300", 300, 4, seed=3)

    company = Company.objects.get(pk=made.company_id)
    assert company.slug.startswith(generator.SLUG_PREFIX)
    assert made.contacts == 300
    counts = {
        "contacts.Contact": Contact,
        "contacts.ContactEvent": ContactEvent,
        "contacts.Note": Note,
        "contacts.ContactTag": ContactTag,
        "contacts.ListMembership": ListMembership,
        "marketing.CampaignRecipient": CampaignRecipient,
        "marketing.WorkflowEnrollment": WorkflowEnrollment,
        "contacts.Attachment": Attachment,
    }
    for label, model in counts.items():
        assert model.objects.filter(company=company).count() == made.rows[label] > 0, label
    assert Contact.objects.filter(company=company).count() == 300
    # About events_per_contact history events per contact (each contact gets 0..2k of them).
    assert 300 * 3 <= made.rows["contacts.ContactEvent"] <= 300 * 5

    contacts = list(Contact.objects.filter(company=company))
    assert len({c.email for c in contacts}) == 300
    assert all("@" in c.email and c.first_name and c.last_name for c in contacts)
    assert any(not c.first_name.isascii() or not c.last_name.isascii() for c in contacts)
    assert all(
        isinstance(c.custom_fields, dict) and {"plan", "score", "source"} <= set(c.custom_fields) for c in contacts
    )
    event = ContactEvent.objects.filter(company=company).first()
    assert isinstance(event.data, dict) and event.occurred_at.tzinfo is not None and event.contact.company == company

    # Attachments are real files in storage, under the company's prefix.
    for attachment in Attachment.objects.filter(company=company):
        assert attachment.file.name.startswith(f"companies/{company.pk}/")
        assert default_storage.exists(attachment.file.name)
        assert default_storage.size(attachment.file.name) == attachment.size

    # Nothing is active, so company deletion meets no blocker; the administrator may delete all CRM records.
    assert not Campaign.objects.filter(company=company, status__in=Campaign.ACTIVE_STATUSES).exists()
    admin = User.objects.get(company=company, role__kind="admin")
    assert admin.check_password(generator.PASSWORD)
    assert admin.has_perm_code("delete_all_crm_records")
    # Ids were assigned by the generator; the database hands out the next ones without colliding.
    assert Contact.objects.create(company=company, email="new@example.com").pk > max(c.pk for c in contacts)


def test_generator_is_reproducible_and_removable(plans):
    first = generator.generate_company("Bench Large 50", 50, 2, seed=5)
    emails = list(Contact.objects.filter(company_id=first.company_id).order_by("id").values_list("email", flat=True))
    generator.wipe_bench_companies()
    assert not Company.objects.filter(pk=first.company_id).exists()
    assert not Contact.objects.filter(company_id=first.company_id).exists()
    second = generator.generate_company("Bench Large 50", 50, 2, seed=5)
    again = list(Contact.objects.filter(company_id=second.company_id).order_by("id").values_list("email", flat=True))
    assert again == emails and second.rows == first.rows


def test_quick_run_measures_every_scenario_and_writes_json_and_picture(transactional_db, tmp_path):
    ensure_plans()
    out = tmp_path / "results.json"
    call_command(
        "bench",
        "run",
        "--quick",
        "--sizes",
        "60",
        "--events-per-contact",
        "2",
        "--out",
        str(out),
        stdout=open(tmp_path / "log", "w"),
    )

    doc = json.loads(out.read_text())
    (run,) = doc["runs"].values()
    (size,) = run["sizes"]
    s = size["scenarios"]
    measured = {
        "export": ("keel", "python_csv_zip", "db_dump"),
        "crm_deletion": ("keel", "raw_delete", "naive_django"),
        "company_deletion": ("keel", "raw_delete", "naive_django"),
        "import": ("keel", "raw_executemany", "bulk_load"),
        "restore": ("keel", "bulk_load"),
        "other_tenants": ("idle", "during_keel_deletion", "during_raw_delete"),
        "contacts_page": ("first_page", "deep_page"),
    }
    for variant in s["contacts_listing"]["variants"].values():
        assert variant["first_page"]["p50_ms"] > 0 and variant["deep_vs_first"] is not None
    for scenario, parts in measured.items():
        for part in parts:
            result = s[scenario][part]
            assert result["ok"], (scenario, part, result.get("error"))
            assert result["seconds"] > 0 and result["peak_rss_mb"] > 0, (scenario, part)
    assert s["import"]["keel"]["contacts_after"] == 60
    assert s["crm_deletion"]["keel"]["rows_left"] == 0 and s["company_deletion"]["keel"]["rows_left"] == 0
    assert s["company_deletion"]["keel"]["write_transactions"]["count"] > 0
    # --quick runs each deletion scenario three times, each on a fresh copy, and keeps the run of median time; the
    # naive company deletion runs under the same reads of another tenant's page as Keel's and the raw one.
    for scenario in ("crm_deletion", "company_deletion"):
        for part in ("keel", "raw_delete", "naive_django"):
            runs = s[scenario][part]["repeats_seconds"]
            assert len(runs) == 3 and s[scenario][part]["seconds"] == pytest.approx(sorted(runs)[1], abs=1e-3)
    assert s["company_deletion"]["naive_django"]["while_probing"]
    assert s["contacts_page"]["first_page"]["errors"] == 0
    assert all(value is not None for value in size["ratios"].values()), size["ratios"]
    assert {t["target"] for t in size["targets"]} and all(t["met"] is not None for t in size["targets"])

    picture = (tmp_path / "bench-quick.svg").read_text()
    assert picture.startswith("<svg") and "rows per second" in picture
    assert "Export" in report.text_table(doc)
    # Everything the run created is gone again, the baselines' scratch folder too.
    assert not generator.bench_companies().exists()
    assert not (Path(settings.DATA_DIR) / SCRATCH_FOLDER).exists()


def test_contacts_listing_compares_a_deep_page_with_the_first_for_each_sort_and_filter(plans):
    made = generator.generate_company("Bench Large 300", 300, 1, seed=3)

    result = listing.contacts_listing({"company_id": made.company_id, "deep_page": 3, "page_size": 5, "repeats": 3})

    assert result["page_size"] == 5 and result["deep_page"] == 3 and result["seconds"] > 0
    assert set(result["variants"]) == {"id_order", "sort_name", "filter_stage", "filter_tag"}
    assert result["rows"] == 4 * 2 * 3  # every variant: three first pages and three deep pages
    for key, variant in result["variants"].items():
        first, deep = variant["first_page"], variant["deep_page"]
        assert first["requests"] == deep["requests"] == 3, key
        assert first["p50_ms"] > 0 and deep["p50_ms"] > 0, key
        assert variant["deep_vs_first"] == round(deep["p50_ms"] / first["p50_ms"], 3), key
        # The deep page is the page the "Next" links would reach, and as deep as the matching contacts allow.
        assert deep["page"] == min(3, -(-variant["matching"] // 5)) > 1, key
        assert deep["right_page"] and deep["rows"] == min(5, variant["matching"] - (deep["page"] - 1) * 5), key
    assert result["variants"]["id_order"]["matching"] == 300
    assert result["variants"]["filter_stage"]["matching"] < 300
    line = listing.ratio_line(result)
    assert line.startswith("Contacts listing, deep page ÷ page 1")
    assert all(variant["label"] in line for variant in result["variants"].values())


def test_bench_run_only_the_contacts_listing_reports_its_ratios(transactional_db, tmp_path):
    ensure_plans()
    out = tmp_path / "results.json"
    log = tmp_path / "log"
    call_command(
        "bench",
        "run",
        "--quick",
        "--sizes",
        "120",
        "--only",
        "contacts_listing",
        "--out",
        str(out),
        stdout=open(log, "w"),
    )

    (run,) = json.loads(out.read_text())["runs"].values()
    (size,) = run["sizes"]
    assert set(size["scenarios"]) == {"contacts_listing"}
    scenario = size["scenarios"]["contacts_listing"]
    assert scenario["ok"] and scenario["peak_rss_mb"] > 0 and scenario["deep_page"] == 1000
    for key, variant in scenario["variants"].items():
        assert variant["deep_page"]["right_page"], key
        assert size["ratios"][f"listing_{key}_deep_vs_first"] == variant["deep_vs_first"] is not None
    assert "Contacts listing, deep page ÷ page 1" in log.read_text()
    assert "Contacts listing, deep page ÷ page 1" in report.text_table(json.loads(out.read_text()))
    assert not generator.bench_companies().exists()


def test_import_bulk_load_writes_the_rows_keel_imports_in_transactions_of_the_given_size(transactional_db, tmp_path):
    ensure_plans()
    path = str(tmp_path / "import.csv")
    scenarios.write_import_csv({"path": path, "rows": 120})
    keel_company = scenarios.create_empty_company({"name": "Bench Import Keel"})["company_id"]
    bulk_company = scenarios.create_empty_company({"name": "Bench Import Bulk"})["company_id"]

    keel = scenarios.import_keel({"company_id": keel_company, "path": path, "rows": 120})
    bulk = scenarios.import_bulk_load({"company_id": bulk_company, "path": path, "rows_per_transaction": 50})

    assert bulk["rows"] == keel["contacts_after"] == 120 and bulk["rows_per_transaction"] == 50
    assert bulk["database"] == connection.vendor
    fields = ("email", "first_name", "last_name", "phone", "company_name", "job_title", "lifecycle_stage")

    def contacts(company_id):
        found = Contact.objects.filter(company_id=company_id).order_by("email")
        return [(*(getattr(c, f) for f in fields), c.custom_fields) for c in found]

    assert contacts(bulk_company) == contacts(keel_company)
    for company_id in (keel_company, bulk_company):
        events = ContactEvent.objects.filter(company_id=company_id)
        assert events.filter(kind="imported").count() == events.count() == 120
        assert set(events.values_list("contact_id", flat=True)) == set(
            Contact.objects.filter(company_id=company_id).values_list("id", flat=True)
        )
    # Ids were assigned by the baseline; the database hands out the next ones without colliding.
    assert Contact.objects.create(company_id=bulk_company, email="next@example.com").pk
    assert ContactEvent.objects.create(company_id=bulk_company, contact_id=Contact.objects.latest("id").pk).pk


@pytest.mark.parametrize(("database", "target"), [("sqlite", 0.5), ("postgresql", 0.25)])
def test_the_import_target_is_a_share_of_the_bulk_load_on_the_database_it_ran_on(database, target):
    scenario = {"import": {"keel": {"ok": True, "rows_per_s": 1000}, "bulk_load": {"ok": True, "rows_per_s": 4000}}}
    scenario["import"]["bulk_load"]["database"] = database

    assert targets.ratios(scenario)["import_vs_bulk_load"] == 0.25
    (check,) = [t for t in targets.targets(scenario) if t["target"].startswith("import")]
    assert check == {
        "target": f"import ≥ {target} × a bulk load of the same rows",
        "value": 0.25,
        "met": target <= 0.25,
    }


def test_a_partial_run_replaces_only_its_scenarios_and_records_its_commit(tmp_path):
    path = tmp_path / "results.json"

    def run(commit, finished_at, scenarios):
        return {
            "database": "sqlite",
            "keel_commit": commit,
            "finished_at": finished_at,
            "sizes": [{"size": 1000, "scenarios": scenarios}],
        }

    full = {"export": {"keel": {"ok": True, "rows_per_s": 10}}, "restore": {"keel": {"ok": True, "rows_per_s": 1}}}
    report.merge(path, run("aaa1111", "2026-12-06T04:00:00+00:00", full))
    newer = {"restore": {"keel": {"ok": True, "rows_per_s": 2}}}
    report.merge(path, run("bbb2222", "2026-12-06T05:00:00+00:00", newer), partial=True)
    [size] = json.loads(path.read_text())["runs"]["sqlite"]["sizes"]
    assert size["scenarios"]["export"]["keel"]["rows_per_s"] == 10
    assert size["scenarios"]["restore"]["keel"]["rows_per_s"] == 2
    assert size["partial_updates"] == [
        {"finished_at": "2026-12-06T05:00:00+00:00", "keel_commit": "bbb2222", "scenarios": ["restore"]}
    ]


def test_a_probe_never_starts_with_the_stop_file_of_an_earlier_size(settings, tmp_path):
    settings.DATA_DIR = str(tmp_path)
    runner = suite.Suite(suite.Options())
    try:
        first = runner.stop_file("company_delete_keel")
        assert not first.exists()
        first.touch()  # the probe at the first size was told to stop
        again = runner.stop_file("company_delete_keel")
        assert again == first and not again.exists()
    finally:
        shutil.rmtree(runner.workdir, ignore_errors=True)
