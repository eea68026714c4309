"""The sandbox's route table: which method and path reach which endpoint, and what each requires.

`read` routes refuse a Standard (USER) key, `activation` routes need Anywhere: Activation, and the
export download is served without auth.
"""

from __future__ import annotations

from fstriage_cli.sandbox import endpoints, exports, write_back
from fstriage_cli.sandbox.protocol import Route, route

ROUTES = (
    route("GET", r"/me", "GET /me", endpoints.me, read=False),
    route("GET", r"/sessions/v2", "GET /sessions/v2", endpoints.sessions),
    route("GET", r"/v2/users", "GET /v2/users", endpoints.users),
    route("GET", r"/v2/users/([^/]+)", "GET /v2/users/{id}", endpoints.user),
    # Standard keys may create events: not a read.
    route("POST", r"/v2/events", "POST /v2/events", write_back.create_event, read=False),
    route("GET", r"/segments/v1", "GET /segments/v1", endpoints.segments),
    route("POST", r"/segments/v1/exports", "POST /segments/v1/exports", exports.start_export),
    route("GET", r"/operations/v1/([^/]+)", "GET /operations/v1/{id}", exports.operation),
    route(
        "GET",
        r"/search/v1/exports/([^/]+)/results",
        "GET /search/v1/exports/{id}/results",
        exports.export_results,
    ),
    route(
        "GET",
        r"/v2/sessions/([^/]+)/events",
        "GET /v2/sessions/{id}/events",
        endpoints.session_events,
        activation=True,
    ),
    route(
        "POST",
        r"/v2/sessions/([^/]+)/context",
        "POST /v2/sessions/{id}/context",
        endpoints.session_context,
        activation=True,
    ),
    route(
        "GET",
        r"/v2/sessions/([^/]+)/summary",
        "GET /v2/sessions/{id}/summary",
        endpoints.session_summary,
        activation=True,
    ),
    route(
        "GET",
        r"/downloads/([^/]+)",
        "GET /downloads/{name}",
        exports.download,
        read=False,
        authenticated=False,
    ),
)


def match(method: str, path: str) -> tuple[Route | None, tuple[str, ...], str]:
    """(the route, the path's captured arguments, the methods the path allows when `method` is not one)."""
    allowed: list[str] = []
    for candidate in ROUTES:
        found = candidate.pattern.fullmatch(path)
        if found is None:
            continue
        if candidate.method == method:
            return candidate, found.groups(), ""
        allowed.append(candidate.method)
    return None, (), ", ".join(allowed)
