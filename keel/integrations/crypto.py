"""Encryption at rest for integration credentials: Fernet tokens under a list of keys, newest first
(settings.ENCRYPTION_KEYS, from KEEL_ENCRYPTION_KEYS). The newest key encrypts; every listed key decrypts, so an
operator adds a new key in front, runs `keel rotate-encryption-key` to re-encrypt every stored credential with it,
and only then removes the old one (docs/operations.md, "Rotating the encryption key")."""

import base64
import hashlib
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

logger = logging.getLogger("keel.integrations")


class UnreadableCredential(Exception):
    """A stored credential that none of the configured keys decrypts: its key was removed too early."""


def _fernet_for(secret):
    # Any string can be a key: Fernet's own 32-byte key is derived from it (SHA-256, domain-separated).
    key = hashlib.sha256(("keel-integrations:" + secret).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _keys():
    return MultiFernet([_fernet_for(secret) for secret in settings.ENCRYPTION_KEYS])


def encrypt(plaintext):
    return _keys().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext):
    """The plaintext, or None when no configured key opens it (logged: it means a key was removed too early)."""
    try:
        return _keys().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        logger.warning("a stored integration credential cannot be decrypted with any key in KEEL_ENCRYPTION_KEYS")
        return None


def reencrypt(ciphertext):
    """The same plaintext encrypted with the newest key; raises UnreadableCredential if no key opens it."""
    try:
        return _keys().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise UnreadableCredential from None


def is_current(ciphertext):
    """Whether the newest key alone opens this token (it needs no re-encryption)."""
    try:
        _fernet_for(settings.ENCRYPTION_KEYS[0]).decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True
