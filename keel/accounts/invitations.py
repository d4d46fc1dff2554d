"""Set-password links and the invitation e-mail that carries one."""

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from keel.mail.models import OutgoingEmail
from keel.mail.outbox import absolute_url, queue_email


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
    """Queue the invitation (or set-password link) e-mail; Admin Settings → Users shows whether it was delivered."""
    inviter = (actor.name or actor.email) if actor else "Your Company Administrator"
    context = {
        "inviter": inviter,
        "company_name": user.company.name,
        "link": absolute_url(set_password_path(user)),
        "validity": _link_validity(),
    }
    return queue_email(
        user.email,
        OutgoingEmail.Kind.INVITATION,
        "invitation",
        context,
        company_id=user.company_id,
        user_id=user.pk,
    )


def _link_validity():
    days = max(1, settings.PASSWORD_RESET_TIMEOUT // 86400)
    return "1 day" if days == 1 else f"{days} days"
