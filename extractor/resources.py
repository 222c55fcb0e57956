"""Files shipped with the package (example letters, prompts), found the same way from a wheel or a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def examples_dir() -> Path:
    """The bundled example letters."""
    return _PACKAGE / "examples"


def prompts_dir() -> Path:
    """Prompt templates: inside the package in a wheel (pyproject force-includes ``prompts/``),
    beside it in a source checkout."""
    packaged = _PACKAGE / "prompts"
    return packaged if packaged.is_dir() else _PACKAGE.parent / "prompts"
