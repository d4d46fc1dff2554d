"""Scenario 8, the contacts listing: page 1 against a deep page (page 1,000 by default), reached with the keyset
cursor the page's "Next" link carries, for the order the page opens in (by id), a sort by name, a filter by
lifecycle stage and a filter by tag (docs/benchmarks.md).

It calls ``keel.contacts.listing.contacts_page``, the function behind the CRM Contacts page and ``GET
/api/v1/contacts``, directly: what is measured is the keyset query of each page, without the HTTP stack around it
(scenario 6 measures that). First and deep pages are timed alternately, so that both see the same machine; what the
run reports is each variant's deep-page ÷ first-page ratio of median times, set side by side. No time is asserted
anywhere: on a keyset the ratio stays near 1 however deep the page, where an OFFSET would grow with it.
"""

import math
import statistics
import time

from django.db.models import Count

from keel.accounts.models import Company
from keel.contacts.listing import SORT_KEYS, ContactFilter, contacts_page, filtered_contacts
from keel.contacts.models import Contact, ContactTag, Tag

PAGE_SIZE = 50  # keel/contacts/views.py shows 50 contacts per page
DEEP_PAGE = 1000
REPEATS = 30


def variants(company):
    """(key, label, filter, sort) of each measured listing: the most common stage and the most used tag."""
    stage = (
        Contact.objects.filter(company=company)
        .values("lifecycle_stage")
        .annotate(n=Count("id"))
        .order_by("-n", "lifecycle_stage")
        .first()
    )
    stage = stage["lifecycle_stage"] if stage else ""
    links = ContactTag.objects.filter(company=company).values("tag_id").annotate(n=Count("id"))
    busiest = links.order_by("-n", "tag_id").first()
    tag_id = busiest["tag_id"] if busiest else None
    tag = Tag.objects.filter(pk=tag_id).first() if tag_id else None
    found = [("id_order", "by id (no sort)", ContactFilter(), "id")]
    found.append(("sort_name", "sorted by name", ContactFilter(), "name"))
    if stage:
        found.append(("filter_stage", f"stage filter “{stage}”", ContactFilter(stage=stage), "id"))
    if tag is not None:
        found.append(("filter_tag", f"tag filter “{tag.name}”", ContactFilter(tag=tag), "id"))
    return found


def ordered_ids(company, contact_filter, sort):
    """The filter's contact ids in the page's order (sort key, then id): where each page starts."""
    contacts = filtered_contacts(company, contact_filter)
    if sort == "id":
        return contacts.order_by("id").values_list("id", flat=True)
    keys = SORT_KEYS[sort.lstrip("-")]
    names = [f"sort_key_{i}" for i in range(len(keys))]
    return contacts.alias(**dict(zip(names, keys, strict=True))).order_by(*names, "id").values_list("id", flat=True)


def deep_cursor(company, contact_filter, sort, page, page_size):
    """The cursor of page ``page`` as the "Next" link of the page before it carries it: the id of that page's last
    row (one OFFSET query, not timed). None for page 1."""
    if page <= 1:
        return None
    return ordered_ids(company, contact_filter, sort)[(page - 1) * page_size - 1]


def timed(fn, repeats):
    latencies = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        latencies.append(time.perf_counter() - started)
    return latencies


def summary(latencies):
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * (len(ordered) - 1) + 0.5))] * 1000, 3),
        "min_ms": round(ordered[0] * 1000, 3),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
    }


def measure(company, contact_filter, sort, deep_page, page_size, repeats):
    """First and deep page of one listing, timed alternately; the deep page checked against the page's order."""
    matching = filtered_contacts(company, contact_filter).count()
    page = max(1, min(deep_page, math.ceil(matching / page_size)))
    after = deep_cursor(company, contact_filter, sort, page, page_size)

    def first():
        return contacts_page(company, contact_filter, sort, limit=page_size, want_previous=False)

    def deep():
        return contacts_page(company, contact_filter, sort, after=after, limit=page_size, want_previous=False)

    expected = list(ordered_ids(company, contact_filter, sort)[(page - 1) * page_size : page * page_size])
    reached = [c.id for c in deep().items]  # also warms both queries up before the timing
    first()
    first_times, deep_times = [], []
    for _ in range(repeats):
        first_times += timed(first, 1)
        deep_times += timed(deep, 1)
    first_result, deep_result = summary(first_times), summary(deep_times)
    deep_result.update(page=page, after=after, rows=len(reached), right_page=reached == expected)
    return {
        "matching": matching,
        "first_page": first_result,
        "deep_page": deep_result,
        "deep_vs_first": round(deep_result["p50_ms"] / first_result["p50_ms"], 3) if first_result["p50_ms"] else None,
    }


def contacts_listing(params):
    """The scenario: every variant of the company's listing, first page against deep page."""
    company = Company.objects.get(pk=params["company_id"])
    deep_page = params.get("deep_page", DEEP_PAGE)
    page_size = params.get("page_size", PAGE_SIZE)
    repeats = params.get("repeats", REPEATS)
    started = time.perf_counter()
    results = {}
    for key, label, contact_filter, sort in variants(company):
        result = measure(company, contact_filter, sort, deep_page, page_size, repeats)
        results[key] = {"label": label, "sort": sort, **result}
    seconds = time.perf_counter() - started
    return {
        "rows": sum(2 * v["first_page"]["requests"] for v in results.values()),
        "seconds": seconds,
        "page_size": page_size,
        "deep_page": deep_page,
        "variants": results,
    }


def ratio_line(result):
    """One line setting the variants' deep ÷ first ratios side by side, for the terminal and the report."""
    measured = (result or {}).get("variants") or {}
    if not measured:
        return ""
    parts = []
    for v in measured.values():
        first, deep = v["first_page"], v["deep_page"]
        ratio = "–" if v.get("deep_vs_first") is None else f"{v['deep_vs_first']:.2f}×"
        parts.append(f"{v['label']}, page {deep['page']:,}: {ratio} ({first['p50_ms']:.1f} → {deep['p50_ms']:.1f} ms)")
    return "Contacts listing, deep page ÷ page 1 (median, keyset cursor): " + "; ".join(parts) + "."
