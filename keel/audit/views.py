from django.shortcuts import render

from keel.accounts.access import company_page
from keel.audit.queries import audit_page, target_label
from keel.audit.sentences import action_sentence, detail_lines


@company_page(permission="view_audit_log", admin_only=True)
def audit_log(request):
    try:
        before = int(request.GET["before"]) if request.GET.get("before") else None
    except ValueError:
        before = None
    events, next_before = audit_page(request.company, before)
    for event in events:
        event.target_label = target_label(event)
        event.sentence = action_sentence(event.action)
        event.details = detail_lines(event)
    return render(request, "audit/audit_log.html", {"events": events, "next_before": next_before, "paged": before})
