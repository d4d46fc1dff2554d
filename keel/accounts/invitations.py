"""Set-password links and the invitation e-mail that carries one."""

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from keel.accounts.notify import send_email


class SetPasswordTokenGenerator(PasswordResetTokenGenerator):
    """Signed set-password links. A link dies once the password is set, or the user is deactivated."""

    key_salt = "keel.accounts.set_password"

    def _make_hash_value(self, user, timestamp):
        return f"{super()._make_hash_value(user, timestamp)}:{user.is_active}:{user.session_epoch}"


set_password_tokens = SetPasswordTokenGenerator()


def set_password_path(user):
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("set_password", args=[uid, set_password_tokens.make_token(user)])


def send_invitation(user, actor):
    inviter = (actor.name or actor.email) if actor else "Your Company Administrator"
    send_email(
        user.email,
        f"You are invited to {user.company.name} on Keel",
        f"{inviter} invited you to {user.company.name} on Keel. Choose your password to log in "
        f"(the link works once, for {_link_validity()}):",
        set_password_path(user),
    )


def _link_validity():
    days = max(1, settings.PASSWORD_RESET_TIMEOUT // 86400)
    return "1 day" if days == 1 else f"{days} days"
