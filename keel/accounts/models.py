import hashlib
import secrets

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac

from keel.accounts import permissions
from keel.tenancy import TenantModel


class Plan(models.Model):
    """Global: the plans every company chooses from."""

    code = models.SlugField(primary_key=True)
    name = models.CharField(max_length=60)
    allows_export = models.BooleanField(default=True)
    exports_per_day = models.PositiveIntegerField(default=5)

    def __str__(self):
        return self.name


class Company(models.Model):
    """The tenant root. Every tenant-owned row points here directly."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        DELETING = "deleting"

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140, unique=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "companies"

    def __str__(self):
        return self.name

    @property
    def is_active(self):
        return self.status == self.Status.ACTIVE


class Role(TenantModel):
    kind = models.CharField(max_length=16, help_text="admin, manager, member or custom")
    name = models.CharField(max_length=80)
    permissions = models.JSONField(default=list)

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="role_name_unique_per_company")]

    def __str__(self):
        return self.name

    @property
    def is_company_admin(self):
        return self.kind == permissions.ADMIN

    def has(self, code):
        return code in self.permissions


class UserManager(BaseUserManager):
    def create_user(self, email, password=None, **fields):
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save()
        return user


class User(TenantModel, AbstractBaseUser):
    """A person who works in one company. E-mail addresses are unique across Keel: login asks for no company."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=120, blank=True)
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="users")
    is_active = models.BooleanField(default=True)
    # Bumping it ends every session of the user at once (it is part of the session auth hash).
    session_epoch = models.PositiveIntegerField(default=0)
    date_joined = models.DateTimeField(default=timezone.now)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    objects = UserManager()
    secret_fields = ("password",)

    class Meta(TenantModel.Meta):
        pass

    def __str__(self):
        return self.email

    def get_session_auth_hash(self):
        return salted_hmac(
            "keel.accounts.User.session", f"{self.password}:{self.session_epoch}", algorithm="sha256"
        ).hexdigest()

    def has_perm_code(self, code):
        return self.is_active and self.role.has(code)

    @property
    def is_company_admin(self):
        return self.role.is_company_admin


class ApiToken(TenantModel):
    """A personal API token. Only its SHA-256 is stored; the token itself is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    secret_fields = ("token_hash",)

    class Meta(TenantModel.Meta):
        pass

    @staticmethod
    def hash(raw):
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(cls, user, name):
        raw = "keel_" + secrets.token_urlsafe(32)
        token = cls.objects.create(
            company_id=user.company_id, user=user, name=name, prefix=raw[:12], token_hash=cls.hash(raw)
        )
        return token, raw


class Notice(TenantModel):
    """An in-app notice for one user (export ready, deletion finished, ...)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notices")
    message = models.CharField(max_length=300)
    link = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        pass


class UserSession(TenantModel):
    """One logged-in browser session of a user: what the profile page lists, and how Keel finds a user's or a
    company's sessions to end them. The session's data stays in Django's session table (``django_session``);
    this row carries the company key, so that export and deletion cover it like every tenant row."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    user_agent = models.CharField(max_length=300, blank=True)
    ip_address = models.CharField(max_length=64, blank=True)

    # The key would let anyone who reads it use the session: it never leaves the system.
    secret_fields = ("session_key",)

    class Meta(TenantModel.Meta):
        pass


class AttemptCount(models.Model):
    """Global: the failed-attempt counts of the throttles (keel/accounts/throttle.py), one row per scope and
    subject. Subjects are keyed digests, so a row holds no e-mail or client address; rows expire by themselves."""

    scope = models.CharField(max_length=60)
    subject = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=0)
    window_ends_at = models.DateTimeField()
    blocked_until = models.DateTimeField()
    # Bumped by every write: a write names the version it read, so two concurrent writes cannot both succeed.
    version = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "subject"], name="attempt_count_unique_subject")]
        indexes = [models.Index(fields=["window_ends_at"], name="attempt_count_expiry")]

    def __str__(self):
        return f"{self.scope}: {self.count}"
