"""What tests that drive the local stack share: the check that its tools are installed, starting it in a
temporary folder, signed deliveries to its webhook, and waiting for an investigation's report."""

from __future__ import annotations

import copy
import http.client
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

from fstriage.core.report import investigation_id_for
from fstriage.core.signature import sign
from fstriage_cli.local import CollectedReport, LocalConfig, LocalStack
from fstriage_cli.local.config import LocalStackError, find_project_dir, find_toolchain
from fstriage_cli.samples.payloads import CHECKOUT_ERRORS_ALERT, NOTE_CREATED
from fstriage_cli.samples.values import TEST_ORG_ID, TEST_SIGNING_SECRET


def require_local_stack() -> None:
    """Skip when the local stack's tools (SAM CLI, the runtime venv) are missing; under
    FSTRIAGE_E2E_REQUIRED (`make test`), fail instead, so a missing install step cannot pass silently."""
    try:
        find_toolchain(find_project_dir(), need_build=True)
    except LocalStackError as error:
        if os.environ.get("FSTRIAGE_E2E_REQUIRED"):
            pytest.fail(f"the local stack cannot run: {error}")
        pytest.skip(f"the local stack cannot run: {error}")


@contextmanager
def started_stack(tmp_path_factory: pytest.TempPathFactory, name: str, **config: Any) -> Iterator[LocalStack]:
    """The local stack on free ports, its reports and logs in a new temporary folder `name`; `config` is
    what else the caller's LocalConfig sets."""
    require_local_stack()
    work = tmp_path_factory.mktemp(name)
    with LocalStack(
        LocalConfig(port=0, reports_dir=work / "reports", log_dir=work / "logs", **config)
    ) as running:
        yield running


def post(
    url: str, document: dict[str, Any], *, secret: str = TEST_SIGNING_SECRET, body: bytes | None = None
) -> tuple[int, dict[str, Any], bytes]:
    """POST a delivery signed as Fullstory signs it (`body` instead of the document's JSON, if given)."""
    raw = body if body is not None else json.dumps(document, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "Fullstory-Signature": sign(secret, raw, TEST_ORG_ID)}
    return send(url, raw, headers)


def send(url: str, raw: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any], bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        connection.request("POST", parts.path or "/", body=raw, headers=headers)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    return response.status, json.loads(payload), payload


def fresh_alert(value: int = 57) -> dict[str, Any]:
    """The events/ segment alert (its segment and window are in the sandbox), as a new delivery."""
    alert = copy.deepcopy(CHECKOUT_ERRORS_ALERT)
    alert["data"]["id"] = f"segalert-e2e-{uuid.uuid4().hex[:12]}"
    alert["data"]["value"] = value
    return alert


def fresh_note() -> dict[str, Any]:
    note: dict[str, Any] = json.loads(json.dumps(NOTE_CREATED))
    note["data"]["id"] = f"note-e2e-{uuid.uuid4().hex[:12]}"
    return note


def queued(stack: LocalStack, document: dict[str, Any]) -> str:
    """POST a signed delivery that must be queued; return its investigation ID."""
    status, answer, _ = post(stack.webhook_url, document)
    assert (status, answer.get("status")) == (202, "queued"), answer
    return investigation_id_for(str(answer["request_id"]))


def wait_for_report(stack: LocalStack, investigation_id: str, timeout: float) -> CollectedReport:
    """The investigation's first report; fails with what did arrive and what the poller saw."""
    found = stack.wait_for_investigations([investigation_id], timeout).get(investigation_id)
    if found is None:
        got = [r.investigation_id for r in stack.reports]
        polled = [(i.function, i.result.error) for i in stack.invocations]
        raise AssertionError(f"no report {investigation_id} after {timeout:g} s; got {got}; poller: {polled}")
    return found
