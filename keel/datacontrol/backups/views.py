"""Settings → Data Management → Export Data → Scheduled backups: set the schedule, test the bucket, run it now."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from keel.accounts.access import company_page
from keel.datacontrol.backups import actions as backups
from keel.datacontrol.backups.schedule import WEEKDAYS, describe
from keel.datacontrol.export import actions as exports
from keel.datacontrol.export.scopes import SCOPES
from keel.datacontrol.labels import scope_label
from keel.datacontrol.models import BackupSchedule
from keel.errors import KeelError
from keel.jobs.templatetags.jobs import page_message


def form_data(post):
    """The page's form as the API's schedule object (``keel.datacontrol.backups.settings_form``)."""
    return {
        "enabled": post.get("enabled") == "on",
        "frequency": post.get("frequency"),
        "weekday": post.get("weekday"),
        "day_of_month": post.get("day_of_month"),
        "hour_utc": post.get("hour_utc"),
        "keep": post.get("keep"),
        "scope": post.getlist("scope"),
        "encryption": {
            "mode": post.get("encryption_mode"),
            "recipients": post.get("recipients", ""),
            "passphrase": post.get("passphrase") or None,
        },
        "destination": destination_data(post),
    }


def destination_data(post):
    return {
        "kind": post.get("destination_kind"),
        **{name: post.get(name, "") for name in ("endpoint_url", "region", "bucket", "prefix", "access_key_id")},
        "secret_access_key": post.get("secret_access_key") or None,
    }


def _page(request, values=None, error=None, status=200):
    company = request.company
    schedule = backups.get_schedule(company)
    context = {
        "schedule": schedule,
        "summary": describe(schedule) if schedule else "",
        "values": values or _values_of(schedule),
        "error": error,
        "scopes": [(code, scope_label(code)) for code in SCOPES],
        "weekdays": list(enumerate(WEEKDAYS)),
        "hours": range(24),
        "runs": [{"run": run, "state": exports.export_state(run)} for run in backups.last_runs(company)],
    }
    try:
        exports.ensure_plan_allows_export(company)
    except KeelError as exc:
        context["plan_refusal"] = exc.message
    return render(request, "datacontrol/backups/schedule.html", context, status=status)


def _values_of(schedule):
    """The form's initial values: the saved schedule (never its secrets), or the defaults."""
    schedule = schedule or BackupSchedule(enabled=True, scope=list(SCOPES))
    return {
        "enabled": schedule.enabled,
        "frequency": schedule.frequency,
        "weekday": schedule.weekday,
        "day_of_month": schedule.day_of_month,
        "hour_utc": schedule.hour_utc,
        "keep": schedule.keep,
        "scope": schedule.scope or list(SCOPES),
        "encryption_mode": schedule.encryption_mode,
        "recipients": "\n".join(schedule.encryption_recipients),
        "destination_kind": schedule.destination_kind,
        **{name: getattr(schedule, name) for name in ("endpoint_url", "region", "bucket", "prefix", "access_key_id")},
    }


def _posted_values(post):
    values = {name: post.get(name, "") for name in post if name not in ("passphrase", "secret_access_key")}
    values["enabled"] = post.get("enabled") == "on"
    values["scope"] = post.getlist("scope")
    for name in ("weekday", "hour_utc"):
        values[name] = int(values[name]) if str(values.get(name, "")).isdigit() else values.get(name)
    return values


@company_page(permission=exports.EXPORT_PERMISSION, admin_only=True)
def backup_schedule(request):
    if request.method != "POST":
        return _page(request)
    action = request.POST.get("action")
    try:
        if action == "test":
            backups.do_test_backup_destination(request.company, destination_data(request.POST), actor=request.user)
            messages.success(request, "Connection works: Keel wrote, read back and deleted a test object.")
            return _page(request, values=_posted_values(request.POST))
        backups.do_set_backup_schedule(request.company, form_data(request.POST), actor=request.user)
    except KeelError as exc:
        return _page(request, values=_posted_values(request.POST), error=exc, status=exc.status)
    messages.success(request, "The backup schedule is saved.")
    return redirect("backup_schedule")


@require_POST
@company_page(permission=exports.EXPORT_PERMISSION, admin_only=True)
def delete_backup_schedule(request):
    backups.do_delete_backup_schedule(request.company, actor=request.user)
    messages.success(request, "Scheduled backups are turned off. The archives already made stay until they expire.")
    return redirect("backup_schedule")


@require_POST
@company_page(permission=exports.EXPORT_PERMISSION, admin_only=True)
def run_backup_now(request):
    try:
        archive = backups.do_run_backup_now(request.company, actor=request.user)
    except KeelError as exc:
        messages.error(request, page_message(exc, request.company))
        return redirect("backup_schedule")
    messages.success(request, "The backup has started. It appears in the export history with its progress.")
    return redirect(f"{reverse('export_data')}?started={archive.pk}#export-{archive.pk}")
