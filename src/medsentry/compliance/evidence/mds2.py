"""MDS2: forms on file for the medical device models in use, and what the traffic says
against them."""

from __future__ import annotations

from medsentry.compliance.evaluators import Context, Evidence, NoParams, Status, evaluator
from medsentry.compliance.mds2.diff import diff_form
from medsentry.compliance.mds2.repository import devices_for_form, list_forms


@evaluator("mds2.coverage", NoParams, "An MDS2 form is on file for each medical device in use")
def coverage(ctx: Context, _params: NoParams) -> Evidence:
    eid = "mds2.coverage"
    obs = ctx.observations
    medical = [d for d in obs.devices if d.medical]
    if not medical:
        return Evidence(eid, Status.NOT_ASSESSED, "no medical device identified in the inventory")
    covered: set[int] = set()
    forms = list_forms(ctx.session)
    for form in forms:
        covered |= {d.id for d in devices_for_form(form, obs)}
    missing = [d for d in medical if d.id not in covered]
    have = len(medical) - len(missing)
    status = Status.PASS if not missing else Status.PARTIAL if have else Status.FAIL
    return Evidence(
        eid,
        status,
        f"{have} of {len(medical)} medical devices have an MDS2 form on file ({len(forms)} forms)",
        items=[f"no MDS2 form for {d.label}" for d in missing],
        metrics={"medical_devices": len(medical), "covered": have, "forms": len(forms)},
    )


@evaluator(
    "mds2.contradictions",
    NoParams,
    "What manufacturers declare in MDS2 forms matches what their devices do",
)
def contradictions(ctx: Context, _params: NoParams) -> Evidence:
    eid = "mds2.contradictions"
    forms = list_forms(ctx.session)
    if not forms:
        return Evidence(eid, Status.NOT_ASSESSED, "no MDS2 form imported (`medsentry mds2 import`)")
    items: list[str] = []
    checked = 0
    for form in forms:
        result = diff_form(ctx.session, form.id, ctx.observations)
        if result.devices:
            checked += 1
        for item in result.contradictions:
            items.append(f"{form.title}: declared {item.declared}, observed {item.observed}")
    if not checked:
        return Evidence(
            eid,
            Status.NOT_ASSESSED,
            f"{len(forms)} form(s) on file, none matched to inventory devices "
            "(link with `medsentry mds2 import FILE --device IP`)",
        )
    return Evidence(
        eid,
        Status.FAIL if items else Status.PASS,
        f"{len(items)} contradiction(s) between {checked} form(s) and observed traffic",
        items=items,
        metrics={"forms_checked": checked, "contradictions": len(items)},
    )
