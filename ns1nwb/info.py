"""A one-screen summary of an ns1nwb file, folder of per-session files or URL (``ns1nwb info``)."""

from __future__ import annotations

import datetime as _dt
import json
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .constants import POOLED_TIMELINE
from .read.files import is_url

__all__ = ["RecordingInfo", "summarize"]

_NOTES_LINES = 4
_WIDTH = 100


def _text(value: Any) -> str:
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else ""
    return value.decode() if isinstance(value, bytes) else str(value)


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
    n_natural: int
    n_with_waveform: int
    n_with_spectrogram: int
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
    #: Units per ``cluster_quality`` code (-1: the folder has no clusterquality.mat); None without the column.
    quality_counts: dict[int, int] | None = None

    def _cluster_lines(self) -> list[str]:
        """Metadata units vs the other clusters, and units per quality code (all-clusters files)."""
        parts = []
        if self.n_metadata_units is not None:
            others = self.n_units - self.n_metadata_units
            parts.append(f"{self.n_metadata_units} in the metadata, {others} other cluster{'s' * (others != 1)}")
        if self.quality_counts is not None:
            codes = ", ".join(f"{'none' if code < 0 else code}: {count}"
                              for code, count in sorted(self.quality_counts.items(), key=lambda kv: (kv[0] < 0, kv[0])))
            parts.append(f"cluster_quality {codes or '-'}")
        return [_clip(f"  clusters         {'; '.join(parts)}")] if parts else []

    def _clock_text(self) -> str:
        """What the time axis of the file(s) is: a pooled file of several blocks has no real clock."""
        if self.clock == "wall-clock":
            if self.n_files == 1 and self.n_blocks > 1:
                return f"{POOLED_TIMELINE} ({self.n_blocks} blocks end to end; true times: trials.onset_wall_clock)"
            return "wall clock (true times" + (", each file its own block)" if self.n_files > 1 else ")")
        if self.clock == "synthetic":
            return "SYNTHETIC (the raw files carry no timestamps; only times within a trial are real)"
        return self.clock or "not recorded"

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
        natural, drc = self.n_natural, self.n_stimuli - self.n_natural
        rate = f" at {self.audio_rate_hz:.10g} Hz" if self.audio_rate_hz else ""
        lines = [
            f"{self.source}  ({kind}, {size}, NWB {self.nwb_version or '?'}, {self.software or 'unknown software'})",
            f"  units            {self.n_units} ({self.n_good_units} good: single unit Yes/Maybe at depth >= 0)",
            *self._cluster_lines(),
            f"  recording blocks {self.n_blocks}",
            f"  subjects         {len(self.subjects)} ({', '.join(self.subjects)})",
            f"  trials           {self.n_trials:,} presentations",
            f"  stimuli          {self.n_stimuli} ({natural} natural, {drc} DRC); "
            f"{self.n_with_waveform} with waveform{rate}, {self.n_stimuli - self.n_with_waveform} without; "
            f"{self.n_with_spectrogram} with spectrogram",
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


def _quality_counts(codes: Any) -> dict[int, int]:
    """Units per quality code; a missing code (negative sentinel, or NaN in a float column) counts as -1."""
    values = np.asarray(codes, dtype=np.float64)
    values = np.where(np.isfinite(values) & (values >= 0), values, -1).astype(np.int64)
    found, counts = np.unique(values, return_counts=True)
    return {int(code): int(count) for code, count in zip(found, counts)}


def summarize(path: str | os.PathLike, *, inspect: bool = True) -> RecordingInfo:
    """Summarise a pooled ns1nwb file, a folder of per-session files or an http(s) URL.

    Parameters
    ----------
    path : str or os.PathLike
        Anything :func:`ns1nwb.open` takes.
    inspect : bool, default True
        Also run the NWB Inspector (DANDI configuration, :func:`ns1nwb.dandi.inspect_path`)
        on local files; a few seconds per file.

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
        starts = [_text(nwb.h5["session_start_time"][()]) if "session_start_time" in nwb.h5 else "?" for nwb in files]
        first = files[0].h5
        notes = _text(first["general/notes"][()]) if "general/notes" in first else ""
        script: dict[str, Any] = {}
        if "general/source_script" in first:
            try:
                script = json.loads(_text(first["general/source_script"][()]))
            except ValueError:
                script = {}
        nwb_version = _text(first.attrs.get("nwb_version", "")) or None
        sources = [nwb.source for nwb in files]
        audio_rate = rec.audio_rate
        info = RecordingInfo(
            source=text,
            n_files=len(files),
            file_size_bytes=None if is_url(text) else sum(Path(s).stat().st_size for s in sources),
            n_units=len(units),
            n_good_units=int(units["is_good"].eq(True).sum()) if "is_good" in units else 0,  # NaN is not good
            n_blocks=int(units["session_id"].nunique()) if "session_id" in units else len(files),
            subjects=sorted({str(s) for s in units["subject_id"]}) if "subject_id" in units else [],
            n_trials=n_trials,
            n_stimuli=len(stimuli),
            n_natural=int((stimuli["stimulus_type"] == "natural").sum()),
            n_with_waveform=int(np.asarray(stimuli["has_waveform"], dtype=bool).sum()),
            n_with_spectrogram=int((stimuli["spectrogram_series"].astype(str) != "").sum()),
            audio_rate_hz=audio_rate,
            n_spikes=int(units["n_spikes"].sum()),
            session_starts=starts,
            clock=script.get("clock"),
            software=" ".join(str(script[k]) for k in ("software", "version") if k in script) or None,
            nwb_version=nwb_version,
            notes=notes,
            n_metadata_units=int(np.asarray(units["in_metadata"], dtype=bool).sum()) if "in_metadata" in units else None,
            quality_counts=_quality_counts(units["cluster_quality"]) if "cluster_quality" in units else None,
        )
    if not inspect:
        info.inspection_note = "not run (--no-inspect)"
    elif is_url(text):
        info.inspection_note = "not run on a URL (download the file and run `ns1nwb inspect FILE`)"
    else:
        from .dandi import inspect_path

        info.inspection = inspect_path(path)
    return info
