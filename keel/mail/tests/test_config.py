"""The mail server settings read from the environment (keel/mail/config.py)."""

import pytest

from keel.mail.config import MailSettingError, smtp_options


def test_without_a_host_e_mails_are_written_as_files():
    assert smtp_options({}) is None


@pytest.mark.parametrize(
    "env, ssl, tls",
    [
        ({}, False, False),  # port 25
        ({"KEEL_EMAIL_PORT": "1025"}, False, False),  # host and port only: TLS stays off
        ({"KEEL_EMAIL_PORT": "465"}, True, False),
        ({"KEEL_EMAIL_PORT": "587"}, False, True),
        ({"KEEL_EMAIL_PORT": "2525", "KEEL_EMAIL_USE_TLS": "true"}, False, True),
        ({"KEEL_EMAIL_PORT": "587", "KEEL_EMAIL_USE_TLS": "false"}, False, False),
        ({"KEEL_EMAIL_PORT": "2465", "KEEL_EMAIL_USE_SSL": "yes"}, True, False),
    ],
)
def test_tls_is_off_unless_asked_for_or_implied_by_the_port(env, ssl, tls):
    options = smtp_options({"KEEL_EMAIL_HOST": "mail.example", **env})
    assert (options["use_ssl"], options["use_tls"]) == (ssl, tls)


def test_every_connection_has_a_timeout():
    assert smtp_options({"KEEL_EMAIL_HOST": "mail.example"})["timeout"] == 10
    assert smtp_options({"KEEL_EMAIL_HOST": "mail.example", "KEEL_EMAIL_TIMEOUT": "2.5"})["timeout"] == 2.5


@pytest.mark.parametrize(
    "env, named",
    [
        ({"KEEL_EMAIL_PORT": "smtp"}, "KEEL_EMAIL_PORT"),
        ({"KEEL_EMAIL_TIMEOUT": "0"}, "KEEL_EMAIL_TIMEOUT"),
        ({"KEEL_EMAIL_USE_TLS": "ture"}, "KEEL_EMAIL_USE_TLS"),
        ({"KEEL_EMAIL_USE_TLS": "1", "KEEL_EMAIL_USE_SSL": "1"}, "KEEL_EMAIL_USE_SSL"),
    ],
)
def test_a_bad_value_names_the_variable(env, named):
    with pytest.raises(MailSettingError, match=named):
        smtp_options({"KEEL_EMAIL_HOST": "mail.example", **env})
