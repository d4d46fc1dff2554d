"""Rotating the credential encryption key: KEEL_ENCRYPTION_KEYS (newest first) and `keel rotate-encryption-key`."""

import io

import pytest
from django.core.management import CommandError, call_command

from keel.integrations import crypto
from keel.integrations.actions import do_connect_integration
from keel.integrations.models import IntegrationConnection

OLD, NEW = "the-old-secret-key", "the-new-encryption-key"


def connect(company, token):
    do_connect_integration(company, company.admin, "Mailer", token)
    return IntegrationConnection.objects.filter(company=company).latest("pk")


def rotate():
    out = io.StringIO()
    call_command("rotate_encryption_key", stdout=out)
    return out.getvalue()


def test_rotation_keeps_credentials_readable_and_then_the_old_key_can_go(company, other_company, settings):
    settings.ENCRYPTION_KEYS = [OLD]
    first, second = connect(company, "token-one"), connect(other_company, "token-two")
    settings.ENCRYPTION_KEYS = [NEW, OLD]  # a new key in front: old tokens still open, new ones use the new key
    assert crypto.decrypt(first.encrypted_access_token) == "token-one"
    third = connect(company, "token-three")
    assert crypto.is_current(third.encrypted_access_token)
    assert "Re-encrypted 2 secret(s) with the newest key; 1 already used it." in rotate()
    settings.ENCRYPTION_KEYS = [NEW]  # the old key removed
    for connection, token in ((first, "token-one"), (second, "token-two"), (third, "token-three")):
        connection.refresh_from_db()
        assert crypto.decrypt(connection.encrypted_access_token) == token
    assert "Re-encrypted 0 secret(s) with the newest key; 3 already used it." in rotate()


def test_a_credential_whose_key_was_removed_is_reported_by_company_and_provider(company, settings, caplog):
    settings.ENCRYPTION_KEYS = [OLD]
    lost = connect(company, "token-one")
    settings.ENCRYPTION_KEYS = [NEW]  # the old key removed before rotating
    kept = connect(company, "token-two")
    with pytest.raises(CommandError) as raised:
        rotate()
    message = str(raised.value)
    assert "1 secret(s) cannot be decrypted with any key in KEEL_ENCRYPTION_KEYS" in message
    assert f"{company.slug}: Mailer (connection {lost.pk})" in message and f"connection {kept.pk}" not in message
    assert crypto.decrypt(lost.encrypted_access_token) is None
    assert "cannot be decrypted with any key in KEEL_ENCRYPTION_KEYS" in caplog.text
    settings.ENCRYPTION_KEYS = [NEW, OLD]  # put back: now it rotates
    rotate()
    lost.refresh_from_db()
    settings.ENCRYPTION_KEYS = [NEW]
    assert crypto.decrypt(lost.encrypted_access_token) == "token-one"


def test_without_the_list_the_one_key_is_the_old_setting(monkeypatch):
    """Credentials stored before KEEL_ENCRYPTION_KEYS existed stay readable: the fallback is the same key."""
    import importlib

    import keel.settings as keel_settings

    monkeypatch.delenv("KEEL_ENCRYPTION_KEYS", raising=False)
    monkeypatch.setenv("KEEL_ENCRYPTION_KEY", "legacy-key")
    try:
        assert importlib.reload(keel_settings).ENCRYPTION_KEYS == ["legacy-key"]
        monkeypatch.setenv("KEEL_ENCRYPTION_KEYS", " newer , legacy-key ,")
        assert importlib.reload(keel_settings).ENCRYPTION_KEYS == ["newer", "legacy-key"]
    finally:
        monkeypatch.undo()
        importlib.reload(keel_settings)
