"""The SAM template, read with cfn-lint's loader and resolved the way a deploy would resolve it.

Only what the local stack needs: parameters (defaults + overrides, checked against their
constraints), conditions, mappings, `Globals`, and the intrinsic functions the template uses. A
resource reference resolves through `physical`, which the stack fills in as it creates each resource
(`Ref` and attributes such as `Arn` or `QueueName`); anything else unknown is an error, never a guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml  # type: ignore[import-untyped]

from fstriage_cli.local.config import LocalStackError


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()


class Unresolved(LocalStackError):
    """A reference to something the template (or the local stack, so far) does not define."""


@dataclass(frozen=True, slots=True)
class SqsEventSource:
    name: str
    queue: str  # logical ID of the queue
    batch_size: int
    batching_window: int  # MaximumBatchingWindowInSeconds
    report_batch_item_failures: bool
    maximum_concurrency: int | None


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    logical_id: str
    handler: str
    runtime: str
    timeout: int
    memory: int
    environment: dict[str, Any]  # unresolved: resolve once the resources exist
    sqs_events: tuple[SqsEventSource, ...]


@dataclass
class Template:
    document: dict[str, Any]
    parameters: dict[str, str]
    pseudo: dict[str, str]
    # logical ID -> {"Ref": ..., "Arn": ..., ...}, filled in as the local resources are created
    physical: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        path: Path,
        overrides: Mapping[str, str] | None = None,
        *,
        region: str,
        account_id: str,
        stack_name: str,
    ) -> Template:
        try:
            document: dict[str, Any] = json.loads(json.dumps(cfn_yaml.load(str(path))))
        except Exception as error:  # cfn-lint raises its own parse errors
            raise LocalStackError(f"cannot read {path}: {error}") from None
        declared = document.get("Parameters", {})
        unknown = sorted(set(overrides or {}) - set(declared))
        if unknown:
            raise LocalStackError(f"the template has no parameter(s) {', '.join(unknown)}")
        parameters = {name: str(spec["Default"]) for name, spec in declared.items() if "Default" in spec}
        parameters.update({name: str(value) for name, value in (overrides or {}).items()})
        missing = sorted(set(declared) - set(parameters))
        if missing:
            raise LocalStackError(f"template parameter(s) without a value: {', '.join(missing)}")
        for name, value in parameters.items():
            _check_parameter(name, declared[name], value)
        pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::StackName": stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/local",
        }
        return cls(document, parameters, pseudo)

    # -- reading ---------------------------------------------------------------------------------

    def resources(self, resource_type: str | None = None) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = self.document.get("Resources", {})
        return {
            name: r
            for name, r in found.items()
            if (resource_type is None or r.get("Type") == resource_type) and self._exists(r)
        }

    def _exists(self, resource: Mapping[str, Any]) -> bool:
        """A resource with a `Condition` exists only when the condition holds, as in a deploy."""
        condition = resource.get("Condition")
        return condition is None or self.condition(str(condition))

    def properties(self, logical_id: str) -> dict[str, Any]:
        """The resource's properties, with SAM `Globals` merged in for serverless functions."""
        resource = self.resources()[logical_id]
        properties: dict[str, Any] = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            properties = _merge(self.document.get("Globals", {}).get("Function", {}), properties)
        return properties

    def condition(self, name: str) -> bool:
        conditions = self.document.get("Conditions", {})
        if name not in conditions:
            raise Unresolved(f"the template has no condition {name}")
        return bool(self.resolve(conditions[name]))

    def function(self, logical_id: str) -> FunctionSpec:
        properties = self.properties(logical_id)
        events = []
        for name, event in (properties.get("Events") or {}).items():
            if event.get("Type") != "SQS":
                continue
            spec = event.get("Properties", {})
            queue = spec.get("Queue")
            queue_id = _queue_logical_id(queue)
            scaling = self.resolve(spec.get("ScalingConfig") or {})
            types = self.resolve(spec.get("FunctionResponseTypes") or [])
            events.append(
                SqsEventSource(
                    name=name,
                    queue=queue_id,
                    batch_size=int(self.resolve(spec.get("BatchSize", 10))),
                    batching_window=int(self.resolve(spec.get("MaximumBatchingWindowInSeconds", 0))),
                    report_batch_item_failures="ReportBatchItemFailures" in types,
                    maximum_concurrency=int(scaling["MaximumConcurrency"])
                    if isinstance(scaling, dict) and "MaximumConcurrency" in scaling
                    else None,
                )
            )
        return FunctionSpec(
            logical_id=logical_id,
            handler=str(self.resolve(properties.get("Handler", "app.handler"))),
            runtime=str(self.resolve(properties.get("Runtime", ""))),
            timeout=int(self.resolve(properties.get("Timeout", 3))),
            memory=int(self.resolve(properties.get("MemorySize", 128))),
            environment=dict((properties.get("Environment") or {}).get("Variables") or {}),
            sqs_events=tuple(events),
        )

    def environment(self, spec: FunctionSpec) -> dict[str, str]:
        resolved: dict[str, str] = {}
        for name, value in spec.environment.items():
            result = self.resolve(value)
            if result is NO_VALUE:
                continue
            resolved[name] = result if isinstance(result, str) else json.dumps(result)
        return resolved

    # -- resolving -------------------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            handler = _INTRINSICS.get(key)
            if handler is not None:
                return handler(self, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.attribute(name, "Ref")

    def attribute(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.resources():
            raise Unresolved(f"the template has no parameter or resource {logical_id}")
        known = self.physical.get(logical_id)
        if known is None or attribute not in known:
            kind = self.resources()[logical_id].get("Type")
            what = "Ref" if attribute == "Ref" else f"GetAtt {attribute}"
            raise Unresolved(f"the local stack does not provide {what} of {logical_id} ({kind})")
        return known[attribute]

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], {k: self.resolve(v) for k, v in argument[1].items()}
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.attribute(logical_id, attribute)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, str(text))

    def _find_in_map(self, argument: list[Any]) -> Any:
        name, first, second = (self.resolve(part) for part in argument)
        try:
            return self.document["Mappings"][name][first][second]
        except KeyError:
            raise Unresolved(f"the template's mapping {name} has no {first}/{second}") from None


