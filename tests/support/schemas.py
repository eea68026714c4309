"""The JSON Schemas the tests validate against (reports, queued investigation requests, re-published
events), each read once from the layer's package."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(resources.files("fstriage").joinpath(f"schemas/{name}").read_text())
    return loaded


REPORT_SCHEMA = _schema("report.schema.json")
REQUEST_SCHEMA = _schema("investigation-request.schema.json")
REPUBLISHED_EVENT_SCHEMA = _schema("republished-event.schema.json")
