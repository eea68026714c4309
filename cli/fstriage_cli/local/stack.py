"""The whole stack on one machine: the functions under the runtime emulator, AWS in moto, the
function URL gateway, Lambda's SQS poller, the report collector and the Fullstory sandbox.

The functions are a checkout's `sam build` output, or with no checkout the installed package's own
copy (layout.py).

    with LocalStack(LocalConfig(port=0)) as stack:
        post(stack.webhook_url, ...)
        stack.wait_for_reports(1, timeout=60)

`start()` cleans up after itself when it fails halfway; `stop()` ends every emulator process group
and thread it started, and closes every port.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fstriage.core.republish import EVENT_SOURCE
from fstriage.core.watch import tick_message
from fstriage_cli import fme_standin
from fstriage_cli.local.aws import MotoServer, Resources, create_resources
from fstriage_cli.local.build import sam_build
from fstriage_cli.local.config import (
    ACCOUNT_ID,
    FAKE_CREDENTIALS,
    FME_PARAMETER,
    REGION,
    SANDBOX_API_KEY,
    LocalConfig,
    LocalStackError,
    Toolchain,
    find_toolchain,
)
from fstriage_cli.local.gateway import FunctionPool, FunctionUrlGateway
from fstriage_cli.local.layout import StackSource, find_stack, installed_toolchain
from fstriage_cli.local.outage import AwsOutages
from fstriage_cli.local.poller import SqsPoller
from fstriage_cli.local.reports import CollectedReport, ReportCollector
from fstriage_cli.local.rie import EmulatedFunction, Invocation
from fstriage_cli.local.template import FunctionSpec, Template
from fstriage_cli.local.wiring import (
    API_KEY_SECRET_SETTING,
    API_URL_SETTING,
    ARCHITECTURE_PARAMETER,
    EVENT_BUS_SETTING,
    FME_KEY_SECRET_SETTING,
    FME_URL_SETTING,
    METRIC_SEGMENTS_PARAMETER,
    ORG_PARAMETER,
    SIGNING_SECRET_SETTING,
    STREAMS_PATH,
    VISIBILITY_SETTING,
    bind_gateway,
    consumer_instances,
    dead_letter_queue,
    function_code,
    investigation_queue_of,
    ref_target,
    roles,
    setting,
)
from fstriage_cli.sandbox import FullstorySandbox
from fstriage_cli.sandbox.samples import SampleAnchors, sample_anchors

# FME_PARAMETER: `fstriage local --fme` sets it.
__all__ = ["FME_PARAMETER", "LocalStack", "PolledInvocation"]


@dataclass(frozen=True, slots=True)
class PolledInvocation:
    function: str  # the instance, e.g. "InvestigatorFunction#2"
    message_ids: tuple[str, ...]
    result: Invocation
    failed: frozenset[str]  # message IDs left on the queue


@dataclass
class _Function:
    spec: FunctionSpec
    instances: list[EmulatedFunction] = field(default_factory=list)


class LocalStack:
    def __init__(
        self, config: LocalConfig | None = None, *, log: Callable[[str], None] | None = None
    ) -> None:
        self.config = config or LocalConfig()
        self._log = log or (lambda line: None)
        self._stop = threading.Event()
        self._source: StackSource | None = None
        self._gateway: FunctionUrlGateway | None = None
        self._moto: MotoServer | None = None
        # With `aws_outages`: the proxy between the functions and moto (switch outages on and off).
        self.outages: AwsOutages | None = None
        self.sandbox: FullstorySandbox | None = None
        # The FME events API stand-in, when the template has the FME forwarder (FmeForwarder=enabled).
        self.fme: fme_standin.FmeStandIn | None = None
        self.samples: SampleAnchors | None = None
        self.template: Template | None = None
        self.resources: Resources | None = None
        self._functions: dict[str, _Function] = {}
        self._pollers: list[SqsPoller] = []
        self._collector: ReportCollector | None = None
        self._webhook_id = ""
        self._consumer_queue = ""
        self._dlq = ""
        self.built = False
        self.startup_seconds = 0.0
        # Each invocation by the SQS poller, newest last (the last 10,000).
        self.invocations: deque[PolledInvocation] = deque(maxlen=10_000)

    # -- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> LocalStack:
        if self._stop.is_set():
            raise RuntimeError("a LocalStack runs once; create a new one")
        started = time.monotonic()
        atexit.register(self.stop)  # a script that forgets stop() still leaves no process behind
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _start(self) -> None:
        config = self.config
        source = self.source
        toolchain = self._toolchain(source)
        self._gateway = bind_gateway(config)  # first: a busy port fails before anything slow
        self._log("Reading template.yaml")
        template = self._load_template(source)
        self.template = template
        webhook_id, consumers = roles(template)
        self._webhook_id = webhook_id
        specs = {name: template.function(name) for name in [webhook_id, *consumers]}
        secret_values = self._secret_values(template, specs)  # a missing API key fails before anything runs
        if config.build and not source.installed:
            self._log("sam build --config-env local (x86_64) ...")
            self.built = sam_build(source.root, toolchain, list(specs))
            self._log("built" if self.built else "the build is up to date")
        code = function_code(source, template, specs, toolchain, built=self.built)
        if config.fullstory_api_url is None:
            self.sandbox = FullstorySandbox(
                seed=config.sandbox_seed,
                org_id=config.org_id,
                anchors=self.samples.anchors if self.samples else None,
            ).start()
        if setting(specs, FME_KEY_SECRET_SETTING) is not None:
            self.fme = fme_standin.FmeStandIn(api_key=fme_standin.DEFAULT_KEY).start()
        self._moto = MotoServer().start()
        if config.aws_outages:
            self.outages = AwsOutages(self._moto.port)
        consumed = {source.queue for name in consumers for source in specs[name].sqs_events}
        investigation_queue = investigation_queue_of(specs[webhook_id], consumed)
        bus = str(template.resolve(setting(specs, EVENT_BUS_SETTING) or "default"))
        self.resources = create_resources(
            self._moto,
            template,
            secret_values=secret_values,
            visibility_timeouts={investigation_queue: config.visibility_timeout}
            if config.visibility_timeout is not None
            else {},
            event_bus=bus,
            capture_source=EVENT_SOURCE,
        )
        self._consumer_queue = investigation_queue
        self._dlq = dead_letter_queue(template, self._consumer_queue)
        log_dir = self.log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        for name, spec in specs.items():
            count = max(1, config.webhook_concurrency) if name == webhook_id else 1
            if name in consumers:
                count = consumer_instances(config, spec, investigation_queue)
            self._functions[name] = _Function(spec)
            for number in range(1, count + 1):
                label = name if count == 1 else f"{name}#{number}"
                instance = EmulatedFunction(
                    label,
                    rie=toolchain.rie,
                    runtime_python=toolchain.runtime_python,
                    code_dir=code[name].directory,
                    layer_dirs=list(code[name].layers),
                    handler=spec.handler,
                    environment=self._environment(template, spec, number),
                    timeout=spec.timeout,
                    log_file=log_dir / f"{label.replace('#', '-')}.log",
                    echo_logs=config.echo_logs,
                )
                self._functions[name].instances.append(instance)
                instance.start(timeout=config.startup_timeout)
        self._collector = ReportCollector(
            client_factory=self._moto.client,
            capture_queue_url=self.resources.capture_queue_url,
            reports_dir=self.reports_dir,
            stop=self._stop,
            on_report=lambda report: self._log(
                f"report {report.investigation_id} ({report.status}): "
                f"{report.html_path or report.markdown_path}"
            ),
        )
        self._collector.start()
        for name in consumers:
            for event_source in specs[name].sqs_events:
                queue = template.physical[event_source.queue]
                for instance in self._functions[name].instances:
                    poller = SqsPoller(
                        name=f"poller-{instance.name}",
                        client_factory=lambda: self._client("sqs"),
                        queue_url=queue["Ref"],
                        queue_arn=queue["Arn"],
                        region=REGION,
                        source=event_source,
                        function=instance,
                        stop=self._stop,
                        on_invocation=self._observer(instance.name),
                    )
                    self._pollers.append(poller)
                    poller.start()
        pool = FunctionPool(self._functions[webhook_id].instances)
        self._gateway.start(pool.invoke)

    def stop(self) -> None:
        """Stop everything started so far; safe to call twice, and after a failed start."""
        self._stop.set()
        atexit.unregister(self.stop)
        if self._gateway is not None:
            self._gateway.stop()
            self._gateway = None
        for function in self._functions.values():
            for instance in function.instances:
                instance.stop()
        for poller in self._pollers:
            poller.join(timeout=10)
        if self._collector is not None:
            self._collector.join(timeout=10)
        if self.outages is not None:
            self.outages.stop()
            self.outages = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        if self.sandbox is not None:
            self.sandbox.stop()
        if self.fme is not None:
            self.fme.stop()

    # -- what tests and tools use -------------------------------------------------------------------

    @property
    def webhook_url(self) -> str:
        if self._gateway is None:
            raise RuntimeError("the local stack is not running")
        return self._gateway.url

    @property
    def streams_url_pattern(self) -> str:
        return f"{self.webhook_url}{STREAMS_PATH}<stream_token>"

    @property
    def moto_endpoint(self) -> str:
        if self._moto is None:
            raise RuntimeError("the local stack is not running")
        return self._moto.endpoint

    @property
    def queue_url(self) -> str:
        return self._physical(self._consumer_queue)

    @property
    def dlq_url(self) -> str:
        return self._physical(self._dlq)

    @property
    def reports_dir(self) -> Path:
        return self.config.reports_dir.resolve()

    @property
    def fullstory_api_url(self) -> str:
        if self.sandbox is not None:
            return self.sandbox.base_url
        return str(self.config.fullstory_api_url)

    @property
    def reports(self) -> list[CollectedReport]:
        return self._collector.reports if self._collector is not None else []

    def wait_for_reports(self, count: int, timeout: float) -> list[CollectedReport]:
        if self._collector is None:
            raise RuntimeError("the local stack is not running")
        return self._collector.wait_for(count, timeout)

    def wait_for_investigations(
        self, investigation_ids: Collection[str], timeout: float
    ) -> dict[str, CollectedReport]:
        """The reports of these investigations that arrived within `timeout`, by ID (all of them, or fewer
        on a timeout: the caller decides what a missing one means)."""
        if self._collector is None:
            raise RuntimeError("the local stack is not running")
        return self._collector.wait_for_ids(investigation_ids, timeout)

    @property
    def emulators(self) -> list[EmulatedFunction]:
        return [instance for function in self._functions.values() for instance in function.instances]

    @property
    def pids(self) -> list[int]:
        """The emulator processes (each leads a process group holding its Python runtime)."""
        return [i.pid for i in self.emulators if i.pid is not None]

    @property
    def ports(self) -> list[int]:
        """Every port the stack listens on: the gateway, moto, the sandbox, each emulator's two."""
        found = [port for i in self.emulators if i.pid is not None for port in i.ports]
        if self._gateway is not None:
            found.append(self._gateway.port)
        if self._moto is not None:
            found.append(self._moto.port)
        if self.sandbox is not None and not self._stop.is_set():
            found.append(int(urlsplit(self.sandbox.base_url).port or 0))
        if self.outages is not None:
            found.extend(self.outages.ports)
        if self.fme is not None and not self._stop.is_set():
            found.append(self.fme.port)
        return found

    @property
    def source(self) -> StackSource:
        """Where the stack comes from: a checkout, or the installed package."""
        if self._source is None:
            self._source = find_stack(self.config.project_dir)
        return self._source

    @property
    def log_dir(self) -> Path:
        return (self.config.log_dir or self.source.default_log_dir).resolve()

    def restart(self, function: str) -> None:
        """Cold-start every instance of `function` (a logical ID): its caches, clients and keys are
        gone, as after a deploy or a scale-out. Call it while the function is idle."""
        if function not in self._functions:
            raise KeyError(f"no function {function}")
        for instance in self._functions[function].instances:
            instance.stop()
            instance.start(timeout=self.config.startup_timeout)

    def client(self, service: str) -> Any:
        """A boto3 client for the stack's moto (fake credentials)."""
        return self._client(service)

    def tick(self, at: datetime) -> str:
        """Send the watch schedule's tick for `at` to the investigation queue, as EventBridge Scheduler
        would at that hour (the Scheduler itself does not run here): the investigator queues a
        `scheduled` request per watched segment due then (the WatchedSegments parameter). Returns the
        message ID."""
        body = json.dumps(tick_message(at), separators=(",", ":"))
        answer = self._client("sqs").send_message(QueueUrl=self.queue_url, MessageBody=body)
        return str(answer["MessageId"])

    def queue_depth(self, queue_url: str) -> int:
        """Visible + in flight + delayed messages."""
        attributes = self._client("sqs").get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    # -- helpers ----------------------------------------------------------------------------------

    def _client(self, service: str) -> Any:
        if self._moto is None:
            raise RuntimeError("the local stack is not running")
        return self._moto.client(service)

    def _physical(self, logical_id: str) -> str:
        if self.template is None or logical_id not in self.template.physical:
            raise RuntimeError("the local stack is not running")
        return self.template.physical[logical_id]["Ref"]

    def _observer(self, name: str) -> Callable[[list[dict[str, Any]], Invocation, set[str]], None]:
        return lambda records, result, failed: self._polled(name, records, result, failed)

    def _polled(self, name: str, records: list[dict[str, Any]], result: Invocation, failed: set[str]) -> None:
        ids = tuple(str(r["messageId"]) for r in records)
        self.invocations.append(PolledInvocation(name, ids, result, frozenset(failed)))
        if result.error is not None:
            self._log(
                f"{name}: invocation failed ({result.error}); {len(records)} record(s) stay on the queue"
            )
        elif failed:
            self._log(f"{name}: {len(failed)} of {len(records)} record(s) failed and stay on the queue")

    def _toolchain(self, source: StackSource) -> Toolchain:
        if not source.installed:
            return find_toolchain(source.root, need_build=self.config.build)
        self._log(f"No checkout here: running the installed package's stack ({source.root})")
        return installed_toolchain()

    def _load_template(self, source: StackSource) -> Template:
        config = self.config
        overrides = {ORG_PARAMETER: config.org_id, ARCHITECTURE_PARAMETER: "x86_64"}
        if config.fullstory_api_url is None and config.sample_anchors:
            self.samples = sample_anchors(source.events_dir)
            if self.samples.metric_segments:
                overrides[METRIC_SEGMENTS_PARAMETER] = json.dumps(self.samples.metric_segments)
        overrides.update(config.parameters)
        return Template.load(
            source.root / "template.yaml",
            overrides,
            region=REGION,
            account_id=ACCOUNT_ID,
            stack_name=config.stack_name,
        )

    def _secret_values(self, template: Template, specs: dict[str, FunctionSpec]) -> dict[str, str]:
        config = self.config
        values: dict[str, str] = {}
        signing = ref_target(setting(specs, SIGNING_SECRET_SETTING))
        if signing is None:
            raise LocalStackError(f"no function reads {SIGNING_SECRET_SETTING} from a secret of the template")
        values[signing] = json.dumps(
            {"signing_secret": config.signing_secret, "stream_token": config.stream_token}
        )
        api_key = ref_target(setting(specs, API_KEY_SECRET_SETTING))
        if api_key is not None:
            key = config.fullstory_api_key or os.environ.get("FULLSTORY_API_KEY", "").strip()
            if not key:
                if config.fullstory_api_url is not None:
                    raise LocalStackError(
                        "--fullstory-api-url needs an API key: set FULLSTORY_API_KEY (Admin or Architect)"
                    )
                key = SANDBOX_API_KEY
            values[api_key] = key
        fme_key = ref_target(setting(specs, FME_KEY_SECRET_SETTING))
        if fme_key is not None:
            # The stand-in's published key; a real FME (--function-env ...:FME_EVENTS_URL=...) needs yours.
            values[fme_key] = os.environ.get("FME_API_KEY", "").strip() or fme_standin.DEFAULT_KEY
        return values

    def _aws_endpoint(self, function: str) -> str:
        assert self._moto is not None
        return self.outages.endpoint_for(function) if self.outages is not None else self._moto.endpoint

    def _environment(self, template: Template, spec: FunctionSpec, number: int) -> dict[str, str]:
        assert self._moto is not None
        name = f"{self.config.stack_name}-{spec.logical_id}"
        environment = {
            **FAKE_CREDENTIALS,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self._aws_endpoint(spec.logical_id),
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{number:032x}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            # No X-Ray daemon here: with tracing on, the SDK would log plain-text "discarded" lines.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        environment.update(template.environment(spec))
        if API_KEY_SECRET_SETTING in spec.environment:
            environment[API_URL_SETTING] = self.fullstory_api_url
        if FME_KEY_SECRET_SETTING in spec.environment and self.fme is not None:
            environment[FME_URL_SETTING] = self.fme.events_url
        if VISIBILITY_SETTING in spec.environment and self.config.visibility_timeout is not None:
            # The consumer's idea of its queue's visibility timeout must match the queue made here.
            environment[VISIBILITY_SETTING] = str(self.config.visibility_timeout)
        environment.update(self.config.function_env.get(spec.logical_id, {}))
        return environment
