"""Generate `events/`: function URL and SQS events for `sam local invoke -e`, signed with the test secret.

    python -m fstriage_dev.events            # rewrite events/
    python -m fstriage_dev.events --check    # exit 1 if events/ differs from what would be written

The output is deterministic: every webhook is signed at the fixed time `SIGNED_AT`, so the files only
change when the catalogue, the samples (`fstriage_cli.samples`) or the library's signer, event builder
or intake change. The secret, stream token and org are published test values: never use them in a
deployment.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fstriage_cli.samples.values import FME_FUNCTION, INVESTIGATOR_FUNCTION, WEBHOOK_FUNCTION
from fstriage_dev.events_catalogue import examples
from fstriage_dev.events_messages import FME_ENV, INVESTIGATOR_ENV, WEBHOOK_ENV
from fstriage_dev.events_readme import readme

# The checkout's events/ (the wheel ships a copy as package data; this writes the source).
EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


def dump_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def render() -> dict[str, str]:
    """Every file of events/, by name."""
    found = examples()
    files = {example.file: dump_json(example.event) for example in found}
    files["manifest.json"] = dump_json({example.file: example.manifest_entry() for example in found})
    files["env.json"] = dump_json(
        {WEBHOOK_FUNCTION: WEBHOOK_ENV, INVESTIGATOR_FUNCTION: INVESTIGATOR_ENV, FME_FUNCTION: FME_ENV}
    )
    files["README.md"] = readme(found)
    return files


def differences(directory: Path, files: dict[str, str]) -> list[str]:
    """Files that are missing, differ, or should not be there."""
    problems = [
        f"{'missing' if not (directory / name).exists() else 'differs'}: {name}"
        for name, text in sorted(files.items())
        if not (directory / name).exists() or (directory / name).read_text(encoding="utf-8") != text
    ]
    if directory.is_dir():
        problems += [
            f"not generated: {path.name}"
            for path in sorted(directory.iterdir())
            if path.is_file() and path.name not in files
        ]
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fstriage_dev.events", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ; write nothing")
    parser.add_argument("--dir", type=Path, default=EVENTS_DIR, help=f"output folder (default {EVENTS_DIR})")
    args = parser.parse_args(argv)
    files = render()
    directory: Path = args.dir
    if args.check:
        problems = differences(directory, files)
        for problem in problems:
            print(f"events drift: {problem}", file=sys.stderr)
        if problems:
            print("run: python -m fstriage_dev.events", file=sys.stderr)
            return 1
        print(f"{directory}: {len(files)} files up to date")
        return 0
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8", newline="\n")
    for problem in differences(directory, files):
        print(f"warning: {problem} (delete it if it is stale)", file=sys.stderr)
    print(f"wrote {len(files)} files to {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
