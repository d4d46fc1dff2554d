"""Reading a backup schedule as the API and the page send it: each value checked, each error naming its field.

The API's JSON body and the page's form both become the same dict (``{"enabled", "frequency", "weekday",
"day_of_month", "hour_utc", "scope", "keep", "encryption": {...}, "destination": {...}}``); ``parse_schedule``
turns it into the model's fields, keeping the stored secrets when none are given (docs/backups.md).
"""

import re

from keel.datacontrol.backups.destination import S3Destination, check_endpoint_allowed
from keel.datacontrol.backups.encryption import parse_encryption
from keel.datacontrol.backups.schedule import FREQUENCIES, WEEKDAYS
from keel.datacontrol.export.actions import parse_scope
from keel.datacontrol.models import BackupSchedule, EncryptionMode
from keel.errors import InvalidInput
from keel.integrations import crypto

KEEP_MAX = 100
DEFAULT_REGION = "us-east-1"
# S3's rules for bucket names: 3–63 characters, lower-case letters, digits, dots and hyphens, letters or digits at
# both ends.
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
REGION_NAME = re.compile(r"^[a-z0-9-]{1,64}$")


def invalid(message, field):
    return InvalidInput(message, field=field, code="invalid_schedule")


def _integer(data, name, low, high, default):
    value = data.get(name, default)
    if value is None:
        value = default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(f"{name} must be a whole number from {low} to {high}.", name)
    return value


def _weekday(data, default):
    value = data.get("weekday", default)
    if isinstance(value, str) and value.strip().capitalize() in WEEKDAYS:
        return WEEKDAYS.index(value.strip().capitalize())
    return _integer({"weekday": value}, "weekday", 0, 6, default)


def parse_schedule(data, existing=None):
    """The schedule's model fields from ``data``; a 422 naming the first invalid field."""
    if not isinstance(data, dict):
        raise InvalidInput("Send the schedule as a JSON object.", field="schedule")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise invalid("enabled must be true or false.", "enabled")
    frequency = data.get("frequency") or BackupSchedule.Frequency.WEEKLY
    if frequency not in FREQUENCIES:
        raise invalid(f"frequency must be one of {', '.join(FREQUENCIES)}.", "frequency")
    fields = {
        "enabled": enabled,
        "frequency": frequency,
        "weekday": _weekday(data, 0),
        "day_of_month": _integer(data, "day_of_month", 1, 31, 1),
        "hour_utc": _integer(data, "hour_utc", 0, 23, 2),
        "keep": _integer(data, "keep", 1, KEEP_MAX, 4),
        "scope": parse_scope(data.get("scope")),
    }
    fields.update(_encryption_fields(data.get("encryption"), existing))
    fields.update(_destination_fields(data.get("destination"), existing))
    return fields


def _encryption_fields(data, existing):
    has_passphrase = bool(existing and existing.encrypted_passphrase)
    encryption = parse_encryption(data, passphrase_required=not has_passphrase)
    passphrase = existing.encrypted_passphrase if has_passphrase else ""
    if encryption.passphrase:
        passphrase = crypto.encrypt(encryption.passphrase)
    return {
        "encryption_mode": encryption.mode,
        "encryption_recipients": encryption.recipients,
        "encrypted_passphrase": passphrase if encryption.mode == EncryptionMode.PASSPHRASE else "",
    }


def _destination_fields(data, existing):
    data = data or {}
    if not isinstance(data, dict):
        raise InvalidInput("destination must be an object with a kind.", field="destination")
    kind = data.get("kind") or BackupSchedule.Destination.KEEL
    if kind not in BackupSchedule.Destination.values:
        raise InvalidInput("destination.kind must be keel or s3.", field="destination.kind", code="invalid_destination")
    if kind == BackupSchedule.Destination.KEEL:
        return {
            "destination_kind": kind,
            "endpoint_url": "",
            "region": "",
            "bucket": "",
            "prefix": "",
            "access_key_id": "",
            "encrypted_secret_access_key": "",
        }
    destination = parse_destination(data, existing, secret_required=False)
    secret = data.get("secret_access_key")
    stored = crypto.encrypt(secret) if secret else _reusable_secret(destination, existing)
    if not stored:
        raise _destination_error("Give the secret access key of this access key id.", "secret_access_key")
    return {
        "destination_kind": kind,
        "endpoint_url": destination.endpoint_url,
        "region": destination.region,
        "bucket": destination.bucket,
        "prefix": destination.prefix,
        "access_key_id": destination.access_key_id,
        "encrypted_secret_access_key": stored,
    }


def _destination_error(message, name):
    return InvalidInput(message, field=f"destination.{name}", code="invalid_destination")


def _text(data, name, max_length):
    value = data.get(name) or ""
    if not isinstance(value, str) or len(value) > max_length or "\x00" in value:
        raise _destination_error(f"destination.{name} must be text of at most {max_length} characters.", name)
    return value.strip()


def _reusable_secret(destination, existing):
    """The stored secret access key, when the access key it belongs to has not changed."""
    if existing and existing.access_key_id == destination.access_key_id and existing.encrypted_secret_access_key:
        return existing.encrypted_secret_access_key
    return ""


def parse_destination(data, existing=None, *, secret_required, as_s3=False):
    """An ``S3Destination`` from the API's destination object (the secret decrypted when reused for a test)."""
    if not isinstance(data, dict):
        raise InvalidInput("destination must be an object.", field="destination", code="invalid_destination")
    endpoint_url = _text(data, "endpoint_url", 500)
    if not endpoint_url:
        raise _destination_error("Give the endpoint URL of the S3-compatible service (https://…).", "endpoint_url")
    check_endpoint_allowed(endpoint_url)
    bucket = _text(data, "bucket", 63)
    if not BUCKET_NAME.match(bucket) or ".." in bucket:
        raise _destination_error(
            "Give a valid bucket name: 3–63 lower-case letters, digits, dots and hyphens.", "bucket"
        )
    region = _text(data, "region", 64) or DEFAULT_REGION
    if not REGION_NAME.match(region):
        raise _destination_error("A region is lower-case letters, digits and hyphens, e.g. eu-west-1.", "region")
    prefix = _text(data, "prefix", 500).strip("/")
    if any(part in ("..", ".") for part in prefix.split("/")):
        raise _destination_error("The key prefix cannot contain . or .. folders.", "prefix")
    access_key_id = _text(data, "access_key_id", 128)
    if not access_key_id:
        raise _destination_error("Give the access key id Keel uploads with.", "access_key_id")
    secret = data.get("secret_access_key") or ""
    if not isinstance(secret, str) or len(secret) > 256:
        raise _destination_error("The secret access key must be text of at most 256 characters.", "secret_access_key")
    destination = S3Destination(endpoint_url, region, bucket, prefix, access_key_id, secret)
    if as_s3 and not secret:
        stored = _reusable_secret(destination, existing)
        secret = (crypto.decrypt(stored) or "") if stored else ""
        destination = S3Destination(endpoint_url, region, bucket, prefix, access_key_id, secret)
    if secret_required and not secret:
        raise _destination_error("Give the secret access key of this access key id.", "secret_access_key")
    return destination