def _getatt(template: Template, argument: Any) -> str:
    if isinstance(argument, str):
        logical_id, attribute = argument.split(".", 1)
    else:
        logical_id, attribute = argument[0], template.resolve(argument[1])
    return template.attribute(logical_id, attribute)


def _if(template: Template, argument: list[Any]) -> Any:
    name, when_true, when_false = argument
    return template.resolve(when_true if template.condition(name) else when_false)


def _equals(template: Template, argument: list[Any]) -> bool:
    left, right = (template.resolve(part) for part in argument)
    return str(left) == str(right)


def _join(template: Template, argument: list[Any]) -> str:
    separator, values = argument[0], template.resolve(argument[1])
    return str(separator).join(str(v) for v in values)


def _select(template: Template, argument: list[Any]) -> Any:
    index, values = template.resolve(argument[0]), template.resolve(argument[1])
    return values[int(index)]


def _split(template: Template, argument: list[Any]) -> list[str]:
    return str(template.resolve(argument[1])).split(str(argument[0]))


_INTRINSICS: dict[str, Callable[[Template, Any], Any]] = {
    "Ref": lambda t, a: t.ref(str(a)),
    "Fn::GetAtt": _getatt,
    "Fn::Sub": lambda t, a: t._sub(a),
    "Fn::FindInMap": lambda t, a: t._find_in_map(a),
    "Fn::If": _if,
    "Fn::Equals": _equals,
    "Fn::Not": lambda t, a: not t.resolve(a[0]),
    "Fn::And": lambda t, a: all(t.resolve(part) for part in a),
    "Fn::Or": lambda t, a: any(t.resolve(part) for part in a),
    "Condition": lambda t, a: t.condition(str(a)),
    "Fn::Join": _join,
    "Fn::Select": _select,
    "Fn::Split": _split,
}


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def getatt_target(value: Any) -> str | None:
    """The logical ID a `Fn::GetAtt` names (`X.Arn` or `[X, Arn]`); None for anything else."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return str(target.split(".", 1)[0] if isinstance(target, str) else target[0])
    return None


def _queue_logical_id(queue: Any) -> str:
    logical_id = getatt_target(queue)
    if logical_id is None:
        raise LocalStackError(
            f"an SQS event source must name a queue of the template (GetAtt Arn), not {queue}"
        )
    return logical_id


def _check_parameter(name: str, spec: Mapping[str, Any], value: str) -> None:
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in {str(v) for v in allowed}:
        raise LocalStackError(f"parameter {name}={value!r} is not one of {', '.join(map(str, allowed))}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(str(pattern), value, flags=re.DOTALL):
        hint = spec.get("ConstraintDescription") or f"the pattern {pattern}"
        raise LocalStackError(f"parameter {name}={value!r} does not match {hint}")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise LocalStackError(f"parameter {name}={value!r} must be a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise LocalStackError(f"parameter {name}={value} is below its minimum {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise LocalStackError(f"parameter {name}={value} is above its maximum {spec['MaxValue']}")
