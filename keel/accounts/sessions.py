"""Keel's session engine: Django's database sessions, plus a ``UserSession`` row for every logged-in session.

``SESSION_ENGINE = "keel.accounts.sessions"``. The session's data lives in ``django_session``, a global table;
its ``UserSession`` row carries the user and company, the creation time, the last request, the browser and the
client address. Through it Keel lists a user's sessions on the profile page and ends a user's or a company's
sessions (``keel.accounts.actions.do_end_sessions``): ending deletes both rows, so a copied cookie dies with it.
"""

from datetime import timedelta

from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.dispatch import receiver
from django.utils import timezone

from keel.accounts.throttle import client_address

# The profile page shows "last seen" to the minute; writing it more often would cost a write per request.
LAST_SEEN_PRECISION = timedelta(minutes=1)
_SEEN_KEY = "keel_last_seen"


class SessionStore(DatabaseSessionStore):
    def cycle_key(self):
        """A new key for the same session (at login and password change); the UserSession row follows it."""
        from keel.accounts.models import UserSession

        data, old_key = self._session, self.session_key
        self.create()
        self._session_cache = data
        if old_key:
            UserSession.objects.filter(session_key=old_key).update(session_key=self.session_key)
            super().delete(old_key)

    def delete(self, session_key=None):
        """Logout (``flush``) and expiry end the session and its UserSession row together."""
        from keel.accounts.models import UserSession

        session_key = session_key or self.session_key
        super().delete(session_key)
        if session_key:
            UserSession.objects.filter(session_key=session_key).delete()

    @classmethod
    def clear_expired(cls):
        """``django-admin clearsessions``: expired sessions go, and with them their UserSession rows."""
        from keel.accounts.models import UserSession

        super().clear_expired()
        UserSession.objects.exclude(session_key__in=cls.get_model_class().objects.values("session_key")).delete()


@receiver(user_logged_in, dispatch_uid="keel.accounts.sessions.remember")
def remember_session(sender, request, user, **kwargs):
    """Every login (form or test client alike) gets its UserSession row."""
    from keel.accounts.models import UserSession

    session = getattr(request, "session", None)
    if session is None or not session.session_key:
        return
    now = timezone.now()
    UserSession.objects.update_or_create(
        session_key=session.session_key,
        defaults={
            "company_id": user.company_id,
            "user": user,
            "created_at": now,
            "last_seen_at": now,
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
            "ip_address": client_address(request)[:64],
        },
    )
    session[_SEEN_KEY] = now.timestamp()


def note_last_seen(request):
    """Stores the session's last request, at most once a minute (the time is also kept in the session itself,
    so that most requests cost no query)."""
    from keel.accounts.models import UserSession

    session = request.session
    now = timezone.now()
    if now.timestamp() - session.get(_SEEN_KEY, 0) < LAST_SEEN_PRECISION.total_seconds() or not session.session_key:
        return
    UserSession.objects.filter(session_key=session.session_key).update(last_seen_at=now)
    session[_SEEN_KEY] = now.timestamp()
