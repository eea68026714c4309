"""`fstriage local`: the whole stack on one machine (never shipped to AWS).

    from fstriage_cli.local import LocalConfig, LocalStack

    with LocalStack(LocalConfig(port=0, reports_dir=tmp)) as stack:
        ...  # stack.webhook_url, stack.sandbox, stack.queue_url, stack.dlq_url, stack.wait_for_reports(1, 60)

`main(argv)` is the command line (`fstriage local`, `python -m fstriage_cli.local`). The stack needs
the `[local]` extra (moto, the Lambda runtime client, ...): it is imported on first use, so that
without the extra `main` can still say which extra to install.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from fstriage_cli.local.command import main
from fstriage_cli.local.config import LocalConfig, LocalStackError

if TYPE_CHECKING:
    from fstriage_cli.local.reports import CollectedReport
    from fstriage_cli.local.stack import LocalStack, PolledInvocation

_NEEDS_THE_EXTRA = {
    "CollectedReport": "fstriage_cli.local.reports",
    "LocalStack": "fstriage_cli.local.stack",
    "PolledInvocation": "fstriage_cli.local.stack",
}

__all__ = ["CollectedReport", "LocalConfig", "LocalStack", "LocalStackError", "PolledInvocation", "main"]


def __getattr__(name: str) -> object:
    if name in _NEEDS_THE_EXTRA:
        return getattr(importlib.import_module(_NEEDS_THE_EXTRA[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
