"""`fstriage`'s entry point: the top-level parser, the commands other modules own, and the exit codes.

    fstriage local ...            run the whole stack on this machine (fstriage_cli.local)
    fstriage demo ...             the guided demo (fstriage_cli.demo)
    fstriage reports ...          list, show and open investigation reports (fstriage_cli.reports)
    fstriage mcp                  fstriage's tools for AI agents over MCP stdio (fstriage_cli.mcp_server)
    fstriage sign / send          sign a payload; POST it signed, like Fullstory's "Test Endpoint"
    fstriage test-connection      what the API key can do
    fstriage sessions / segments / summary / events
    fstriage explain              what the digest made of one session's events (when a report looks thin)
    fstriage investigate          the investigator Lambda's own Investigation, from a terminal

Each command group's options and handler live in `cli_webhook`, `cli_api` and `cli_investigate`.
Data goes to stdout (human text, or JSON with `--json`); progress and notes go to stderr.
Exit codes: 0 ok, 1 a failure on Fullstory's (or the endpoint's, or AWS's) side, 2 a usage error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any, Final

from fstriage.core.errors import FstriageError
from fstriage_cli import cli_api, cli_investigate, cli_shared, cli_webhook, package_version, wording
from fstriage_cli.cli_shared import DESCRIPTION_WIDTH, PROG, Context, Handler, fail
from fstriage_cli.wording import EXIT_BROKEN_PIPE, EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError, silence_stdout

# Commands another module owns: everything after the name goes to its own parser (`-h` included).
DELEGATED: Final[Mapping[str, tuple[str, str]]] = {
    "local": ("fstriage_cli.local", "run the whole stack on this machine (see `fstriage local --help`)"),
    "demo": ("fstriage_cli.demo", "the guided demo on the local stack (see `fstriage demo --help`)"),
    "reports": (
        "fstriage_cli.reports",
        "list, show and open investigation reports (see `fstriage reports --help`)",
    ),
    "mcp": (
        "fstriage_cli.mcp_server",
        "serve fstriage's tools to AI agents over MCP stdio (see `fstriage mcp --help`)",
    ),
}

# The delegated commands whose third-party packages come with the `[local]` extra, not the base install.
LOCAL_EXTRA_COMMANDS: Final = frozenset({"local", "demo"})


def main(argv: Sequence[str] | None = None, *, env: Mapping[str, str] | None = None) -> int:
    """Run one command; returns the exit code (the console script passes it to `sys.exit`)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    context = Context(env=os.environ if env is None else env)
    if args_list and args_list[0] in DELEGATED:
        return _delegate(args_list[0], args_list[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as stop:  # --help, --version (0) or a usage error (2): argparse already printed
        return _exit_code(stop.code)
    handler: Handler = args.handler
    try:
        code = handler(args, context)
        sys.stdout.flush()  # a closed pipe shows up here, not in the interpreter's final flush
        return code
    except CliError as error:
        fail(error.message)
        return error.exit_code
    except FstriageError as error:
        fail(wording.explain(error, context.key_source))
        return wording.exit_code_for(error)
    except KeyboardInterrupt:
        fail("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`fstriage events ... | head`): stop quietly, like other CLI tools.
        silence_stdout()
        return EXIT_BROKEN_PIPE


class _VersionAction(argparse.Action):
    """`--version`: looks the version up only when asked, so other commands never pay for it."""

    def __init__(
        self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, help: str | None = None
    ) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(f"{PROG} {package_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=textwrap.fill(
            "fstriage: turn Fullstory alerts into evidence reports. Tools for the local stack, "
            "for webhook signatures, and for a real Fullstory org.",
            DESCRIPTION_WIDTH,
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"""\
examples:
  {PROG} local --help
  {PROG} sign --org-id o-TEST-na1 payload.json
  {PROG} send https://abc.lambda-url.us-east-1.on.aws/ events/webhook-test.json --org-id o-TEST-na1
  FULLSTORY_API_KEY=na1.... {PROG} test-connection
  {PROG} investigate --session 'https://app.fullstory.com/ui/o-ABC-na1/session/123:456'
  {PROG} reports list --status failed
  {PROG} mcp                  # run by an MCP client (see `{PROG} mcp --help`)

Data goes to stdout (add --json for machines); progress and notes go to stderr.
exit codes: 0 ok; 1 a failure on Fullstory's side (or the endpoint's, or AWS's); 2 a usage error,
a missing key or secret, or an unreadable session ID.""",
    )
    parser.add_argument("--version", action=_VersionAction, help="print fstriage's version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    commands.required = True

    for name, (_, summary) in DELEGATED.items():
        delegated = commands.add_parser(name, help=summary, add_help=False)
        delegated.add_argument("rest", nargs=argparse.REMAINDER)
        delegated.set_defaults(handler=_delegated_handler(name))

    json_option = argparse.ArgumentParser(add_help=False)
    json_option.add_argument("--json", action="store_true", help="print JSON instead of text")
    api = cli_shared.api_options()
    cli_webhook.add_commands(commands, cli_shared.signing_options(), json_option)
    cli_api.add_commands(commands, api, json_option)
    cli_investigate.add_command(commands, api, json_option)
    return parser


def _delegated_handler(name: str) -> Handler:
    def handler(args: argparse.Namespace, _context: Context) -> int:
        return _delegate(name, args.rest)

    return handler


def _delegate(name: str, rest: Sequence[str]) -> int:
    module_name = DELEGATED[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing == module_name or module_name.startswith(missing + "."):
            fail(f"`{PROG} {name}` is not available in this checkout: the module {module_name} is missing")
        else:
            fail(f"`{PROG} {name}` needs the package {missing!r}, {_install_hint(name)}")
        return EXIT_USAGE
    entry = getattr(module, "main", None)
    if not callable(entry):
        fail(f"{module_name} has no main(argv) to run")
        return EXIT_USAGE
    try:
        result = entry(list(rest))
    except SystemExit as stop:
        return _exit_code(stop.code)
    return result if isinstance(result, int) else EXIT_OK


def _install_hint(name: str) -> str:
    """How to get a delegated command's missing package: the `[local]` extra, or a complete install, both
    from fstriage's wheel (never the name from an index)."""
    from fstriage_cli.local.extra import install_hint  # noqa: PLC0415 -- only on this rare path

    if name in LOCAL_EXTRA_COMMANDS:
        return f"which comes with the local extra: {install_hint(local_extra=True)}"
    return f"which is not installed: {install_hint(local_extra=False)}"


def _exit_code(code: object) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
