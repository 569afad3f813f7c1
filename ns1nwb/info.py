"""A one-screen summary of an ns1nwb file, folder of per-session files or URL (``ns1nwb info``)."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .constants import POOLED_TIMELINE
from .read.files import is_url

__all__ = ["RecordingInfo", "summarize", "unit_table"]

_NOTES_LINES = 4
_WIDTH = 100


def _text(value: Any) -> str:
    """A stored text as str; bytes that are not UTF-8 keep their readable part (the rest shows as U+FFFD)."""
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else ""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _stored_text(group: Any, path: str) -> str | None:
    """The text of the scalar (or first element) of dataset ``path``; None when it is absent or not a
    dataset of text (an optional part of the file: shown as absent, never an error)."""
    import h5py

    found = group.get(path)
    if not isinstance(found, h5py.Dataset) or found.dtype.kind not in "SOU":
        return None
    return _text(found[()])


def _attribute_text(obj: Any, name: str) -> str | None:
    """The text of attribute ``name``; None when absent or unreadable (h5py decodes text attributes itself)."""
    try:
        return _text(obj.attrs.get(name, "")) or None
    except (OSError, TypeError, ValueError):  # UnicodeDecodeError is a ValueError
        return None


def _source_script(group: Any) -> dict[str, Any]:
    """``general/source_script`` as a JSON object; {} when absent, not JSON or not an object (a list, null)."""
    try:
        script = json.loads(_stored_text(group, "general/source_script") or "{}")
    except ValueError:
        return {}
    return script if isinstance(script, dict) else {}


def _audio_rate(rec: Any) -> float | None:
    """The stored waveforms' rate; None without waveforms, NaN (unknown) when the file names a waveform but
    its rate cannot be read (a missing template, no ``rate``, not a positive number)."""
    names = rec.stimuli.get("waveform_series")
    if names is None or not any(names):
        return None
    try:
        rate = float(rec.audio_rate)
    except (KeyError, TypeError, ValueError, OSError):  # an optional part: unknown, not an internal error
        return math.nan
    return rate if math.isfinite(rate) and rate > 0 else math.nan


def _count(column: Any, test: Any) -> int | None:
    """How many rows of ``column`` pass ``test``; None (unknown) without the column."""
    return None if column is None else int(np.count_nonzero(test(column)))


def _start_key(text: str) -> Any:
    try:
        value = _dt.datetime.fromisoformat(text)
        return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return _dt.datetime.max.replace(tzinfo=_dt.timezone.utc)


def _clip(line: str) -> str:
    return line if len(line) <= _WIDTH else line[: _WIDTH - 4].rstrip() + " ..."


@dataclass
class RecordingInfo:
    """What :func:`summarize` found; :meth:`report` prints it in one screen."""

    source: str
    n_files: int
    file_size_bytes: int | None
    n_units: int
    n_good_units: int
    n_blocks: int
    subjects: list[str]
    n_trials: int
    n_stimuli: int
    #: None: unknown (the stimuli table lacks the column it is counted from).
    n_natural: int | None
    n_with_waveform: int | None
    n_with_spectrogram: int | None
    #: None: no stored waveform; NaN: waveforms whose rate cannot be read.
    audio_rate_hz: float | None
    n_spikes: int
    session_starts: list[str]
    clock: str | None
    software: str | None
    nwb_version: str | None
    notes: str
    inspection: Any = None  # ns1nwb.dandi.InspectionSummary, or None when not run
    inspection_note: str = ""
    #: Units named by MetadataSHEnCneurons.mat (column ``in_metadata``); None when the file has no such column.
    n_metadata_units: int | None = None
    #: Units whose ``in_metadata`` is unknown (missing: a file of the folder written without the column).
    n_metadata_unknown: int = 0
    #: Units per ``cluster_quality`` code (-1: the folder has no clusterquality.mat); None without the column.
    quality_counts: dict[int, int] | None = None
    #: Units whose ``cluster_quality`` is unknown (missing: a file of the folder written without the column).
    n_quality_unknown: int = 0

    def _cluster_lines(self) -> list[str]:
        """Metadata units vs the other clusters, and units per quality code (all-clusters files); then the units
        whose values are unknown (files of a folder written without the columns)."""
        parts = []
        if self.n_metadata_units is not None:
            others = self.n_units - self.n_metadata_units - self.n_metadata_unknown
            parts.append(f"{self.n_metadata_units} in the metadata, {others} other cluster{'s' * (others != 1)}")
        if self.quality_counts is not None:
            codes = ", ".join(f"{'none' if code < 0 else code}: {count}"
                              for code, count in sorted(self.quality_counts.items(), key=lambda kv: (kv[0] < 0, kv[0])))
            parts.append(f"cluster_quality {codes or '-'}")
        lines = [_clip(f"  clusters         {'; '.join(parts)}")] if parts else []
        unknown = [f"{n} unit{'s' * (n != 1)} without {column}" for n, column in
                   ((self.n_metadata_unknown, "in_metadata"), (self.n_quality_unknown, "cluster_quality")) if n]
        if unknown:
            lines.append(_clip(f"  {'':<16} unknown: {', '.join(unknown)}"))
        return lines

    def _clock_text(self) -> str:
        """What the time axis of the file(s) is: a pooled file of several blocks has no real clock."""
        if self.clock == "wall-clock":
            if self.n_files == 1 and self.n_blocks > 1:
                return f"{POOLED_TIMELINE} ({self.n_blocks} blocks end to end; true times: trials.onset_wall_clock)"
            return "wall clock (true times" + (", each file its own block)" if self.n_files > 1 else ")")
        if self.clock == "synthetic":
            return "SYNTHETIC (the raw files carry no timestamps; only times within a trial are real)"
        return self.clock or "not recorded"

    def _stimuli_text(self) -> str:
        """How many stimuli of each kind, with waveform (at which rate) and with spectrogram; 'unknown' for
        what the file does not say."""
        n = self.n_stimuli
        kinds = "types unknown" if self.n_natural is None else f"{self.n_natural} natural, {n - self.n_natural} DRC"
        if self.n_with_waveform is None:
            waveforms = "waveforms unknown"
        else:
            rate = self.audio_rate_hz
            at = "" if rate is None else " at an unknown rate" if math.isnan(rate) else f" at {rate:.10g} Hz"
            waveforms = f"{self.n_with_waveform} with waveform{at}, {n - self.n_with_waveform} without"
        spectrograms = ("spectrograms unknown" if self.n_with_spectrogram is None
                        else f"{self.n_with_spectrogram} with spectrogram")
        return f"{n} ({kinds}); {waveforms}; {spectrograms}"

    def report(self) -> str:
        """The summary as text, about 20 lines."""
        if is_url(self.source):
            kind = "remote file"
        elif Path(self.source).is_dir():
            kind = f"folder of {self.n_files} per-session file(s)"
        else:
            kind = "file"
        size = "size unknown (remote)" if self.file_size_bytes is None else f"{self.file_size_bytes / 1e6:,.1f} MB"
        starts = sorted(set(self.session_starts), key=_start_key)
        start = starts[0] if len(starts) == 1 else f"{starts[0]} .. {starts[-1]} ({len(starts)} sessions)"
        lines = [
            f"{self.source}  ({kind}, {size}, NWB {self.nwb_version or '?'}, {self.software or 'unknown software'})",
            f"  units            {self.n_units} ({self.n_good_units} good: single unit Yes/Maybe at depth >= 0)",
            *self._cluster_lines(),
            f"  recording blocks {self.n_blocks}",
            f"  subjects         {len(self.subjects)} ({', '.join(self.subjects)})",
            f"  trials           {self.n_trials:,} presentations",
            f"  stimuli          {self._stimuli_text()}",
            f"  spikes           {self.n_spikes:,}",
            f"  session start    {start}",
            f"  clock            {self._clock_text()}",
        ]
        notes_text = " ".join(self.notes.split())
        if self.n_files > 1 and notes_text:
            notes_text = f"(first file) {notes_text}"
        notes = textwrap.wrap(notes_text, _WIDTH - 19)
        if len(notes) > _NOTES_LINES:
            notes = notes[:_NOTES_LINES]
            notes[-1] = notes[-1][: _WIDTH - 23] + " ..."
        for i, line in enumerate(notes or ["(none)"]):
            lines.append(f"  {'notes' if i == 0 else '':<16} {line}")
        if self.inspection is not None:
            inspection = self.inspection.report(3).splitlines()
            lines.append(f"  inspector        {inspection[0]}")
            lines += [_clip(f"  {'':<16} {line.strip()}") for line in inspection[1:]]
        else:
            lines.append(f"  inspector        {self.inspection_note}")
        return "\n".join(lines)


def _quality_counts(codes: Any) -> tuple[dict[int, int], int]:
    """(units per quality code, a negative sentinel counted as -1; units whose code is missing: NaN, from a
    file of a folder written without the column)."""
    values = np.asarray(codes, dtype=np.float64)
    known = values[np.isfinite(values)]
    found, counts = np.unique(np.where(known >= 0, known, -1).astype(np.int64), return_counts=True)
    return {int(code): int(count) for code, count in zip(found, counts)}, int(values.size - known.size)


def _in_metadata_counts(column: Any) -> tuple[int, int]:
    """(units named by the metadata, units with no value: a file without the column). A missing value is
    unknown, not True."""
    return int(column.eq(True).sum()), int(column.isna().sum())


def _subjects(column: Any) -> list[str]:
    """The subject ids; a unit without one (a file without the column) adds 'unknown'."""
    return sorted({str(s) for s in column.dropna()} | ({"unknown"} if column.isna().any() else set()))


#: The columns ``ns1nwb info --units`` lists, those the file has, in this order.
UNIT_TABLE_COLUMNS = ("unit_name", "subject_id", "session_id", "single_unit_label", "is_good", "cluster_quality",
                      "n_spikes")


def unit_table(path: str | os.PathLike) -> str:
    """Every unit of ``path`` (anything :func:`ns1nwb.open` takes), one line each: its index (what
    ``response_grid(units=...)`` and ``ns1nwb plot --unit`` take), name, subject, session and quality."""
    import pandas as pd

    from .read import open as open_recording

    with open_recording(path) as rec:
        units = rec.units
        table = units[[column for column in UNIT_TABLE_COLUMNS if column in units]]
    table.index.name = "index"
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 1000,
                           "display.max_colwidth", 200):
        return table.to_string()


def summarize(path: str | os.PathLike, *, inspect: bool | None = None, progress: bool = False) -> RecordingInfo:
    """Summarise a pooled ns1nwb file, a folder of per-session files or an http(s) URL.

    Parameters
    ----------
    path : str or os.PathLike
        Anything :func:`ns1nwb.open` takes.
    inspect : bool, optional
        Also run the NWB Inspector (DANDI configuration, :func:`ns1nwb.dandi.inspect_path`)
        on local files, about 2 s a file. None (default): on a single file, not on a folder
        (the release's 15 session files would take half a minute).
    progress : bool, default False
        Show a progress bar (stderr) while the Inspector reads several files.

    Returns
    -------
    RecordingInfo
    """
    from .read import open as open_recording

    text = str(path)
    with open_recording(path) as rec:
        units, stimuli = rec.units, rec.stimuli
        files = rec.files
        n_trials = sum(int(nwb.h5["intervals/trials/start_time"].shape[0]) for nwb in files)
        starts = [_stored_text(nwb.h5, "session_start_time") or "?" for nwb in files]
        first = files[0].h5
        script = _source_script(first)
        sources = [nwb.source for nwb in files]
        metadata_counts = _in_metadata_counts(units["in_metadata"]) if "in_metadata" in units else (None, 0)
        quality = _quality_counts(units["cluster_quality"]) if "cluster_quality" in units else (None, 0)
        info = RecordingInfo(
            source=text,
            n_files=len(files),
            file_size_bytes=None if is_url(text) else sum(Path(s).stat().st_size for s in sources),
            n_units=len(units),
            n_good_units=int(units["is_good"].eq(True).sum()) if "is_good" in units else 0,  # NaN is not good
            n_blocks=int(units["session_id"].nunique()) if "session_id" in units else len(files),
            subjects=_subjects(units["subject_id"]) if "subject_id" in units else [],
            n_trials=n_trials,
            n_stimuli=len(stimuli),
            n_natural=_count(stimuli.get("stimulus_type"), lambda c: c == "natural"),
            n_with_waveform=_count(stimuli.get("has_waveform"), lambda c: np.asarray(c, dtype=bool)),
            n_with_spectrogram=_count(stimuli.get("spectrogram_series"), lambda c: c.astype(str) != ""),
            audio_rate_hz=_audio_rate(rec),
            n_spikes=int(units["n_spikes"].sum()),
            session_starts=starts,
            clock=str(script["clock"]) if isinstance(script.get("clock"), str) else None,
            software=" ".join(str(script[k]) for k in ("software", "version") if k in script) or None,
            nwb_version=_attribute_text(first, "nwb_version"),
            notes=_stored_text(first, "general/notes") or "",
            n_metadata_units=metadata_counts[0],
            n_metadata_unknown=metadata_counts[1],
            quality_counts=quality[0],
            n_quality_unknown=quality[1],
        )
    if is_url(text):
        info.inspection_note = "not run on a URL (download the file and run `ns1nwb inspect FILE`)"
    elif inspect is None and info.n_files > 1:
        info.inspection_note = (f"not run on a folder ({info.n_files} files, about 2 s each): add --inspect, or run "
                                "`ns1nwb inspect FOLDER`")
    elif inspect is False:
        info.inspection_note = "not run (--no-inspect)"
    else:
        from .dandi import inspect_path

        info.inspection = inspect_path(path, progress=progress)
    return info
