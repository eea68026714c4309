"""`fstriage local`: the whole stack on one machine (dev tooling; never shipped to AWS).

    from fstriage_cli.local import LocalConfig, LocalStack

    with LocalStack(LocalConfig(port=0, reports_dir=tmp)) as stack:
        ...  # stack.webhook_url, stack.sandbox, stack.queue_url, stack.dlq_url, stack.wait_for_reports(1, 60)

`main(argv)` is the command line (`fstriage local`, `python -m fstriage_cli.local`).
"""

from fstriage_cli.local.command import main
from fstriage_cli.local.config import LocalConfig, LocalStackError
from fstriage_cli.local.reports import CollectedReport
from fstriage_cli.local.stack import LocalStack, PolledInvocation

__all__ = ["CollectedReport", "LocalConfig", "LocalStack", "LocalStackError", "PolledInvocation", "main"]
