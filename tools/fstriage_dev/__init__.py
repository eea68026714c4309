"""Developer tooling that never ships in the wheel: the generator of the `events/` samples.

Importable in the project's .venv (hatch's dev-mode-dirs put `tools/` on its path); the shipped CLI
never imports it.
"""
