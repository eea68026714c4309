"""`fstriage reports`: list, show and open investigation reports (the store API is in `.store`)."""

from __future__ import annotations

from fstriage_cli.reports.command import main

__all__ = ["main"]
