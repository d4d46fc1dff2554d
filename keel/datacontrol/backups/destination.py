"""The company's own S3-compatible bucket as a backup destination: checking it, testing it, uploading to it.

Every call goes through ``keel.outbound_s3.guarded_s3_client``: the endpoint must be https on the public internet
(or allowed by the operator in ``KEEL_BACKUP_ENDPOINT_ALLOWLIST``), connections go only to the addresses checked,
and each operation has a total deadline (docs/backups.md, "Delivery to your own storage").
"""

import logging
import posixpath
import uuid
from dataclasses import dataclass

from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from keel.errors import InvalidInput
from keel.outbound import OutboundFailed, OutboundRefused, parse_url, refuse_unless_public, resolve
from keel.outbound_s3 import ALLOWLIST_SETTING, guarded_s3_client

logger = logging.getLogger("keel.datacontrol")

ACCESS_DENIED_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "AllAccessDisabled"}
MISSING_BUCKET_CODES = {"NoSuchBucket", "404"}


@dataclass(frozen=True)
class S3Destination:
    endpoint_url: str
    region: str
    bucket: str
    prefix: str
    access_key_id: str
    secret_access_key: str

    def key_for(self, filename):
        return posixpath.join(self.prefix.strip("/"), filename) if self.prefix.strip("/") else filename

    def url_of(self, key):
        return f"s3://{self.bucket}/{key}"


class DestinationNotAllowed(InvalidInput):
    code = "destination_not_allowed"


class DestinationUnreachable(InvalidInput):
    code = "destination_unreachable"


class DeliveryFailed(Exception):
    """An upload that did not complete; ``reason`` is a sentence for the administrators. ``permanent`` when trying
    again cannot help (the endpoint is refused)."""

    def __init__(self, reason, permanent=False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def check_endpoint_allowed(url, field="destination.endpoint_url"):
    """A 422 ``destination_not_allowed`` unless Keel may send backups to ``url`` (checked again at every call)."""
    message = (
        "Enter the https:// address of an S3-compatible endpoint on the public internet. Loopback, private, "
        "link-local and other internal addresses (and host names that resolve to them) are refused unless the "
        "operator allows the endpoint in KEEL_BACKUP_ENDPOINT_ALLOWLIST."
    )
    try:
        target = parse_url(url)
    except ValueError:
        raise DestinationNotAllowed(message, field=field) from None
    try:
        addresses = resolve(target.host, target.port, 2.0)
    except OutboundFailed:
        addresses = []  # a name that does not resolve now is checked again before anything is sent
    try:
        refuse_unless_public(target, addresses, ALLOWLIST_SETTING)
    except OutboundRefused:
        raise DestinationNotAllowed(message, field=field) from None
    return url


def _client(destination, deadline_seconds):
    return guarded_s3_client(
        destination.endpoint_url,
        region=destination.region,
        access_key_id=destination.access_key_id,
        secret_access_key=destination.secret_access_key,
        deadline_seconds=deadline_seconds,
    )


def explain(exc, destination):
    """A sentence saying exactly what failed, without credentials."""
    if isinstance(exc, OutboundRefused):
        return "Keel may not connect to this endpoint: it is not a public https:// address."
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in MISSING_BUCKET_CODES:
            return f"The bucket “{destination.bucket}” does not exist at {destination.endpoint_url}."
        if code in ACCESS_DENIED_CODES:
            return (
                "Access denied: check the access key id and secret access key, and that the key may put, get and "
                f"delete objects in the bucket “{destination.bucket}”."
            )
        return f"The endpoint refused the request ({code or 'unknown error'})."
    if isinstance(exc, OutboundFailed):
        return f"The endpoint is unreachable: {exc.reason}."
    return f"The endpoint is unreachable: {type(exc).__name__}."


def test_destination(destination):
    """Write, read back and delete a small object. Raises ``DestinationNotAllowed`` or ``DestinationUnreachable``."""
    key = destination.key_for(f".keel-connection-test-{uuid.uuid4().hex}")
    body = b"Keel checks that it can write, read and delete backups here.\n"
    try:
        client = _client(destination, settings.KEEL_BACKUP_TEST_DEADLINE_SECONDS)
        client.put_object(Bucket=destination.bucket, Key=key, Body=body)
        read = client.get_object(Bucket=destination.bucket, Key=key)["Body"].read()
        client.delete_object(Bucket=destination.bucket, Key=key)
    except OutboundRefused as exc:
        raise DestinationNotAllowed(explain(exc, destination), field="destination.endpoint_url") from None
    except (ClientError, BotoCoreError, OutboundFailed, OSError) as exc:
        logger.info("backup destination test failed: %s", type(exc).__name__)
        raise DestinationUnreachable(explain(exc, destination), field="destination") from None
    if read != body:
        raise DestinationUnreachable("The object read back differs from the one written.", field="destination")


def upload(destination, fileobj, filename, size):
    """Upload the archive read from ``fileobj`` in parts (memory holds one part), check the size the bucket
    reports; returns the key written."""
    key = destination.key_for(filename)
    part = max(5 * 1024 * 1024, settings.KEEL_BACKUP_UPLOAD_PART_BYTES)
    config = TransferConfig(multipart_threshold=part, multipart_chunksize=part, use_threads=False)
    try:
        client = _client(destination, settings.KEEL_BACKUP_UPLOAD_DEADLINE_SECONDS)
        client.upload_fileobj(fileobj, destination.bucket, key, Config=config)
        stored = client.head_object(Bucket=destination.bucket, Key=key)["ContentLength"]
    except OutboundRefused as exc:
        raise DeliveryFailed(explain(exc, destination), permanent=True) from None
    except (ClientError, BotoCoreError, OutboundFailed, OSError) as exc:
        raise DeliveryFailed(explain(exc, destination)) from None
    except S3UploadFailedError as exc:  # boto3's transfer manager wraps the error of a part in its own
        raise DeliveryFailed(explain(exc.__cause__ or exc, destination)) from None
    if stored != size:
        raise DeliveryFailed(f"The bucket holds {stored:,} bytes of the {size:,} uploaded.")
    return key


def delete_object(destination, key):
    """Delete one object Keel wrote (retention). Returns whether it is gone."""
    try:
        _client(destination, settings.KEEL_BACKUP_TEST_DEADLINE_SECONDS).delete_object(
            Bucket=destination.bucket, Key=key
        )
    except (ClientError, BotoCoreError, OutboundFailed, OutboundRefused, OSError) as exc:
        logger.warning("could not delete an old backup from the company's bucket: %s", type(exc).__name__)
        return False
    return True
