from django.db import models
from django.utils import timezone

from keel.tenancy import TenantModel


def display_url(url):
    from urllib.parse import urlsplit

    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


class IntegrationConnection(TenantModel):
    """A connection to an outside provider. The access token is encrypted at rest and never shown again."""

    provider = models.CharField(max_length=60)
    encrypted_access_token = models.TextField()
    revoke_url = models.URLField(max_length=400, blank=True)
    connected_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    # Provider revoke URLs often carry a key in their query string: the whole URL is kept in, like the token.
    secret_fields = ("encrypted_access_token", "revoke_url")

    @property
    def revoke_url_shown(self):
        """What people may see of the revoke URL: scheme, host and path, never a query string or user info."""
        return display_url(self.revoke_url)

    class Meta(TenantModel.Meta):
        pass

    def __str__(self):
        return self.provider
