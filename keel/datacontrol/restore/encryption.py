"""Archives encrypted with age (recipients or a passphrase): recognised by their header and decrypted into a
temporary file before they are read. The passphrase or identity is used for that alone: never stored, never logged
(docs/restore.md, Encrypted archives)."""

import tempfile

import pyrage
from django.core.management.base import CommandError

from keel.errors import InvalidInput

AGE_HEADER = b"age-encryption.org/v1"
SPOOL_BYTES = 16 * 1024 * 1024  # decrypted archives larger than this go to disk, not memory


class ArchiveEncrypted(InvalidInput):
    code = "archive_encrypted"


class DecryptionFailed(InvalidInput):
    code = "decryption_failed"


def is_encrypted(fileobj):
    fileobj.seek(0)
    head = fileobj.read(len(AGE_HEADER))
    fileobj.seek(0)
    return head == AGE_HEADER


def plain_archive(fileobj, *, passphrase=None, identity=None):
    """``fileobj`` itself when it is not encrypted, else a temporary file holding the decrypted ZIP."""
    if not is_encrypted(fileobj):
        return fileobj
    if identity:
        return _with_identity(fileobj, identity)
    if passphrase:
        return _with_passphrase(fileobj, passphrase)
    raise ArchiveEncrypted(
        "This archive is encrypted (age). Give the passphrase, or the identity (AGE-SECRET-KEY-…) of one of its "
        "recipients, that decrypts it.",
        field="passphrase",
    )


def _with_identity(fileobj, identity):
    try:
        key = pyrage.x25519.Identity.from_str(identity.strip())
    except pyrage.IdentityError:
        raise DecryptionFailed("The identity is not an age identity (AGE-SECRET-KEY-1…).", field="identity") from None
    plain = tempfile.SpooledTemporaryFile(SPOOL_BYTES)
    try:
        pyrage.decrypt_io(fileobj, plain, [key])
    except pyrage.DecryptError:
        plain.close()
        raise DecryptionFailed("This identity does not decrypt the archive.", field="identity") from None
    plain.seek(0)
    return plain


def _with_passphrase(fileobj, passphrase):
    # age's passphrase mode has no streaming decryption in pyrage: the archive is read whole.
    try:
        data = pyrage.passphrase.decrypt(fileobj.read(), passphrase)
    except pyrage.DecryptError:
        raise DecryptionFailed("The passphrase does not decrypt this archive.", field="passphrase") from None
    plain = tempfile.SpooledTemporaryFile(SPOOL_BYTES)
    plain.write(data)
    plain.seek(0)
    return plain


def add_secret_arguments(parser):
    """The command line's way to give a passphrase or identity: in a file, so that it is not in the shell's history
    or the process list."""
    parser.add_argument("--passphrase-file", help="a file holding the passphrase of an encrypted archive")
    parser.add_argument("--identity-file", help="a file holding an age identity (AGE-SECRET-KEY-1…)")


def read_secrets(passphrase_file, identity_file):
    secrets = {}
    for key, path in (("passphrase", passphrase_file), ("identity", identity_file)):
        if path:
            try:
                with open(path, encoding="utf-8") as handle:
                    secrets[key] = handle.read().strip()
            except OSError as exc:
                raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
    return secrets
