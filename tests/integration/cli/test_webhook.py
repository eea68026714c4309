"""`fstriage sign` and `send`, against tiny local webhook servers."""

from __future__ import annotations

import base64
import io
import json
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fstriage.core.signature import matches_any, parse_signature_header, sign
from tests.integration.cli.harness import (
    ORG_ID,
    REPO_ROOT,
    SIGNING_SECRET,
    cli,
)

# ---------------------------------------------------------------------------------------------
# sign


def test_sign_prints_a_header_that_verifies_over_the_files_exact_bytes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Odd spacing and key order: a re-serialised body would not verify.
    body = b'{ "eventName":"test" ,"version": 1,\n "data":{"message":"hi"}}\n'
    payload = tmp_path / "payload.json"
    payload.write_bytes(body)

    run = cli(capsys, "sign", "--secret", SIGNING_SECRET, "--org-id", ORG_ID, str(payload))

    assert run.code == 0
    header = parse_signature_header(run.out.strip())
    assert header.org_id == ORG_ID
    assert matches_any(header, body, [SIGNING_SECRET])
    assert not matches_any(header, json.dumps(json.loads(body)).encode(), [SIGNING_SECRET])


def test_sign_reads_stdin_takes_the_secret_from_the_environment_and_a_fixed_timestamp(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = b'{"eventName":"test"}'
    monkeypatch.setenv("FSTRIAGE_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body)))

    run = cli(capsys, "sign", "--org-id", ORG_ID, "--timestamp", "1793491200", "--json", "-")

    assert run.code == 0
    document = json.loads(run.out)
    assert document["value"] == sign(SIGNING_SECRET, body, ORG_ID, 1793491200)
    assert document["timestamp"] == "1793491200"
    assert SIGNING_SECRET not in run.out + run.err


def test_sign_header_form_and_missing_secret(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    payload = tmp_path / "p.json"
    payload.write_bytes(b"{}")

    header = cli(capsys, "sign", "--secret", SIGNING_SECRET, "--org-id", ORG_ID, "--header", str(payload))
    missing = cli(capsys, "sign", "--org-id", ORG_ID, str(payload))
    no_file = cli(capsys, "sign", "--secret", SIGNING_SECRET, "--org-id", ORG_ID, str(tmp_path / "nope.json"))

    assert header.out.startswith("Fullstory-Signature: o:")
    assert missing.code == 2 and "FSTRIAGE_SIGNING_SECRET" in missing.err
    assert no_file.code == 2 and "cannot read" in no_file.err


# ---------------------------------------------------------------------------------------------
# send, against tiny local webhook servers


@dataclass
class Received:
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


class WebhookServer:
    """Verifies Fullstory-Signature like the webhook does (or, with `always`, answers that status)."""

    def __init__(self, *, secret: str = SIGNING_SECRET, always: int | None = None) -> None:
        self.received = Received()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.received.bodies.append(body)
                outer.received.headers.append({k.lower(): v for k, v in self.headers.items()})
                status, answer = outer.answer(self.headers.get("Fullstory-Signature"), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._secret = secret
        self._always = always
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def answer(self, signature: str | None, body: bytes) -> tuple[int, dict[str, str]]:
        if self._always is not None:
            return self._always, {"reason": "bad_signature"}
        try:
            header = parse_signature_header(signature)
        except ValueError:
            return 401, {"reason": "bad_signature"}
        if header.org_id != ORG_ID or not matches_any(header, body, [self._secret]):
            return 401, {"reason": "bad_signature"}
        return 202, {"status": "queued"}

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def __enter__(self) -> WebhookServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_send_signs_and_posts_a_file_like_the_test_endpoint_button(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = b'{"eventName":"test","version":1,"data":{"message":"hello"}}'
    payload = tmp_path / "test.json"
    payload.write_bytes(body)

    with WebhookServer() as server:
        run = cli(capsys, "send", server.url, str(payload), "--secret", SIGNING_SECRET, "--org-id", ORG_ID)

    assert run.code == 0
    assert run.out.splitlines()[0] == "HTTP 202 Accepted"
    assert '"queued"' in run.out
    assert server.received.bodies == [body]
    assert server.received.headers[0]["content-type"] == "application/json"


@pytest.mark.parametrize("event_file", ["webhook-test.json", "webhook-base64-body.json"])
def test_send_unwraps_a_function_url_event_and_re_signs_its_body(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, event_file: str
) -> None:
    event = json.loads((REPO_ROOT / "events" / event_file).read_text())
    monkeypatch.setenv("FSTRIAGE_SIGNING_SECRET", SIGNING_SECRET)

    with WebhookServer() as server:
        run = cli(
            capsys, "send", server.url, str(REPO_ROOT / "events" / event_file), "--org-id", ORG_ID, "--json"
        )

    assert run.code == 0
    answer = json.loads(run.out)
    assert answer["status"] == 202 and answer["json"] == {"status": "queued"}
    sent = server.received.bodies[0]
    assert sent.startswith(b"{") and b"requestContext" not in sent
    expected = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
    assert sent == expected
    assert "function URL event" in run.err


def test_send_exits_1_when_the_endpoint_says_401(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    payload = tmp_path / "p.json"
    payload.write_bytes(b'{"eventName":"test"}')

    with WebhookServer(secret="another-secret") as verifying, WebhookServer(always=401) as refusing:
        wrong_secret = cli(
            capsys, "send", verifying.url, str(payload), "--secret", SIGNING_SECRET, "--org-id", ORG_ID
        )
        refused = cli(
            capsys, "send", refusing.url, str(payload), "--secret", SIGNING_SECRET, "--org-id", ORG_ID
        )

    for run in (wrong_secret, refused):
        assert run.code == 1
        assert run.out.startswith("HTTP 401")
        assert "bad_signature" in run.out


def test_send_exits_1_when_nothing_answers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    payload = tmp_path / "p.json"
    payload.write_bytes(b"{}")
    with WebhookServer() as server:
        url = server.url  # the port is free again once the server is gone

    run = cli(capsys, "send", url, str(payload), "--secret", SIGNING_SECRET, "--org-id", ORG_ID)

    assert run.code == 1
    assert "could not reach" in run.err
