"""Which store `fstriage reports` reads: --reports-dir, --bucket, $FSTRIAGE_REPORTS_BUCKET or --stack."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from fstriage_cli.reports.directory import DirectoryReportStore
from fstriage_cli.reports.s3 import BucketReportStore, client_error_code
from fstriage_cli.reports.store import ReportStore
from fstriage_cli.wording import EXIT_FAILED, CliError

BUCKET_ENV: Final = "FSTRIAGE_REPORTS_BUCKET"
BUCKET_OUTPUT: Final = "ReportsBucketName"  # the template's output naming the bucket

NO_SOURCE: Final = (
    "no reports to read: pass --bucket NAME (the stack's ReportsBucketName output), set "
    f"{BUCKET_ENV}, pass --stack NAME, or --reports-dir DIR for the reports `fstriage local` collected"
)


def store_for(args: argparse.Namespace, env: Mapping[str, str], *, cloudformation: Any = None) -> ReportStore:
    """The store the options name; a CliError (exit 2) when they name none, or more than one."""
    named = [
        option
        for option, value in (
            ("--reports-dir", args.reports_dir),
            ("--bucket", args.bucket),
            ("--stack", args.stack),
        )
        if value
    ]
    if len(named) > 1:
        raise CliError(f"{' and '.join(named)} both name where the reports are: pass one")
    if args.reports_dir:
        return DirectoryReportStore(args.reports_dir)
    bucket = args.bucket or (stack_bucket(args.stack, cloudformation) if args.stack else env.get(BUCKET_ENV))
    if not bucket:
        raise CliError(NO_SOURCE)
    return BucketReportStore(bucket, args.prefix)


def stack_bucket(stack: str, client: Any = None) -> str:
    """The reports bucket of a deployed stack, from its ReportsBucketName output (one DescribeStacks)."""
    try:
        if client is None:
            import boto3  # noqa: PLC0415 (only --stack needs CloudFormation)

            client = boto3.client("cloudformation")
        answer = client.describe_stacks(StackName=stack)
    except NoCredentialsError:
        raise CliError(
            "no AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID) to read the stack"
        ) from None
    except ClientError as error:
        code = client_error_code(error)
        message = str(error.response.get("Error", {}).get("Message") or error)
        if code == "ValidationError" and "does not exist" in message:
            raise CliError(
                f"no stack {stack!r} in this account and region: check --stack and AWS_REGION"
            ) from None
        raise CliError(
            f"could not read the stack {stack!r}: {code or error} ({message})", EXIT_FAILED
        ) from None
    except BotoCoreError as error:
        raise CliError(f"could not read the stack {stack!r}: {error}", EXIT_FAILED) from None
    for found in answer.get("Stacks") or []:
        for output in found.get("Outputs") or []:
            if output.get("OutputKey") == BUCKET_OUTPUT and output.get("OutputValue"):
                return str(output["OutputValue"])
    raise CliError(f"the stack {stack!r} has no {BUCKET_OUTPUT} output: pass --bucket NAME instead")
