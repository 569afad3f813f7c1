"""What :func:`ns1nwb.open` takes (a file, a folder of per-session files, a URL) -> open :class:`NwbFile` s.

A folder must hold each recording once: two copies of one file, or the pooled file beside
the per-session files it was converted with, would give every unit twice (and doubled
counts in ``ns1nwb info``), so either is an error naming both files.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..exceptions import NwbContentError
from .files import NwbFile, as_text, open_h5

__all__ = ["is_url", "open_files", "check_distinct"]


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _sources(path: str | os.PathLike) -> list[str | os.PathLike]:
    text = str(path)
    if not is_url(text) and Path(text).is_dir():
        sources: list[str | os.PathLike] = sorted(Path(text).rglob("*.nwb"))
        if not sources:
            raise NwbContentError(f"{text}: folder has no .nwb files")
        return sources
    return [path]


def check_distinct(files: list[NwbFile]) -> None:
    """Refuse files that repeat another's recording: the same identifier, or a unit of the same session.

    Raises
    ------
    NwbContentError
        Naming both files and what they share.
    """
    by_identifier: dict[str, str] = {}
    by_unit: dict[tuple[str, str], str] = {}
    for nwb in files:
        if nwb.identifier:
            other = by_identifier.setdefault(nwb.identifier, nwb.source)
            if other != nwb.source:
                raise NwbContentError(f"{other} and {nwb.source}: the same file twice (identifier "
                                      f"{nwb.identifier}); keep one of them in the folder")
        units = nwb.h5["units"]
        if "unit_name" not in units:
            continue
        with nwb.readable():
            names = as_text(units["unit_name"][:])
        mine: set[tuple[str, str]] = set()
        for name, session in zip(names, nwb.unit_session):
            key = (str(name), str(session))
            other = by_unit.get(key)
            if other is not None and other != nwb.source:
                raise NwbContentError(
                    f"{other} and {nwb.source}: both hold unit {key[0]} of session {key[1]} (two copies of one "
                    "recording, or the pooled file beside the per-session files?); keep one of them in the folder")
            mine.add(key)
        for key in mine:
            by_unit.setdefault(key, nwb.source)


def open_files(path: str | os.PathLike) -> list[NwbFile]:
    """Open every file of ``path`` (checked, see :class:`NwbFile`); on any error close what was opened."""
    files: list[NwbFile] = []
    try:
        for source in _sources(path):
            handle, closers = open_h5(source)
            try:
                files.append(NwbFile(source, handle, closers))
            except BaseException:
                for closer in reversed(closers):
                    closer.close()
                raise
        if len(files) > 1:
            check_distinct(files)
    except BaseException:
        for nwb in files:
            nwb.close()
        raise
    return files
