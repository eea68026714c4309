"""The progress display: stderr only, a fake clock, no sleeping."""

from __future__ import annotations

import io

from fstriage_cli.progress import ERASE_LINE, Progress

# ---------------------------------------------------------------------------------------------
# The progress display (stderr only; a fake clock, no sleeping)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_a_spinner_on_a_terminal_only_after_the_delay_and_erases_it() -> None:
    now = [0.0]
    screen = FakeTerminal()
    with Progress("investigating", stream=screen, clock=lambda: now[0], background=False) as progress:
        progress.update("2 summaries")
        progress.render()
        assert screen.getvalue() == ""  # quick work shows nothing
        now[0] = 1.5
        progress.render()
        progress.render()

    frames = screen.getvalue()
    assert "investigating: 2 summaries (2s)" in frames or "investigating: 2 summaries (1s)" in frames
    assert frames.count(ERASE_LINE) == 3  # two frames drawn over each other, then erased
    assert frames.endswith(ERASE_LINE)
    assert "\n" not in frames


def test_progress_writes_occasional_plain_lines_when_not_a_terminal() -> None:
    now = [0.0]
    log = io.StringIO()
    with Progress(
        "listing segments", stream=log, clock=lambda: now[0], background=False, plain_every=5
    ) as progress:
        for moment in (0.5, 1.5, 2.0, 3.0, 7.0):
            now[0] = moment
            progress.update(f"at {moment}")
            progress.render()

    lines = log.getvalue().splitlines()
    assert lines == ["fstriage: listing segments: at 1.5 (2s)", "fstriage: listing segments: at 7.0 (7s)"]
    assert "\x1b" not in log.getvalue()
