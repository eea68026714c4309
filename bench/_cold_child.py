"""One cold start, run as a script in a fresh interpreter by `bench.webhook_cold`.

    python bench/_cold_child.py VARIANT [EVENT_FILE] [--audit]

Before the clock starts it has imported only what the interpreter itself loads plus
`importlib.util` (the Lambda runtime's loader has that too). It prints one line,
`BENCH_RESULT {json}`, with the times in milliseconds. `--audit` adds an audit hook that records
every socket / HTTP / SSL event, to show that nothing touches the network; it is never timed.
"""

import importlib.util
import sys
import time
from types import ModuleType  # loaded by importlib.util anyway: nothing extra before the clock

_NETWORK_PREFIXES = ("socket.", "http.client.", "ssl.", "urllib.Request", "ftplib.", "smtplib.")
network_events: list[str] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event.startswith(_NETWORK_PREFIXES):
        # Arguments (e.g. the address of a bind or connect), without the socket object itself.
        detail = ", ".join(repr(arg) for arg in args if not repr(arg).startswith("<socket.socket"))
        entry = f"{event}({detail})"
        if entry not in network_events:
            network_events.append(entry)


def _load_handler(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("app", path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    variant, event_file = args[0], (args[1] if len(args) > 1 else "")
    repo_root = sys.argv[0].rsplit("/", 2)[0]  # the parent runs <repo>/bench/_cold_child.py
    handler_path = repo_root + "/functions/webhook/app.py"
    event_bytes = b""
    if event_file:
        with open(event_file, "rb") as stream:
            event_bytes = stream.read()
    if "--audit" in sys.argv:
        sys.addaudithook(_audit)
    result: dict[str, object] = {"variant": variant}

    started = time.perf_counter()
    if variant == "floor":
        import boto3  # noqa: PLC0415

        boto3.client("sqs")
        result["ms"] = (time.perf_counter() - started) * 1000
    elif variant == "import":
        _load_handler(handler_path)
        result["ms"] = (time.perf_counter() - started) * 1000
    elif variant == "import+clients":
        # What the first real request adds before its first network call: the cached clients.
        _load_handler(handler_path)
        from fstriage.adapters import aws  # noqa: PLC0415

        for service in ("secretsmanager", "dynamodb", "sqs"):
            aws.client(service)
        result["ms"] = (time.perf_counter() - started) * 1000
    elif variant == "first-request":
        module = _load_handler(handler_path)
        imported = time.perf_counter()
        # Bench scaffolding (the event, the in-process AWS answers) is timed apart and left out.
        sys.path.insert(0, repo_root)
        import json  # noqa: PLC0415

        from bench._fixture import InProcessAws, lambda_context  # noqa: PLC0415

        in_process = InProcessAws()
        event = json.loads(event_bytes)
        context = lambda_context(1)
        ready = time.perf_counter()
        # The first delivery creates the app's real boto3 clients and makes its real calls, answered
        # at botocore's before-send hook: everything but the network.
        in_process.prime()
        response = module.handler(event, context)
        answered = time.perf_counter()
        result["status"] = response["statusCode"]
        result["aws_operations"] = list(in_process.operations)
        result["import_ms"] = (imported - started) * 1000
        result["request_ms"] = (answered - ready) * 1000
        result["ms"] = (imported - started + answered - ready) * 1000
    else:
        raise SystemExit(f"unknown variant {variant!r}")
    if "--audit" in sys.argv:
        result["network_events"] = list(network_events)
    result["modules"] = len(sys.modules)
    sys.stdout.flush()
    import json  # noqa: PLC0415

    print("BENCH_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
