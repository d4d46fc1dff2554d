"""Login and logout, set-password links, the profile page, and Admin Settings → Users / Roles and Permissions."""

from django.conf import settings
from django.contrib import auth, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.encoding import force_str
from django.utils.http import url_has_allowed_host_and_scheme, urlsafe_base64_decode
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from keel.accounts import actions, permissions
from keel.accounts.access import company_page
from keel.accounts.invitations import set_password_tokens
from keel.accounts.login import check_credentials, client_ip
from keel.accounts.models import ApiToken, Notice, Plan, Role, User, UserSession
from keel.accounts.validation import role_of_company
from keel.errors import Forbidden, KeelError
from keel.mail.models import OutgoingEmail
from keel.mail.outbox import latest_emails
from keel.tenancy import tenant_get


def home(request):
    return redirect(settings.LOGIN_REDIRECT_URL if request.user.is_authenticated else settings.LOGIN_URL)


def _safe_next(request):
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure())
    return target if allowed else ""


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login_view(request):
    next_url = _safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    error, email = None, ""
    if request.method == "POST":
        email = request.POST.get("username", "").strip()
        password = request.POST.get("password", "")
        if not email or not password:
            error = "Enter your e-mail address and your password."
        else:
            try:
                user = check_credentials(email, password, client_ip(request))
            except KeelError as exc:
                error = exc.message
            else:
                auth.login(request, user)
                actions.do_record_login(user, client_ip(request))
                return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    return render(request, "accounts/login.html", {"error": error, "email": email, "next": next_url})


@require_POST
def logout_view(request):
    auth.logout(request)  # deletes the session's row (and its UserSession): a copied cookie dies with it
    messages.info(request, "You have been logged out.")
    return redirect(settings.LOGIN_URL)


def _user_from_link(uidb64):
    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        return None
    return User.objects.select_related("company", "role").filter(pk=pk).first()


@sensitive_post_parameters("password", "password2")
@never_cache
def set_password_view(request, uidb64, token):
    user = _user_from_link(uidb64)
    valid = (
        user is not None and user.is_active and user.company.is_active and set_password_tokens.check_token(user, token)
    )
    if not valid:
        return render(request, "accounts/set_password.html", {"invalid": True}, status=404)
    error = None
    if request.method == "POST":
        password, password2 = request.POST.get("password", ""), request.POST.get("password2", "")
        if password != password2:
            error = "The two passwords do not match."
        else:
            try:
                actions.do_set_password(user, password, actor=None)  # the link is the proof
            except KeelError as exc:
                error = exc.message
            else:
                messages.success(request, "Your password is set. Log in with your e-mail address and new password.")
                return redirect(settings.LOGIN_URL)
    return render(request, "accounts/set_password.html", {"target": user, "error": error})


# --- profile ------------------------------------------------------------------------------------------------------


def _render_profile(request, new_token=None, status=200):
    context = {
        "tokens": ApiToken.objects.filter(company=request.company, user=request.user).order_by("-id"),
        "notices": Notice.objects.filter(company=request.company, user=request.user).order_by("-id")[:50],
        "sessions": UserSession.objects.filter(company=request.company, user=request.user).order_by("-last_seen_at"),
        "current_session_key": request.session.session_key,
        "new_token": new_token,
    }
    return render(request, "accounts/profile.html", context, status=status)


@company_page()
def profile(request):
    return _render_profile(request)


@company_page()
@require_POST
def create_token(request):
    token, raw = actions.do_create_api_token(request.user, request.POST.get("name", ""), actor=request.user)
    messages.success(request, f"Token “{token.name}” created. Copy it now: it will not be shown again.")
    return _render_profile(request, new_token=raw)


@company_page()
@require_POST
def revoke_token(request, token_id):
    token = tenant_get(request.company, ApiToken, pk=token_id, user=request.user)
    actions.do_revoke_api_token(token, actor=request.user)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect(reverse("profile") + "#tokens")


@company_page()
@require_POST
def revoke_all_tokens(request):
    revoked = actions.do_revoke_all_api_tokens(request.user, actor=request.user)
    messages.success(request, f"{revoked} API token{'s' if revoked != 1 else ''} revoked.")
    return redirect(reverse("profile") + "#tokens")


@company_page()
@require_POST
def end_session(request, session_id):
    session = tenant_get(request.company, UserSession, pk=session_id, user=request.user)
    actions.do_end_session(session, actor=request.user)
    messages.success(request, "The session has ended.")
    return redirect(reverse("profile") + "#sessions")


@company_page()
@require_POST
def end_other_sessions(request):
    ended = actions.do_end_sessions(request.user, actor=request.user, keep_session_key=request.session.session_key)
    messages.success(request, f"{ended} other session{'s' if ended != 1 else ''} ended.")
    return redirect(reverse("profile") + "#sessions")


@company_page()
@require_POST
def mark_notices_read(request):
    actions.do_mark_notices_read(request.user, actor=request.user)
    return redirect(reverse("profile") + "#notices")


@sensitive_post_parameters("current_password", "password", "password2")
@company_page()
@require_POST
def change_password(request):
    password, password2 = request.POST.get("password", ""), request.POST.get("password2", "")
    try:
        if password != password2:
            raise KeelError("The two new passwords do not match.")
        actions.do_change_password(
            request.user,
            request.POST.get("current_password", ""),
            password,
            actor=request.user,
            keep_session_key=request.session.session_key,
            revoke_tokens=bool(request.POST.get("revoke_tokens")),
        )
    except KeelError as exc:
        messages.error(request, exc.message)
    else:
        # Keeps this session (under a new key); every other session of the user has ended.
        auth.update_session_auth_hash(request, request.user)
        revoked = " Your API tokens have been revoked." if request.POST.get("revoke_tokens") else ""
        messages.success(request, f"Your password has been changed.{revoked}")
    return redirect(reverse("profile") + "#password")


