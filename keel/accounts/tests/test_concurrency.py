import threading

import pytest
from django.db import connection

from keel.accounts.actions import do_change_user_role
from keel.accounts.models import Role, User
from keel.errors import Conflict
from keel.testing import make_company, make_user


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_admin():
    company = make_company("Race")
    first, second = company.admin, make_user(company, "admin")
    member_role = Role.objects.get(company=company, kind="member")
    barrier = threading.Barrier(2)
    outcomes = []

    def demote(target, actor):
        try:
            barrier.wait()
            do_change_user_role(target, member_role, actor=actor)
            outcomes.append("demoted")
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=demote, args=pair) for pair in ((first, second), (second, first))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["demoted", "last_admin"]
    assert User.objects.filter(company=company, is_active=True, role__kind="admin").count() == 1
