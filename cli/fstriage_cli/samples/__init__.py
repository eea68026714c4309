"""Sample material shared by the CLI, the tests, the `events/` generator and the benchmarks.

- `values`: the published test values (org, signing secret, stream token, addresses, stand-in
  resources, the fixed signing time);
- `payloads`: Fullstory webhook payloads and the signed requests that carry them;
- `fakes`: in-memory fakes of the core's ports and of Lambda's context object;
- `sample_events_dir()`: where the `events/` samples are.

Importing this package imports only the standard library: each submodule pulls in what it needs.
"""

from __future__ import annotations

from pathlib import Path


def sample_events_dir() -> Path:
    """The `events/` samples: the package's data copy in an installed wheel, else the checkout's folder."""
    bundled = Path(__file__).resolve().parent / "events"
    if bundled.is_dir():
        return bundled
    checkout = Path(__file__).resolve().parents[3] / "events"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"the event samples are missing: neither {bundled} (an installed package) nor {checkout} "
        "(a checkout) exists; install fstriage's wheel again (built by `make dist`), or run from a checkout"
    )
