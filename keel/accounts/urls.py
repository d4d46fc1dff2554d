from django.urls import path

from keel.accounts import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("set-password/<str:uidb64>/<str:token>/", views.set_password_view, name="set_password"),
    path("profile/", views.profile, name="profile"),
    path("profile/tokens/", views.create_token, name="create_token"),
    path("profile/tokens/<int:token_id>/revoke/", views.revoke_token, name="revoke_token"),
    path("profile/tokens/revoke-all/", views.revoke_all_tokens, name="revoke_all_tokens"),
    path("profile/sessions/<int:session_id>/end/", views.end_session, name="end_session"),
    path("profile/sessions/end-others/", views.end_other_sessions, name="end_other_sessions"),
    path("profile/notices/read/", views.mark_notices_read, name="mark_notices_read"),
    path("profile/password/", views.change_password, name="change_password"),
    path("settings/users/", views.users, name="users"),
    path("settings/users/<int:user_id>/role/", views.change_user_role, name="change_user_role"),
    path("settings/users/<int:user_id>/deactivate/", views.deactivate_user, name="deactivate_user"),
    path("settings/users/<int:user_id>/reactivate/", views.reactivate_user, name="reactivate_user"),
    path("settings/users/<int:user_id>/invite/", views.invite_user, name="invite_user"),
    path("settings/users/<int:user_id>/reset-password/", views.reset_password, name="reset_password"),
    path("settings/roles/", views.roles, name="roles"),
    path("settings/roles/<int:role_id>/", views.role_detail, name="role_detail"),
    path("settings/plan/", views.plan, name="plan"),
]
