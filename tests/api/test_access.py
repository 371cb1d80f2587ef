"""Every route refuses anonymous callers (401) and callers whose role is too low (403)."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from medsentry.api.app import api_routes
from medsentry.api.auth.guard import Require
from medsentry.api.auth.roles import Role
from tests.api.conftest import Api

# Reachable without credentials: liveness, and the sign-in form itself.
PUBLIC = {("GET", "/api/v1/health"), ("GET", "/login"), ("POST", "/login")}
SAMPLE_PARAMS = {
    "key": "mac:00:00:0c:4d:53:01",
    "job_id": "0" * 32,
    "username": "viewer",
    "token_pk": "1",
    "finding_id": "1",
    "alert_id": "0" * 20,
    "profile": "hospital",
}


def _required_role(route: APIRoute) -> Role | None:
    found: list[Role] = []

    def walk(dependant) -> None:  # type: ignore[no-untyped-def]
        for dep in dependant.dependencies:
            if isinstance(dep.call, Require):
                found.append(dep.call.role)
            walk(dep)

    walk(route.dependant)
    return max(found, key=lambda r: r.rank) if found else None


def _url(route: APIRoute) -> str:
    return re.sub(r"{(\w+)(:\w+)?}", lambda m: SAMPLE_PARAMS[m.group(1)], route.path)


def _calls(api: Api) -> list[tuple[str, str, APIRoute]]:
    calls = []
    for route in api_routes(api.client.app.routes):  # type: ignore[attr-defined]
        for method in sorted(route.methods):
            calls.append((method, _url(route), route))
    return calls


def test_every_route_but_the_public_ones_requires_a_role(api: Api) -> None:
    calls = _calls(api)
    assert len(calls) > 20
    for method, _, route in calls:
        role = _required_role(route)
        if (method, route.path) in PUBLIC:
            assert role is None, route.path
        else:
            assert role is not None, f"{method} {route.path} has no Require dependency"


def test_anonymous_callers_get_401_everywhere_but_health_and_login(api: Api) -> None:
    checked = 0
    for method, url, route in _calls(api):
        if (method, route.path) in PUBLIC:
            continue
        response = api.client.request(method, url)
        assert response.status_code == 401, f"{method} {url}: {response.status_code}"
        checked += 1
    assert checked > 20
    assert api.client.get("/api/v1/health").status_code == 200


def test_a_bad_token_is_401_too(api: Api) -> None:
    for header in ("Bearer mst_0000000000000000_nope", "Bearer nonsense", "Basic dXNlcjpwdw=="):
        response = api.client.get("/api/v1/devices", headers={"Authorization": header})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


def test_roles_below_the_required_one_get_403(api: Api) -> None:
    checked = set()
    for method, url, route in _calls(api):
        needed = _required_role(route)
        if needed is None:
            continue
        for role in Role:
            if role.rank >= needed.rank:
                continue
            response = api.client.request(method, url, headers=api.auth(role))
            assert response.status_code == 403, f"{role} {method} {url}: {response.status_code}"
            checked.add((method, route.path))
    # analyst-only and admin-only routes exist and were all exercised
    assert ("POST", "/api/v1/captures") in checked
    assert ("GET", "/api/v1/audit") in checked
    assert ("POST", "/api/v1/users") in checked
    assert ("POST", "/api/v1/findings/{finding_id}/state") in checked
    for route in (
        "/api/v1/alerts/{alert_id}/acknowledge",
        "/api/v1/alerts/{alert_id}/resolve",
        "/api/v1/alerts/{alert_id}/comments",
        "/api/v1/sboms",
        "/api/v1/advisories",
        "/api/v1/compliance/{profile}/assess",
        "/api/v1/attestations",
        "/alerts/{alert_id}/acknowledge",
        "/findings/{finding_id}/state",
        "/compliance/{profile}/attest",
    ):
        assert ("POST", route) in checked, route


def test_allowed_roles_get_through(api: Api) -> None:
    assert api.get("/api/v1/devices", Role.VIEWER).status_code == 200
    assert api.get("/api/v1/audit", Role.ADMIN).status_code == 200
    assert api.get("/api/v1/users", Role.ADMIN).status_code == 200
    assert api.get("/api/v1/openapi.json", Role.VIEWER).json()["openapi"].startswith("3.")
