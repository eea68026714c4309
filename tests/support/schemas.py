"""The report schema the tests validate reports against, read once from the layer's package."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

REPORT_SCHEMA: dict[str, Any] = json.loads(
    resources.files("fstriage").joinpath("schemas/report.schema.json").read_text()
)
