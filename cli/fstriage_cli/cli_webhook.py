"""`fstriage sign` and `fstriage send`: their options and handlers (the signing is in `webhook_send`)."""

from __future__ import annotations

import argparse
from typing import Any

from fstriage.core.signature import HEADER_NAME, sign
from fstriage_cli import cli_shared as shared
from fstriage_cli import webhook_send
from fstriage_cli.cli_shared import PROG, Context
from fstriage_cli.wording import EXIT_FAILED, EXIT_OK


def add_commands(
    commands: Any, signing: argparse.ArgumentParser, json_option: argparse.ArgumentParser
) -> None:
    """Add `sign` and `send` to the top-level parser's subcommands."""
    _add_sign(commands, signing, json_option)
    _add_send(commands, signing, json_option)


def _add_sign(commands: Any, signing: argparse.ArgumentParser, json_option: argparse.ArgumentParser) -> None:
    parser = shared.command(
        commands,
        "sign",
        help="print the Fullstory-Signature header value for a file",
        description="Print the Fullstory-Signature header value (o:ORG,t:TIMESTAMP,v:HMAC) for FILE's exact "
        "bytes, as Fullstory would sign it. The bytes are never re-serialised.",
        epilog=f"""\
examples:
  export {webhook_send.SIGNING_SECRET_ENV}=...      # keeps the secret out of shell history
  {PROG} sign --org-id o-TEST-na1 payload.json
  {PROG} sign --org-id o-TEST-na1 --timestamp 1793491200 payload.json
  curl -H "$({PROG} sign --org-id o-TEST-na1 --header payload.json)" --data-binary @payload.json URL
  cat payload.json | {PROG} sign --org-id o-TEST-na1 -""",
        parents=[signing, json_option],
    )
    parser.add_argument("file", metavar="FILE", help="the payload to sign ('-' reads stdin)")
    parser.add_argument(
        "--timestamp",
        metavar="T",
        type=shared.epoch_timestamp,
        help="the signing time in epoch seconds (or milliseconds); default: now",
    )
    parser.add_argument(
        "--header", action="store_true", help=f"print '{HEADER_NAME}: VALUE', ready for curl -H"
    )
    parser.set_defaults(handler=_sign)


def _add_send(commands: Any, signing: argparse.ArgumentParser, json_option: argparse.ArgumentParser) -> None:
    parser = shared.command(
        commands,
        "send",
        help="POST a signed payload to a webhook URL (like Fullstory's Test Endpoint button)",
        description="Sign FILE now and POST it to URL with Content-Type: application/json and a "
        "Fullstory-Signature header; print the answer's status and body. If FILE is a function URL event "
        "(events/*.json: it has requestContext/isBase64Encoded), its decoded body is sent, re-signed.",
        epilog=f"""\
examples:
  export {webhook_send.SIGNING_SECRET_ENV}=...
  {PROG} send https://abc.lambda-url.us-east-1.on.aws/ payload.json --org-id o-ABC-na1
  {PROG} send http://127.0.0.1:9000/ events/webhook-test.json --org-id o-TEST-na1

exit codes: 0 for a 2xx answer; 1 for any other answer or no answer; 2 a usage error.""",
        parents=[signing, json_option],
    )
    parser.add_argument("url", metavar="URL", help="the webhook endpoint (e.g. the stack's function URL)")
    parser.add_argument("file", metavar="FILE", help="the payload, or a function URL event ('-' reads stdin)")
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=shared.positive_float,
        default=10.0,
        help="give up after this (default: 10)",
    )
    parser.set_defaults(handler=_send)


def _sign(args: argparse.Namespace, context: Context) -> int:
    secret, org_id = shared.signing(args, context)
    body = shared.read_file(args.file)
    value = sign(secret, body, org_id, args.timestamp)
    if args.json:
        timestamp = value.split(",t:", 1)[1].split(",", 1)[0]
        shared.print_json(
            {
                "header": HEADER_NAME,
                "value": value,
                "org_id": org_id,
                "timestamp": timestamp,
                "bytes": len(body),
            }
        )
    elif args.header:
        print(f"{HEADER_NAME}: {value}")
    else:
        print(value)
    return EXIT_OK


def _send(args: argparse.Namespace, context: Context) -> int:
    secret, org_id = shared.signing(args, context)
    body, note = webhook_send.webhook_body(shared.read_file(args.file))
    if note:
        shared.note(note)
    result = webhook_send.send_signed(args.url, body, secret=secret, org_id=org_id, timeout=args.timeout)
    if args.json:
        shared.print_json(result.to_dict())
    else:
        print(f"HTTP {result.status} {result.reason}".rstrip())
        if result.body:
            print(result.body.rstrip("\n"))
    return EXIT_OK if result.ok else EXIT_FAILED
