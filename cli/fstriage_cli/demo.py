"""`fstriage demo`: the main job end to end on one machine.

It starts the local stack with the bundled Fullstory sandbox, sends every alert, note, custom event
and stream sample in `events/` (re-signed now, as Fullstory would sign them), waits for the
investigations, prints one line per trigger (with the path of its HTML report), the Markdown of one
report and the Slack message it would post, and exits 0 only when every expected report exists and
validates against the report schema. Write-back into Fullstory is on, so it also prints how many server
events the sandbox recorded for the demo's reports.

The reports (JSON, Markdown, HTML) stay in `demo-reports/` in the checkout (ignored by git), or in the
current directory when run from the installed package, emptied at the start of each run, so a printed
path can still be opened after the demo exits. The Slack text's link is the presigned URL the
investigator made; locally it points at the stack's moto S3, which is gone once the demo exits: open
the HTML file instead.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from fstriage.adapters.outputs import StoredReport
from fstriage.core.http import request_from_function_url_event
from fstriage.core.report import investigation_id_for
from fstriage.core.signature import sign
from fstriage.investigator_app import slack_text
from fstriage_cli.local.config import WRITE_BACK_PARAMETER, LocalConfig, LocalStackError
from fstriage_cli.local.layout import find_stack
from fstriage_cli.local.reports import CollectedReport
from fstriage_cli.local.stack import LocalStack
from fstriage_cli.samples.values import FULLSTORY_STREAM_IP

SCHEMA_NAME = "schemas/report.schema.json"  # inside the `fstriage` package, checkout or installed
DEMO_REPORTS_DIR = Path("demo-reports")  # in the checkout (.gitignore lists it), else the current directory


@dataclass(frozen=True, slots=True)
class Sample:
    """One `events/` file the webhook should queue."""

    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    signed: bool


@dataclass(slots=True)
class Trigger:
    sample: Sample
    status: int
    request_id: str | None
    kind: str = "?"


def load_samples(events_dir: Path) -> list[Sample]:
    """The samples the manifest says are queued (status 202, outcome `queued`)."""
    manifest = json.loads((events_dir / "manifest.json").read_text())
    samples = []
    for name, expected in manifest.items():
        if expected.get("function") != "WebhookFunction" or expected.get("expect_outcome") != "queued":
            continue
        request = request_from_function_url_event(json.loads((events_dir / name).read_text()))
        samples.append(
            Sample(
                name=name,
                method=request.method,
                path=request.path,
                headers=dict(request.headers),
                body=request.body,
                signed="fullstory-signature" in request.headers,
            )
        )
    return samples


def send(base_url: str, sample: Sample, *, secret: str, org_id: str) -> tuple[int, dict[str, Any]]:
    headers = {"content-type": sample.headers.get("content-type", "application/json")}
    if sample.signed:
        headers["fullstory-signature"] = sign(secret, sample.body, org_id)
    request = urllib.request.Request(  # noqa: S310 -- a loopback URL the stack just opened
        base_url.rstrip("/") + sample.path, data=sample.body, headers=headers, method=sample.method
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"{}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fstriage demo",
        description=(
            "Run the whole stack locally with the Fullstory sandbox, send every alert, note, custom "
            "event and stream sample from events/, and print the reports. Exits 0 only when every "
            "expected report exists and validates against the schema."
        ),
        epilog="example:\n  fstriage demo\n  fstriage demo --reports-dir reports/demo --timeout 300",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--reports-dir",
        type=Path,
        help=f"keep the reports here (default: {DEMO_REPORTS_DIR}/ in the checkout, or in the current "
        "directory without one; emptied on each run)",
    )
    p.add_argument(
        "--timeout", type=float, default=240.0, help="seconds to wait for all reports (default 240)"
    )
    p.add_argument("--no-build", action="store_true", help="use the existing x86_64 build")
    p.add_argument("--echo-logs", action="store_true", help="copy the functions' logs to stderr")
    return p


def run(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    source = find_stack(None)
    samples = load_samples(source.events_dir)
    schema = json.loads(resources.files("fstriage").joinpath(SCHEMA_NAME).read_text())
    reports_dir = args.reports_dir or fresh_demo_dir(Path.cwd() if source.installed else source.root)
    config = LocalConfig(
        port=0,
        reports_dir=reports_dir,
        source_ip=FULLSTORY_STREAM_IP,  # inside Fullstory's Streams range: passes the allow list
        # Poll the segment export every 2 s rather than the deployed 30 s.
        function_env={"InvestigatorFunction": {"EXPORT_POLL_DELAY_SECONDS": "2"}},
        parameters={"MetricSegments": _metric_segments(samples), WRITE_BACK_PARAMETER: "true"},
        build=not args.no_build,
        echo_logs=args.echo_logs,
    )
    with LocalStack(config, log=say) as stack:
        triggers = []
        for sample in samples:
            status, answer = send(
                stack.webhook_url, sample, secret=config.signing_secret, org_id=config.org_id
            )
            triggers.append(Trigger(sample, status, answer.get("request_id")))
            if status != 202:
                say(f"error: {sample.name} was answered {status} {answer}")
                return 1
        wanted = {t.request_id for t in triggers if t.request_id}
        say(f"sent {len(samples)} signed samples; waiting for {len(wanted)} investigations…")
        reports = _wait(stack, wanted, args.timeout)
        code = _summarise(triggers, reports, schema, say)
        _say_written(stack, reports, say)
        return code


def fresh_demo_dir(parent: Path) -> Path:
    """`demo-reports/` under `parent`, emptied: what a run prints is what it made."""
    folder = parent / DEMO_REPORTS_DIR
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def _metric_segments(samples: Sequence[Sample]) -> str:
    """Map the sample metric alert's metric to the sample segment alert's segment, so the demo
    shows a metric alert investigated through its segment."""
    metric = segment = None
    for sample in samples:
        document = json.loads(sample.body) if sample.signed else {}
        config = document.get("data", {}).get("alertConfig", {}) if isinstance(document, dict) else {}
        if document.get("eventName") == "metric.alert":
            metric = config.get("metricName")
        if document.get("eventName") == "segment.trend.alert" and config.get("segmentUrl"):
            segment = config["segmentUrl"].split("/segments/", 1)[1].split("/", 1)[0]
    return json.dumps({metric: segment}) if metric and segment else "{}"


def _wait(stack: LocalStack, wanted: set[str], timeout: float) -> dict[str, dict[str, Any]]:
    """The reports of the wanted requests that arrived within `timeout`, by request ID."""
    by_investigation = {investigation_id_for(request_id): request_id for request_id in wanted}
    arrived = stack.wait_for_investigations(by_investigation, timeout)
    return {
        by_investigation[investigation_id]: {"report": collected.load(), "path": collected}
        for investigation_id, collected in arrived.items()
    }


def _summarise(
    triggers: list[Trigger],
    reports: dict[str, dict[str, Any]],
    schema: dict[str, Any],
    say: Callable[[str], None],
) -> int:
    ok = True
    shown: dict[str, Any] | None = None
    print()
    print(f"{'trigger':34} {'kind':14} {'status':9} {'sessions':>8}  top error group / report")
    for trigger in triggers:
        entry = reports.get(trigger.request_id or "")
        if entry is None:
            ok = False
            print(f"{trigger.sample.name:34} {'?':14} {'MISSING':9} {'-':>8}  no report within the timeout")
            continue
        report = entry["report"]
        try:
            jsonschema.validate(report, schema)
        except jsonschema.ValidationError as invalid:
            ok = False
            say(f"error: the report for {trigger.sample.name} does not match the schema: {invalid.message}")
        groups = report["error_groups"]
        top = f"{groups[0]['signature']} ({len(groups[0]['sessions'])} sessions)" if groups else "no errors"
        print(
            f"{trigger.sample.name:34} {report['trigger']['kind']:14} {report['status']:9} "
            f"{len(report['sessions']):>8}  {top}"
        )
        collected = entry["path"]
        print(f"{'':34} {'':14} {'':9} {'':>8}  {collected.html_path or collected.json_path}")
        if shown is None or report["trigger"]["kind"] == "segment_alert":
            shown = entry
    if shown is not None:
        collected = shown["path"]
        print()
        print(collected.markdown_path.read_text())
        if collected.html_path is not None:
            say(f"HTML report (open it in a browser): {collected.html_path}")
        else:
            ok = False
            say(f"error: no HTML report for {collected.investigation_id}")
        print("Slack message (as the investigator would post it; locally its link points at moto's S3):")
        print(_slack_text(collected))
    if not ok:
        say("demo failed: some reports are missing or invalid")
        return 1
    say(f"demo ok: {len(reports)} reports, all valid against the report schema ({SCHEMA_NAME})")
    return 0


def _slack_text(collected: CollectedReport) -> str:
    stored = collected.detail.get("report") or {}
    keys = StoredReport(
        bucket=stored.get("bucket", ""),
        json_key=stored.get("json_key", ""),
        markdown_key=stored.get("markdown_key", ""),
        html_key=stored.get("html_key"),
    )
    return slack_text(collected.load(), keys, collected.report_url)


def _say_written(stack: LocalStack, reports: dict[str, dict[str, Any]], say: Callable[[str], None]) -> None:
    """What the sandbox recorded from `POST /v2/events` for these reports (measured there, not taken
    from the reports), next to what the reports' `cost` says they wrote."""
    if stack.sandbox is None:
        return
    ids = {entry["report"]["investigation_id"] for entry in reports.values()}
    written = [e for e in stack.sandbox.written_events if e.properties.get("investigation_id") in ids]
    sessions = {e.session_id for e in written}
    marked = {e.properties.get("investigation_id") for e in written}
    claimed = sum(int(entry["report"]["cost"].get("fullstory_writes", 0)) for entry in reports.values())
    say(
        f"write-back: the Fullstory sandbox recorded {len(written)} server events "
        f'("fstriage Investigation") on {len(sessions)} sessions for {len(marked)} of {len(reports)} '
        f"reports; the reports count {claimed} writes"
    )
    if claimed != len(written):
        say("warning: the sandbox's record and the reports' cost.fullstory_writes disagree")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 2

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        return run(args, say)
    except LocalStackError as problem:
        say(f"error: {problem}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
