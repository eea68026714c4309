"""The tools that call Fullstory: the three investigations, explain_session and test_connection.

Each runs what its `fstriage` command runs (`fstriage_cli.manual` driving the library's own
`Investigation`, `explain_events`, `check_connection`) and returns text sized for an agent's context:
the report's Markdown, the explanation's text, the connection check's JSON (emails masked). Tools run
on worker threads (the SDK's doing), each with its own client; the key and the org ID are read once and
kept, and the key is read again after Fullstory rejects it (a rotated secret needs no restart).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final, Literal

from mcp.server.mcpserver.exceptions import ToolError

from fstriage.adapters.fullstory import FullstoryClient
from fstriage.core.errors import FullstoryAuthError
from fstriage.core.investigation import Finished
from fstriage.core.redact import mask_email
from fstriage.core.report import render_markdown
from fstriage.core.request import InvestigationRequest
from fstriage_cli import manual
from fstriage_cli.connection import check_connection
from fstriage_cli.explain import explain_events, render_text
from fstriage_cli.keys import ORG_ID_ENV, ApiKey, load_api_key, open_client
from fstriage_cli.manual import window_hours_to_reach
from fstriage_cli.mcp_server.config import ServerConfig
from fstriage_cli.mcp_server.failures import tool_errors
from fstriage_cli.mcp_server.masking import mask_emails
from fstriage_cli.wording import key_rejected, plural, session_id

log = logging.getLogger("fstriage_cli.mcp_server")

# Why a segment's export flow stopped (`manual.SEGMENT_STOPS`), and what to change in the call (the
# report's notes quote Fullstory).
SEGMENT_FAILURES: Final = {
    "export_timeout": "the segment export was still being prepared when fstriage stopped waiting: try "
    "again in a few minutes, or with a smaller window_hours",
    "export_failed": "Fullstory could not export the segment; the report's notes say why",
    "export_forbidden": "the segment export was refused (403): segment exports need an Admin or "
    "Architect key",
    "segment_not_found": "Fullstory no longer knows the segment: check its ID or name",
}


class FullstoryTools:
    """The Fullstory side of the server: one instance per server, shared by concurrent calls."""

    def __init__(self, config: ServerConfig, *, sleep: Callable[[float], None] | None = None) -> None:
        self._config = config
        # Where the Lambda would re-queue a pending export, wait here (tests pass a recorder).
        self._sleep = sleep if sleep is not None else manual.pause
        self._lock = threading.Lock()
        self._key: ApiKey | None = None
        self._org_id = config.org_id

    # -- investigations --------------------------------------------------------------------------

    def investigate_session(self, session: str, max_sessions: int, window_hours: float) -> str:
        with tool_errors(self._config.key_source), self._forget_a_rejected_key():
            wanted = session_id(session)  # a bad ID fails before any call
            log.info("investigate_session %s: up to %s", wanted, plural(max_sessions, "session"))
            return self._investigate(
                lambda _client, org_id: manual.manual_request(
                    org_id=org_id, session_ids=[wanted], window_hours=window_hours, now=datetime.now(UTC)
                ),
                max_sessions,
            )

    def investigate_user(self, user: str, max_sessions: int, window_hours: float) -> str:
        with tool_errors(self._config.key_source), self._forget_a_rejected_key():
            value = user.strip()
            if not value:
                raise ToolError("user is empty: give the user's uid (the ID your app sends) or email")
            by_email = "@" in value
            shown = mask_email(value) if by_email else value
            log.info("investigate_user %s: up to %s", shown, plural(max_sessions, "session"))
            return self._investigate(
                lambda _client, org_id: manual.manual_request(
                    org_id=org_id,
                    uid=None if by_email else value,
                    email=value if by_email else None,
                    window_hours=window_hours,
                    now=datetime.now(UTC),
                ),
                max_sessions,
            )

    def investigate_segment(self, segment: str, max_sessions: int, window_hours: float) -> str:
        with tool_errors(self._config.key_source), self._forget_a_rejected_key():

            def request(client: FullstoryClient, org_id: str) -> InvestigationRequest:
                found = manual.resolve_segment(client.segments(), segment)
                log.info(
                    "investigate_segment %s: exporting its sessions of the last %g h, investigating up to %s",
                    found.id,
                    window_hours,
                    plural(max_sessions, "session"),
                )
                return manual.segment_request(
                    org_id=org_id, segment=found, window_hours=window_hours, now=datetime.now(UTC)
                )

            return self._investigate(request, max_sessions)

    def _investigate(
        self, request_for: Callable[[FullstoryClient, str], InvestigationRequest], max_sessions: int
    ) -> str:
        with self._client() as client:
            org_id = self._org(client)
            request = request_for(client, org_id)
            settings = manual.cli_investigation_settings(org_id, max_sessions=max_sessions)
            finished, report = manual.investigate(
                client,
                request,
                settings,
                sleep=self._sleep,
                on_wait=lambda requeue: log.info(
                    "Fullstory is preparing the segment export: next check in %ss", requeue.delay_seconds
                ),
            )
        log.info(
            "investigation %s: %s, %s, %s",
            report["investigation_id"],
            report["status"],
            plural(len(report["sessions"]), "session"),
            plural(report["cost"]["activations"], "Activation"),
        )
        return self._outcome(finished, report)

    def _outcome(self, finished: Finished, report: dict[str, Any]) -> str:
        """The report's Markdown, or a tool error that says why (with the report when it helps)."""
        markdown = render_markdown(report)
        problem = manual.problem_of(finished, report)
        if problem == "auth":
            self._forget_key()
            raise ToolError(key_rejected(self._config.key_source))
        if problem is not None:
            raise ToolError(f"{SEGMENT_FAILURES.get(problem, manual.NOTHING_GATHERED)}\n\n{markdown}")
        hours = window_hours_to_reach(report.get("outside_window"), report["window"]["end"])
        if hours is not None:
            markdown += (
                f"\nThe user's sessions lie outside the window: call again with window_hours={hours} "
                "to reach them.\n"
            )
        return markdown

    # -- one session, and the key ----------------------------------------------------------------

    def explain_session(self, session: str, output: Literal["text", "json"]) -> str:
        with tool_errors(self._config.key_source), self._forget_a_rejected_key():
            wanted = session_id(session)
            log.info("explain_session %s: reading its events (1 Activation)", wanted)
            with self._client() as client:
                events = client.session_events(wanted)
            explanation = explain_events(wanted, events)
            del events  # a large session's events are not needed past the digest
            if output == "json":
                return json.dumps(mask_emails(explanation.to_dict()), indent=1, ensure_ascii=False)
            return mask_email("\n".join(render_text(explanation)) + "\n")

    def test_connection(self) -> str:
        with tool_errors(self._config.key_source), self._forget_a_rejected_key():
            log.info("test_connection: GET /me and a short sessions listing (no Activation)")
            with self._client() as client:
                report = check_connection(client, probe_activation=False)
            # The key owner's email is the operator's to see (`fstriage test-connection`), not an agent's.
            return json.dumps(mask_emails(report.to_dict()), indent=1, ensure_ascii=False)

    # -- shared ----------------------------------------------------------------------------------

    @contextmanager
    def _forget_a_rejected_key(self) -> Iterator[None]:
        try:
            yield
        except FullstoryAuthError:
            self._forget_key()
            raise

    def _forget_key(self) -> None:
        """Read the key again on the next call: a rotated secret then works without a restart."""
        with self._lock:
            self._key = None

    def _client(self) -> FullstoryClient:
        with self._lock:
            if self._key is None:  # read once: a secret is fetched from Secrets Manager only the first time
                self._key = load_api_key(self._config.env, self._config.secret_id)
            key = self._key
        return open_client(key, region=self._config.region, base_url=self._config.api_url)

    def _org(self, client: FullstoryClient) -> str:
        """The org for replay links: the configured one, else `GET /me` (asked once per server)."""
        with self._lock:
            known = self._org_id
        if known:
            return known
        org_id = client.me().org_id
        if not org_id:
            raise ToolError(
                f"Fullstory's /me named no org: set {ORG_ID_ENV} (or --org-id) in the server's configuration"
            )
        with self._lock:
            self._org_id = org_id
        return org_id
