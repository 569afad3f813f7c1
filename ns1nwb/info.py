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


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


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

    def report(self) -> str:
        """The summary as text, about 20 lines."""
        if _is_url(self.source):
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
            f"  recording blocks {self.n_blocks}",
            f"  subjects         {len(self.subjects)} ({', '.join(self.subjects)})",
            f"  trials           {self.n_trials:,} presentations",
            f"  stimuli          {self.n_stimuli} ({natural} natural, {drc} DRC); "
            f"{self.n_with_waveform} with waveform{rate}, {self.n_stimuli - self.n_with_waveform} without; "
            f"{self.n_with_spectrogram} with spectrogram",
            f"  spikes           {self.n_spikes:,}",
            f"  session start    {start}",
            f"  clock            {self.clock or 'not recorded'}",
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
        n_trials = sum(int(nwb.h5["intervals/trials/id"].shape[0]) for nwb in files)
        starts = [_text(nwb.h5["session_start_time"][()]) for nwb in files]
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
            file_size_bytes=None if _is_url(text) else sum(Path(s).stat().st_size for s in sources),
            n_units=len(units),
            n_good_units=int(np.asarray(units["is_good"], dtype=bool).sum()) if "is_good" in units else 0,
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
        )
    if not inspect:
        info.inspection_note = "not run (--no-inspect)"
    elif _is_url(text):
        info.inspection_note = "not run on a URL (download the file and run `ns1nwb inspect FILE`)"
    else:
        from .dandi import inspect_path

        info.inspection = inspect_path(path)
    return info
