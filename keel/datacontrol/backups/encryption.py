"""Encrypting an export with age (docs/backups.md, "Encryption"): the whole ZIP becomes one ``.zip.age`` file that
the standard ``age`` and ``rage`` tools, ``keel decrypt`` and Keel's restore decrypt.

Two modes, both age's own, through pyrage (a maintained binding of the rage implementation; no cryptography is
written here): **recipients**, X25519 public keys (``age1…``), so that Keel never holds anything that decrypts the
archive; and **passphrase**, age's scrypt mode. pyrage encrypts for recipients as a stream (memory stays flat) but a
passphrase only in memory, so a passphrase-encrypted archive is limited to ``KEEL_PASSPHRASE_ARCHIVE_MAX_BYTES``.
"""

from dataclasses import dataclass, field

import pyrage
from django.conf import settings

from keel.datacontrol.models import EncryptionMode
from keel.errors import InvalidInput
from keel.storage import stream_digest

MAX_RECIPIENTS = 20
PASSPHRASE_MIN_LENGTH = 12
PASSPHRASE_MAX_LENGTH = 1024
MODES = tuple(EncryptionMode.values)


@dataclass(frozen=True)
class Encryption:
    mode: str = EncryptionMode.NONE
    recipients: list[str] = field(default_factory=list)
    passphrase: str = ""  # only between the request and the moment it is stored encrypted; never logged
    stored_passphrase: str = ""  # a schedule's passphrase as it is stored (encrypted at rest)

    @property
    def enabled(self):
        return self.mode != EncryptionMode.NONE


class EncryptionTooLarge(Exception):
    """The archive is too large to encrypt with a passphrase (in memory)."""


def parse_encryption(data, *, field_prefix="encryption", passphrase_required=True):
    """An ``Encryption`` from the API's ``{"mode", "recipients", "passphrase"}``, or a 422 naming the field.

    ``passphrase_required=False`` lets a schedule keep the passphrase it already stores.
    """
    data = data or {}
    if not isinstance(data, dict):
        raise InvalidInput("Encryption must be an object with a mode.", field=field_prefix)
    mode = data.get("mode") or EncryptionMode.NONE
    if mode not in MODES:
        raise InvalidInput(
            f"Unknown encryption mode “{mode}”. Choose none, recipients or passphrase.", field=f"{field_prefix}.mode"
        )
    if mode == EncryptionMode.RECIPIENTS:
        return Encryption(mode, recipients=parse_recipients(data.get("recipients"), f"{field_prefix}.recipients"))
    if mode == EncryptionMode.PASSPHRASE:
        passphrase = data.get("passphrase") or ""
        if passphrase or passphrase_required:
            check_passphrase(passphrase, f"{field_prefix}.passphrase")
        return Encryption(mode, passphrase=passphrase)
    return Encryption()


def parse_recipients(values, field_name):
    """age X25519 public keys, one per entry (blank lines ignored), each checked by the age library."""
    if isinstance(values, str):
        values = values.splitlines()
    if not isinstance(values, list):
        raise InvalidInput("Give the recipients as a list of age public keys (age1…).", field=field_name)
    recipients = []
    for value in values:
        key = str(value or "").strip()
        if not key:
            continue
        try:
            pyrage.x25519.Recipient.from_str(key)
        except (pyrage.RecipientError, ValueError):
            shown = key if len(key) <= 80 else key[:77] + "…"
            raise InvalidInput(
                f"“{shown}” is not an age public key. A recipient looks like age1… (from age-keygen or rage-keygen).",
                field=field_name,
                code="invalid_recipient",
            ) from None
        if key not in recipients:
            recipients.append(key)
    if not recipients:
        raise InvalidInput("Give at least one age public key (age1…).", field=field_name, code="invalid_recipient")
    if len(recipients) > MAX_RECIPIENTS:
        raise InvalidInput(f"At most {MAX_RECIPIENTS} recipients.", field=field_name, code="invalid_recipient")
    return recipients


def check_passphrase(passphrase, field_name):
    if not isinstance(passphrase, str) or len(passphrase) < PASSPHRASE_MIN_LENGTH:
        raise InvalidInput(
            f"Choose a passphrase of at least {PASSPHRASE_MIN_LENGTH} characters: it is all that protects the archive.",
            field=field_name,
            code="invalid_passphrase",
        )
    if len(passphrase) > PASSPHRASE_MAX_LENGTH or "\x00" in passphrase:
        raise InvalidInput(
            f"A passphrase has at most {PASSPHRASE_MAX_LENGTH} characters and no NUL character.",
            field=field_name,
            code="invalid_passphrase",
        )


def encrypt_file(plain_path, encrypted_path, encryption):
    """Write ``plain_path`` encrypted to ``encrypted_path``; returns (size, sha256) of the encrypted file."""
    if encryption.mode == EncryptionMode.RECIPIENTS:
        keys = [pyrage.x25519.Recipient.from_str(key) for key in encryption.recipients]
        with open(plain_path, "rb") as plain, open(encrypted_path, "wb") as encrypted:
            pyrage.encrypt_io(plain, encrypted, keys)
    else:
        with open(plain_path, "rb") as plain:
            data = plain.read(settings.KEEL_PASSPHRASE_ARCHIVE_MAX_BYTES + 1)
        if len(data) > settings.KEEL_PASSPHRASE_ARCHIVE_MAX_BYTES:
            raise EncryptionTooLarge
        with open(encrypted_path, "wb") as encrypted:
            encrypted.write(pyrage.passphrase.encrypt(data, encryption.passphrase))
            del data
    return file_digest(encrypted_path)


def file_digest(path):
    with open(path, "rb") as handle:
        return stream_digest(handle)
