"""How the template's functions, queues, secrets and settings map onto the local stack's pieces: which
function is the webhook, which consume queues, where each one's code and layers are."""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fstriage_cli.local.build import build_dir
from fstriage_cli.local.config import LocalConfig, LocalStackError, Toolchain
from fstriage_cli.local.extra import install_hint
from fstriage_cli.local.gateway import FunctionUrlGateway
from fstriage_cli.local.layout import StackSource
from fstriage_cli.local.template import FunctionSpec, Template, getatt_target

# The settings (fstriage/settings.py) whose values the local stack provides.
SIGNING_SECRET_SETTING = "SIGNING_SECRET_ARN"  # noqa: S105 -- a setting's name
API_KEY_SECRET_SETTING = "FULLSTORY_API_KEY_SECRET_ARN"  # noqa: S105 -- a setting's name
EVENT_BUS_SETTING = "EVENT_BUS_NAME"
API_URL_SETTING = "FULLSTORY_API_URL"  # deliberately absent from the template: tests and local only
VISIBILITY_SETTING = "QUEUE_VISIBILITY_TIMEOUT_SECONDS"
ORG_PARAMETER = "FullstoryOrgId"
ARCHITECTURE_PARAMETER = "Architecture"
METRIC_SEGMENTS_PARAMETER = "MetricSegments"
# The optional FME forwarder (`fstriage local --fme` sets config.FME_PARAMETER): its key secret and its
# URL, which the stack points at the local FME stand-in.
FME_KEY_SECRET_SETTING = "FME_API_KEY_SECRET_ARN"  # noqa: S105 -- a setting's name
FME_URL_SETTING = "FME_EVENTS_URL"
STREAMS_PATH = "streams/"


@dataclass(frozen=True, slots=True)
class FunctionCode:
    directory: Path  # LAMBDA_TASK_ROOT
    layers: tuple[Path, ...]  # each one's python/ goes on the path


def function_code(
    source: StackSource,
    template: Template,
    specs: dict[str, FunctionSpec],
    toolchain: Toolchain,
    *,
    built: bool,
) -> dict[str, FunctionCode]:
    """Each function's code: in a checkout, sam build's output with the template's layers; installed,
    the packaged code directory (CodeUri) with no layer, as this environment already has the layer's
    packages."""
    if source.installed:
        code = {name: FunctionCode(source.root / code_uri(template, name), ()) for name in specs}
        missing = [str(found.directory) for found in code.values() if not found.directory.is_dir()]
        if missing:
            raise LocalStackError(
                f"the installed package lacks {', '.join(missing)}: {install_hint(local_extra=True)}"
            )
    else:
        built_in = build_dir(source.root)
        check_build(built_in, specs, built=built)
        code = {
            name: FunctionCode(built_in / name, tuple(layer_dirs(template, name, built_in))) for name in specs
        }
    check_runtime(specs, toolchain, installed=source.installed)
    return code


def code_uri(template: Template, function: str) -> str:
    uri = template.resolve(template.properties(function).get("CodeUri"))
    if not isinstance(uri, str) or not uri or uri.startswith(("s3://", "/")) or ".." in Path(uri).parts:
        raise LocalStackError(f"{function}: its CodeUri must be a directory of the stack, not {uri!r}")
    return uri


def bind_gateway(config: LocalConfig) -> FunctionUrlGateway:
    try:
        return FunctionUrlGateway(config.port, source_ip=config.source_ip)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise LocalStackError(
                f"port {config.port} on 127.0.0.1 is in use (another `fstriage local`?); "
                "pick another with --port"
            ) from None
        raise LocalStackError(f"cannot listen on 127.0.0.1:{config.port}: {error.strerror}") from None


def roles(template: Template) -> tuple[str, list[str]]:
    """(the function behind the function URL, the functions fed by SQS event sources)."""
    functions = template.resources("AWS::Serverless::Function")
    with_url = [name for name in functions if template.properties(name).get("FunctionUrlConfig")]
    consumers = [name for name in functions if template.function(name).sqs_events]
    if len(with_url) != 1:
        raise LocalStackError(f"expected one function with a FunctionUrlConfig, found {len(with_url)}")
    if not consumers:
        raise LocalStackError("no function has an SQS event source")
    return with_url[0], consumers


def consumer_instances(config: LocalConfig, spec: FunctionSpec, investigation_queue: str) -> int:
    """The investigator's instances (its event source's concurrency); one for any other consumer."""
    if investigation_queue not in {source.queue for source in spec.sqs_events}:
        return 1  # the FME forwarder: one instance is plenty locally
    declared = [s.maximum_concurrency for s in spec.sqs_events if s.maximum_concurrency]
    return config.investigator_concurrency or (min(declared) if declared else 2)


def investigation_queue_of(webhook: FunctionSpec, consumed: set[str]) -> str:
    """The consumed queue the webhook writes to (its environment names it); other consumers' queues
    are fed by EventBridge rules."""
    named = {ref_target(value) for value in webhook.environment.values()} & consumed
    if len(named) != 1:
        raise LocalStackError("expected the webhook to name exactly one queue that a function consumes")
    return str(named.pop())


def setting(specs: dict[str, FunctionSpec], name: str) -> Any:
    """The first function's value of the environment variable `name` (unresolved), or None."""
    return next((spec.environment[name] for spec in specs.values() if name in spec.environment), None)


def ref_target(value: Any) -> str | None:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return str(value["Ref"])
    return None


def dead_letter_queue(template: Template, queue: str) -> str:
    redrive = template.properties(queue).get("RedrivePolicy") or {}
    target = getatt_target(redrive.get("deadLetterTargetArn"))
    if target is not None:
        return target
    raise LocalStackError(f"{queue} has no dead-letter queue of the template (RedrivePolicy)")


def layer_dirs(template: Template, function: str, built_in: Path) -> list[Path]:
    layers = []
    for layer in template.properties(function).get("Layers") or []:
        target = ref_target(layer)
        if target is None:
            raise LocalStackError(f"{function}: only layers of the template can run locally, not {layer}")
        layers.append(built_in / target)
    return layers


def check_build(built_in: Path, specs: dict[str, FunctionSpec], *, built: bool) -> None:
    missing = [name for name in specs if not (built_in / name).is_dir()]
    if missing and built:
        raise LocalStackError(f"sam build left no {', '.join(missing)} in {built_in}: check their CodeUri")
    if missing:
        raise LocalStackError(
            f"{built_in} lacks {', '.join(missing)}: build first "
            "(drop --no-build, or run sam build --config-env local)"
        )


def check_runtime(specs: dict[str, FunctionSpec], toolchain: Toolchain, *, installed: bool) -> None:
    versions = set(toolchain.runtime_versions)
    for spec in specs.values():
        wanted = spec.runtime.removeprefix("python")
        if spec.runtime.startswith("python") and f"python{wanted}" not in versions:
            where, fix = (
                ("this Python is", "install fstriage with that Python")
                if installed
                else (".venv-runtime has", "run `make clean setup`")
            )
            raise LocalStackError(
                f"{spec.logical_id} runs on {spec.runtime}, but {where} {', '.join(sorted(versions))}: {fix}"
            )
