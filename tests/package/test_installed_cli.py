"""The `fstriage` CLI as a user installs it from the built wheel, with no checkout: the commands against
the Fullstory sandbox, `fstriage local` naming the extra it lacks, and with the `[local]` extra the
whole local stack turning a signed sample alert into a report."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import tarfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from mcp_types.version import LATEST_HANDSHAKE_VERSION

from fstriage_cli.samples.values import TEST_ORG_ID, TEST_SIGNING_SECRET
from fstriage_cli.sandbox import FullstorySandbox
from tests.package.conftest import Dist, Installed, python313, run_tool, tool_env, uv

API_KEY = "na1.package-test-key/SANDBOX"
SAMPLE = "webhook-segment-trend-alert.json"  # a segment alert, as Fullstory sends it
READY_PREFIX = "Webhook URL: "


@pytest.fixture(scope="module")
def sandbox() -> Iterator[FullstorySandbox]:
    with FullstorySandbox(seed=7) as running:
        yield running


def test_the_wheel_carries_the_samples_and_the_stack_and_the_sdist_only_sources(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"fstriage-{dist.version}.dist-info/METADATA").decode()
    assert f"fstriage_cli/samples/events/{SAMPLE}" in names
    assert {"fstriage_cli/stack/template.yaml", "fstriage_cli/stack/samconfig.toml"} <= names
    assert {f"fstriage_cli/stack/functions/{name}/app.py" for name in ("webhook", "investigator")} <= names
    assert "fstriage/schemas/report.schema.json" in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    requirements = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    pinned = [line for line in requirements if "==" in line.partition(";")[0]]
    assert requirements and not pinned  # ranges, never pins
    assert any("moto[server]" in line and "extra == 'local'" in line for line in requirements)
    with tarfile.open(dist.sdist) as sdist:
        members = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"pyproject.toml", "template.yaml", f"events/{SAMPLE}", "functions/webhook/app.py"} <= members
    assert not [name for name in members if name.startswith(("tests/", "bench/", "tools/", ".venv"))]


def test_help_and_version_work_without_the_extra(bare: Installed, dist: Dist) -> None:
    helped = bare.run("--help")
    assert helped.returncode == 0, helped.stderr
    assert "investigate" in helped.stdout and "local" in helped.stdout

    version = bare.run("--version")
    assert version.returncode == 0, version.stderr
    assert dist.version in version.stdout


def test_uvx_runs_the_wheel_without_installing_it(dist: Dist, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    command = [str(uv()), "tool", "run", "--python", str(python313()), "--from", str(dist.wheel)]
    done = run_tool([*command, "fstriage", "--help"], cwd=home, env=tool_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "investigate" in done.stdout and "mcp" in done.stdout and "reports" in done.stdout


def test_the_packaged_samples_are_found_in_the_install_not_a_checkout(bare: Installed) -> None:
    found = bare.samples_dir()
    assert found.is_relative_to(bare.venv)
    assert (found / SAMPLE).is_file()


@dataclass(frozen=True)
class Investigated:
    session_id: str
    run: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def investigated(bare: Installed, sandbox: FullstorySandbox) -> Investigated:
    """One `fstriage investigate --session ... --json` against the sandbox (its report feeds later tests)."""
    session = sandbox.data.sessions_of(uid="user-001")[0]
    run = bare.run(
        "investigate",
        "--session",
        session.api_id,
        "--json",
        FULLSTORY_API_URL=sandbox.base_url,
        FULLSTORY_API_KEY=API_KEY,
    )
    return Investigated(session.api_id, run)


def test_test_connection_and_investigate_against_the_sandbox(
    bare: Installed, sandbox: FullstorySandbox, investigated: Investigated
) -> None:
    connected = bare.run("test-connection", FULLSTORY_API_URL=sandbox.base_url, FULLSTORY_API_KEY=API_KEY)
    assert connected.returncode == 0, connected.stderr
    assert sandbox.data.org_id in connected.stdout
    assert sandbox.base_url in connected.stdout

    run = investigated.run
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["trigger"]["kind"] == "manual"
    assert investigated.session_id in json.dumps(report["sessions"])
    assert API_KEY not in run.stdout + run.stderr + connected.stdout + connected.stderr


@pytest.fixture(scope="module")
def reports_dir(bare: Installed, investigated: Investigated) -> tuple[Path, str]:
    """A directory holding the report the installed CLI wrote, as `fstriage local` collects one."""
    assert investigated.run.returncode == 0, investigated.run.stderr
    report = json.loads(investigated.run.stdout)
    directory = bare.cwd / "reports"
    directory.mkdir(exist_ok=True)
    (directory / f"{report['investigation_id']}.json").write_text(investigated.run.stdout)
    return directory, str(report["investigation_id"])


def test_reports_list_reads_a_reports_dir_without_the_extra(
    bare: Installed, reports_dir: tuple[Path, str]
) -> None:
    directory, investigation_id = reports_dir

    listed = bare.run("reports", "list", "--reports-dir", str(directory), "--json")
    assert listed.returncode == 0, listed.stderr
    listing = json.loads(listed.stdout)
    assert [(row["report_id"], row["trigger_kind"]) for row in listing["reports"]] == [
        (investigation_id, "manual")
    ]

    empty = bare.cwd / "no-reports-yet"
    empty.mkdir(exist_ok=True)
    nothing = bare.run("reports", "list", "--reports-dir", str(empty))
    assert nothing.returncode == 0, nothing.stderr
    assert "no reports" in nothing.stdout + nothing.stderr
    assert "Traceback" not in nothing.stderr


def test_mcp_read_only_serves_its_three_tools_over_stdio_without_the_extra(
    bare: Installed, reports_dir: tuple[Path, str]
) -> None:
    directory, investigation_id = reports_dir
    with _McpProcess(bare, "--read-only", "--reports-dir", str(directory)) as server:
        initialized = server.request(
            "initialize",
            {
                "protocolVersion": LATEST_HANDSHAKE_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "fstriage-package-test", "version": "0"},
            },
        )
        assert initialized["result"]["protocolVersion"] == LATEST_HANDSHAKE_VERSION, initialized
        server.notify("notifications/initialized")
        tools = server.request("tools/list", {})["result"]["tools"]
        assert sorted(tool["name"] for tool in tools) == ["get_report", "list_reports", "test_connection"]
        listed = server.request("tools/call", {"name": "list_reports", "arguments": {}})["result"]
        assert not listed.get("isError"), listed
        assert investigation_id in json.dumps(listed["content"])
    assert server.returncode == 0, server.stderr()


class _McpProcess:
    """`fstriage mcp` as an MCP client runs it: JSON-RPC lines on its stdin, answers on its stdout."""

    def __init__(self, installed: Installed, *args: str) -> None:
        self._process = subprocess.Popen(  # noqa: S603 -- the venv's own console script, fixed arguments
            [str(installed.fstriage), "mcp", *args],
            cwd=installed.cwd,
            env=installed.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._answers: queue.Queue[str] = queue.Queue()
        self._errors: list[str] = []
        self._next_id = 0
        self.returncode: int | None = None
        assert self._process.stdout is not None and self._process.stderr is not None
        threading.Thread(target=_pump, args=(self._process.stdout, self._answers.put), daemon=True).start()
        threading.Thread(target=_pump, args=(self._process.stderr, self._errors.append), daemon=True).start()

    def __enter__(self) -> _McpProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()  # end of input: the server stops
        try:
            self.returncode = self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            raise

    def notify(self, method: str) -> None:
        self._send({"jsonrpc": "2.0", "method": method})

    def request(self, method: str, params: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        self._next_id += 1
        self._send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while (line := _next_line(self._answers, self._process, deadline)) is not None:
            answer: dict[str, Any] = json.loads(line)  # stdout carries the protocol alone
            if answer.get("id") == self._next_id:
                return answer
        pytest.fail(f"no answer to {method}:\n{self.stderr()}")

    def stderr(self) -> str:
        return "\n".join(self._errors[-30:])

    def _send(self, message: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(message) + "\n")
        self._process.stdin.flush()


def _pump(stream: IO[str], *sinks: Callable[[str], None]) -> None:
    """Each line of `stream`, without its newline, to every sink in turn."""
    for line in stream:
        for sink in sinks:
            sink(line.rstrip("\n"))


def _next_line(lines: queue.Queue[str], process: subprocess.Popen[str], deadline: float) -> str | None:
    """The next line the process wrote, or None once `deadline` (monotonic) passes or the process has
    exited with no line left."""
    while time.monotonic() < deadline:
        try:
            return lines.get(timeout=1)
        except queue.Empty:
            if process.poll() is not None:
                return None
    return None


def test_local_without_the_extra_exits_2_and_names_the_wheel_with_the_extra(
    bare: Installed, dist: Dist
) -> None:
    refused = bare.run("local", "--port", "0")
    assert refused.returncode == 2
    assert f"pipx install --force --python python3.13 '/path/to/{dist.wheel.name}[local]'" in refused.stderr
    assert "Traceback" not in refused.stderr

    helped = bare.run("local", "--help")  # the help needs no extra
    assert helped.returncode == 0 and "--reports-dir" in helped.stdout


def test_local_with_the_extra_runs_the_packaged_stack_from_alert_to_report(with_local: Installed) -> None:
    reports, logs = with_local.cwd / "reports", with_local.cwd / "logs"
    sample = with_local.samples_dir() / SAMPLE
    stack = subprocess.Popen(  # noqa: S603 -- the venv's own console script, fixed arguments
        [
            str(with_local.fstriage),
            "local",
            "--port",
            "0",
            "--reports-dir",
            str(reports),
            "--log-dir",
            str(logs),
            "--investigator-concurrency",
            "1",
        ],
        cwd=with_local.cwd,
        env=with_local.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []
    assert stack.stdout is not None
    reader = threading.Thread(target=_pump, args=(stack.stdout, output.append, lines.put), daemon=True)
    reader.start()
    try:
        url = _wait_for_webhook_url(stack, lines, output, timeout=120)
        assert any("installed package's stack" in line for line in output), output

        sent = with_local.run(
            "send", url, str(sample), "--secret", TEST_SIGNING_SECRET, "--org-id", TEST_ORG_ID
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "HTTP 202" in sent.stdout

        report_file = _wait_for_report(reports, stack, output, timeout=180)
        report = json.loads(report_file.read_text())
        assert report["trigger"]["kind"] == "segment_alert"
        assert report["sessions"], "the sandbox holds the sessions the sample names"
        assert report_file.with_suffix(".md").is_file()
    finally:
        if stack.poll() is None:
            stack.send_signal(signal.SIGINT)
        try:
            code = stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stack.kill()
            raise
        reader.join(timeout=5)
    assert code == 0, "\n".join(output[-30:])
    assert any(line.startswith("Stopping") for line in output)
    assert _processes_of(with_local.venv) == [], "the stack left processes of the venv running"


def _wait_for_webhook_url(
    process: subprocess.Popen[str], lines: queue.Queue[str], output: list[str], timeout: float
) -> str:
    deadline = time.monotonic() + timeout
    while (line := _next_line(lines, process, deadline)) is not None:
        if line.startswith(READY_PREFIX):
            return line.removeprefix(READY_PREFIX).strip()
    pytest.fail("fstriage local did not get ready:\n" + "\n".join(output[-30:]))


def _wait_for_report(
    reports: Path, process: subprocess.Popen[str], output: list[str], timeout: float
) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        found = sorted(reports.glob("*.json"))
        if found:
            return found[0]
        time.sleep(0.5)
    pytest.fail("no report arrived:\n" + "\n".join(output[-30:]))


def _processes_of(venv: Path, grace: float = 10) -> list[int]:
    """PIDs whose command line runs something of `venv` (emulators, runtimes), after up to `grace` s."""
    deadline = time.monotonic() + grace
    while True:
        found = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if str(venv).encode() in cmdline.read_bytes():
                    found.append(int(cmdline.parent.name))
            except OSError:
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_demo_with_the_extra_runs_from_the_installed_package(with_local: Installed) -> None:
    reports = with_local.cwd / "demo-out"
    done = with_local.run("demo", "--reports-dir", str(reports), timeout=400)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "demo ok: " in done.stdout + done.stderr
    assert sorted(reports.glob("*.json")), "the demo keeps its reports"
    assert "Traceback" not in done.stderr
