"""A local Fullstory Server API for tests and the local stack (dev tooling; never shipped to AWS)."""

from fstriage_cli.sandbox.data import (
    Anchors,
    AnchorSegment,
    AnchorSession,
    AnchorUser,
    SandboxData,
    SandboxSession,
    SandboxUser,
    generate,
)
from fstriage_cli.sandbox.faults import Faults, FaultSettings
from fstriage_cli.sandbox.server import FullstorySandbox, RecordedRequest, WrittenEvent

__all__ = [
    "AnchorSegment",
    "AnchorSession",
    "AnchorUser",
    "Anchors",
    "FaultSettings",
    "Faults",
    "FullstorySandbox",
    "RecordedRequest",
    "SandboxData",
    "SandboxSession",
    "SandboxUser",
    "WrittenEvent",
    "generate",
]
