"""/api/v1/exports/schedule: the company's scheduled backups (docs/backups.md, "API")."""

from datetime import datetime

from ninja import Field, Router, Schema, Status
from pydantic import BaseModel

from keel.accounts.access import require_company_admin
from keel.datacontrol.backups import actions as backups
from keel.datacontrol.backups.schedule import FREQUENCIES
from keel.datacontrol.backups.settings_form import KEEP_MAX
from keel.datacontrol.export.actions import EXPORT_PERMISSION
from keel.datacontrol.export.api import EncryptionIn, EncryptionOut, ExportOut, export_as_dict
from keel.datacontrol.export.scopes import SCOPES
from keel.datacontrol.models import BackupSchedule, ExportArchive
from keel.openapi import list_of, one_of

router = Router(tags=["backups"])

DESTINATION_KINDS = tuple(BackupSchedule.Destination.values)


def _range(default, low, high, description):
    # The bounds are stated for clients; the server checks them itself, answering invalid_schedule.
    return Field(default, json_schema_extra={"minimum": low, "maximum": high}, description=description)


class DestinationIn(BaseModel):  # plain pydantic, as EncryptionIn: only an object is a destination
    kind: str = one_of(DESTINATION_KINDS, "keel", description="keel (download from Keel) or s3 (your own bucket)")
    endpoint_url: str | None = Field(None, description="https:// address of the S3-compatible service")
    region: str | None = None
    bucket: str | None = None
    prefix: str | None = Field(None, description="key prefix (folder) for the archives in the bucket")
    access_key_id: str | None = None
    secret_access_key: str | None = Field(None, description="write-only; kept when left out and the key is the same")


class DestinationOut(Schema):
    kind: str = one_of(DESTINATION_KINDS)
    endpoint_url: str
    region: str
    bucket: str
    prefix: str
    access_key_id: str


class ScheduleIn(Schema):
    enabled: bool = True
    frequency: str = one_of(FREQUENCIES, "weekly")
    weekday: int = _range(0, 0, 6, "weekly: 0 = Monday … 6 = Sunday")
    day_of_month: int = _range(1, 1, 31, "monthly: 1–31, the last day of shorter months")
    hour_utc: int = _range(2, 0, 23, "the hour of the day, in UTC")
    scope: list[str] | None = list_of(SCOPES, None, description="the data scopes; all when left out")
    keep: int = _range(4, 1, KEEP_MAX, "how many scheduled archives to keep")
    encryption: EncryptionIn | None = None
    destination: DestinationIn | None = None


class ScheduleOut(Schema):
    enabled: bool
    frequency: str = one_of(FREQUENCIES)
    weekday: int
    day_of_month: int
    hour_utc: int
    scope: list[str] = list_of(SCOPES)
    keep: int
    encryption: EncryptionOut
    has_passphrase: bool = Field(description="a passphrase is stored (it is never shown)")
    destination: DestinationOut
    has_secret_access_key: bool = Field(description="a secret access key is stored (it is never shown)")
    next_run_at: datetime | None
    last_runs: list[ExportOut]


class TestDestinationIn(Schema):
    destination: DestinationIn | None = Field(None, description="the bucket to test; the saved one when left out")


class OkOut(Schema):
    ok: bool


def schedule_as_dict(company, schedule):
    """The schedule object of the API: ``enabled: false`` with the defaults when none was ever set."""
    blank = schedule is None
    schedule = schedule or BackupSchedule(company=company, enabled=False, scope=list(SCOPES))
    return {
        "enabled": schedule.enabled,
        "frequency": schedule.frequency,
        "weekday": schedule.weekday,
        "day_of_month": schedule.day_of_month,
        "hour_utc": schedule.hour_utc,
        "scope": schedule.scope or list(SCOPES),
        "keep": schedule.keep,
        "encryption": {"mode": schedule.encryption_mode, "recipients": schedule.encryption_recipients},
        "has_passphrase": bool(schedule.encrypted_passphrase),
        "destination": {
            "kind": schedule.destination_kind,
            "endpoint_url": schedule.endpoint_url,
            "region": schedule.region,
            "bucket": schedule.bucket,
            "prefix": schedule.prefix,
            "access_key_id": schedule.access_key_id,
        },
        "has_secret_access_key": bool(schedule.encrypted_secret_access_key),
        "next_run_at": schedule.next_run_at,
        "last_runs": [] if blank else [export_as_dict(run) for run in backups.last_runs(company)],
    }


def _admin(request):
    require_company_admin(request.user, EXPORT_PERMISSION)
    return request.company


@router.get("/exports/schedule", response=ScheduleOut)
def get_backup_schedule(request):
    """The company's backup schedule, its next run and its last runs."""
    company = _admin(request)
    return schedule_as_dict(company, backups.get_schedule(company))


@router.put("/exports/schedule", response=ScheduleOut)
def set_backup_schedule(request, payload: ScheduleIn):
    """Set the schedule. ``passphrase`` and ``secret_access_key`` are write-only: left out, the stored ones stay."""
    company = _admin(request)
    schedule = backups.do_set_backup_schedule(company, payload.model_dump(exclude_none=True), actor=request.user)
    return schedule_as_dict(company, schedule)


@router.delete("/exports/schedule", response={204: None})
def delete_backup_schedule(request):
    """Stop scheduled backups; the archives already made stay until they expire."""
    backups.do_delete_backup_schedule(_admin(request), actor=request.user)
    return Status(204, None)


@router.post("/exports/schedule/run", response={202: ExportOut})
def run_backup_now(request):
    """Run the schedule now (counted against the plan's exports per day)."""
    archive = backups.do_run_backup_now(_admin(request), actor=request.user)
    return Status(202, export_as_dict(ExportArchive.objects.select_related("job", "company").get(pk=archive.pk)))


@router.post("/exports/schedule/test-destination", response=OkOut)
def test_backup_destination(request, payload: TestDestinationIn | None = None):
    """Write, read back and delete a small object in the bucket; 422 ``destination_unreachable`` says what failed,
    ``destination_not_allowed`` refuses an internal address."""
    destination = payload.destination.model_dump(exclude_none=True) if payload and payload.destination else None
    backups.do_test_backup_destination(_admin(request), destination, actor=request.user)
    return {"ok": True}
