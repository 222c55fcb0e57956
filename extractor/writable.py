"""Checks that an output can be written, made before the work starts: a report or a site that cannot
be written is refused at once with one line, not after the whole eval or build has run."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigurationError


def check_output_file(path: Path, what: str = "output") -> None:
    """``path`` can be written as a file: not a folder, in a folder that exists and can be written."""
    if path.is_dir():
        raise ConfigurationError(f"{path}: a folder; the {what} is a file: give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigurationError(f"{path}: cannot be written (the {what} would replace it)")
    folder = path.parent
    if not folder.is_dir():
        raise ConfigurationError(f"{path}: the folder {folder} does not exist" if not folder.exists()
                                 else f"{path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigurationError(f"{path}: the folder {folder} cannot be written")


def check_output_folder(path: Path, what: str = "output") -> None:
    """``path`` is a folder that can be written, or can be made (its nearest existing parent can be written)."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "" if existing == path else f" {existing} is"
        raise ConfigurationError(f"{path}:{where} not a folder: the {what} needs a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigurationError(f"{path}: the folder {existing} cannot be written")