# --- Admin Settings → Users ---------------------------------------------------------------------------------------


@sensitive_post_parameters("password")
@company_page(permission="manage_users")
def users(request):
    company_roles = Role.objects.filter(company=request.company).order_by("id")
    # The least powerful built-in role is the safe default for someone new.
    member_role = next((r for r in company_roles if r.kind == permissions.MEMBER), None)
    form = {"email": "", "name": "", "role": str(member_role.pk) if member_role else "", "mode": "invite"}
    if request.method == "POST":
        form = {key: request.POST.get(key, "").strip() for key in ("email", "name", "role", "mode")}
        password = request.POST.get("password", "") if form["mode"] == "password" else ""
        try:
            if form["mode"] == "password" and not password:
                raise KeelError("Enter an initial password, or choose to send an invitation e-mail.")
            role = role_of_company(request.company, _int_or_none(form["role"]), field="role")
            user = actions.do_create_user(
                request.company, form["email"], form["name"], role, password, actor=request.user
            )
        except KeelError as exc:
            messages.error(request, exc.message)
        else:
            sent = "" if password else " An invitation e-mail with a link to set a password is on its way."
            messages.success(request, f"User {user.email} added.{sent}")
            return redirect(reverse("users"))
    company_users = list(User.objects.filter(company=request.company).select_related("role").order_by("email"))
    invitation_emails = latest_emails(OutgoingEmail.Kind.INVITATION, [u.pk for u in company_users])
    for company_user in company_users:
        company_user.invitation_email = invitation_emails.get(company_user.pk)
    context = {
        "users": company_users,
        "roles": company_roles,
        "form": form,
    }
    return render(request, "accounts/users.html", context)


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _user_change(request, user_id, change, success):
    """Applies an action to one of the company's users (another company's is not found: 404)."""
    target = tenant_get(request.company, User.objects.select_related("role"), pk=user_id)
    try:
        change(target)
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from None  # the 403 page, as for any page the role may not use
    except KeelError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success.format(email=target.email))
    return redirect(reverse("users"))


@company_page()  # the action checks the permission
@require_POST
def change_user_role(request, user_id):
    def change(target):
        role = role_of_company(request.company, _int_or_none(request.POST.get("role")), field="role")
        actions.do_change_user_role(target, role, actor=request.user)

    return _user_change(request, user_id, change, "Role of {email} changed.")


@company_page()  # the action checks the permission
@require_POST
def deactivate_user(request, user_id):
    return _user_change(
        request,
        user_id,
        lambda target: actions.do_deactivate_user(target, actor=request.user),
        "{email} deactivated: their sessions and API tokens no longer work.",
    )


@company_page()  # the action checks the permission
@require_POST
def reactivate_user(request, user_id):
    return _user_change(
        request, user_id, lambda target: actions.do_reactivate_user(target, actor=request.user), "{email} reactivated."
    )


@company_page()  # the action checks the permission
@require_POST
def invite_user(request, user_id):
    return _user_change(
        request,
        user_id,
        lambda target: actions.do_send_invitation(target, actor=request.user),
        "A new link to set a password was sent to {email}.",
    )


@company_page()  # the action checks the permission
@require_POST
def reset_password(request, user_id):
    return _user_change(
        request,
        user_id,
        lambda target: actions.do_reset_password(target, actor=request.user),
        "The password of {email} was reset: their sessions and API tokens ended, and a link to choose a new "
        "password is on its way.",
    )


# --- Admin Settings → Roles and Permissions ----------------------------------------------------------------------


@company_page(permission="manage_roles")
def roles(request):
    company_roles = Role.objects.filter(company=request.company).order_by("id")
    counts = {r.pk: r.users.filter(is_active=True).count() for r in company_roles}
    rows = [(role, counts[role.pk]) for role in company_roles]
    return render(request, "accounts/roles.html", {"rows": rows})


@company_page(permission="manage_roles")
def role_detail(request, role_id):
    role = tenant_get(request.company, Role, pk=role_id)
    granted = set(role.permissions)
    if request.method == "POST":
        granted = set(request.POST.getlist("permissions"))
        changes = {p.code: p.code in granted for p in permissions.offered_permissions(role)}
        # A code posted that this page does not offer is still passed on, so that it is refused, not ignored.
        changes.update({code: True for code in granted if code not in changes})
        try:
            actions.do_update_role_permissions(role, changes, actor=request.user)
        except KeelError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Role saved.")
            return redirect(reverse("role_detail", args=[role.pk]))
    rows = [
        {
            "perm": perm,
            "checked": perm.code in granted,
            "locked": role.is_company_admin and perm.code in permissions.ALWAYS_ON_FOR_ADMIN,
        }
        for perm in permissions.offered_permissions(role)
    ]
    return render(request, "accounts/role_detail.html", {"role": role, "rows": rows})


@company_page(admin_only=True)
def plan(request):
    """Admin Settings → Plan: the company's plan and what each plan includes (exports, and how many per day)."""
    cap = settings.KEEL_EXPORTS_PER_DAY  # the operator's cap applies on top of every plan's own allowance
    plans = [
        {"plan": p, "exports_per_day": min(p.exports_per_day, cap) if p.allows_export else 0}
        for p in Plan.objects.order_by("exports_per_day", "code")
    ]
    return render(request, "accounts/plan.html", {"plans": plans, "current": request.company.plan})
