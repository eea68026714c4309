"""A local Fullstory Server API for tests, benchmarks and the local stack (never deployed to AWS)."""

from fstriage_cli.sandbox.anchors import Anchors, AnchorSegment, AnchorSession, AnchorUser
from fstriage_cli.sandbox.faults import Faults, FaultSettings
from fstriage_cli.sandbox.generator import generate
from fstriage_cli.sandbox.model import SandboxData, SandboxSession, SandboxUser
from fstriage_cli.sandbox.protocol import RecordedRequest
from fstriage_cli.sandbox.server import FullstorySandbox
from fstriage_cli.sandbox.write_back import WrittenEvent

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
