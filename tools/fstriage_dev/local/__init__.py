"""`fstriage local`: the whole stack on one machine (dev tooling; never shipped to AWS).

    from fstriage_dev.local import LocalConfig, LocalStack

    with LocalStack(LocalConfig(port=0, reports_dir=tmp)) as stack:
        ...  # stack.webhook_url, stack.sandbox, stack.queue_url, stack.dlq_url, stack.wait_for_reports(1, 60)

`main(argv)` is the command line (`fstriage local`, `python -m fstriage_dev.local`).
"""

from fstriage_dev.local.command import main
from fstriage_dev.local.config import LocalConfig, LocalStackError
from fstriage_dev.local.reports import CollectedReport
from fstriage_dev.local.stack import LocalStack, PolledInvocation

__all__ = ["CollectedReport", "LocalConfig", "LocalStack", "LocalStackError", "PolledInvocation", "main"]
