"""Recording blocks and their clock: which presentations happened when.

Every unit of one recording block heard the same 460 presentations at the same
wall-clock times (its repeats' ``timestamp`` strings). This module groups units
into blocks, collects each block's presentations and times them relative to the
block's first onset:

* ``wall-clock``: every repeat has a timestamp; each block starts at its first
  onset (Europe/London local time) and presentations sit at their exact
  timestamp offsets (whole ms) from it.
* ``synthetic``: some repeat has no timestamp (older exports); blocks start
  6 h apart from ``session_start_time`` (metadata, default 2000-01-01 00:00
  Europe/London) and presentations are 10 s apart in stimulus / repeat order.

Where blocks sit on a file's clock is the writer's choice: a per-session file
starts at its block's start; the pooled file lays blocks end to end (see
:func:`block_offsets_s`), because the release spans 15 months and a 15-month
clock is both flagged by the NWB Inspector and too coarse for float64 spike times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from ..constants import DEFAULT_SWEEP_MS
from ..exceptions import RawFormatError
from .model import RawRelease, RawUnit

__all__ = ["Presentation", "RecordingBlock", "SessionPlan", "plan_sessions", "block_offsets_s", "LOCAL_TZ"]

LOCAL_TZ = ZoneInfo("Europe/London")
SYNTHETIC_START = datetime(2000, 1, 1, tzinfo=LOCAL_TZ)
SYNTHETIC_TRIAL_PERIOD_S = 10.0
SYNTHETIC_BLOCK_PERIOD_S = 6 * 3600.0

_TIMESTAMP = re.compile(r"^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})(\d{3})$")


@dataclass
class Presentation:
    """One sound played once in one recording block."""

    stimulus_index: int
    repeat_index: int
    #: Raw timestamp string, '' when absent.
    timestamp: str
    #: Onset in ms after the block's first onset (whole ms for wall-clock onsets).
    onset_ms: float
    length_signal_ms: float
    stim_params: dict[str, Any]


@dataclass
class RecordingBlock:
    """Units recorded together and the presentations they heard."""

    session_id: str
    subject_id: str
    #: Indices into ``RawRelease.units``.
    unit_indices: list[int]
    #: Sorted by onset.
    presentations: list[Presentation] = field(default_factory=list)
    #: Wall-clock onset of the first presentation (synthetic clock: the block's start).
    start: datetime = SYNTHETIC_START

    @property
    def duration_s(self) -> float:
        """First onset to the end of the last sweep."""
        return max(p.onset_ms + p.length_signal_ms for p in self.presentations) / 1000.0


@dataclass
class SessionPlan:
    clock: str  # "wall-clock" or "synthetic"
    #: The earliest block start.
    start: datetime
    blocks: list[RecordingBlock]


#: Gap left between blocks laid end to end on a pooled file's clock.
POOLED_BLOCK_GAP_S = 60.0


def block_offsets_s(blocks: list[RecordingBlock]) -> list[float]:
    """Start of each block on a pooled clock: chronological, end to end, 60 s apart, whole seconds."""
    offsets, next_start = [], 0.0
    for block in blocks:
        offsets.append(next_start)
        next_start = float(np.ceil(next_start + block.duration_s + POOLED_BLOCK_GAP_S))
    return offsets


def _parse_timestamp(stamp: str, unit: RawUnit) -> datetime:
    match = _TIMESTAMP.match(stamp)
    if not match:
        raise RawFormatError(f"{unit.spike_file}: timestamp {stamp!r} is not 'YYYYMMDD-HHMMSSmmm'")
    y, mo, d, h, mi, s, ms = (int(g) for g in match.groups())
    try:
        return datetime(y, mo, d, h, mi, s, ms * 1000, tzinfo=LOCAL_TZ)
    except ValueError as err:
        raise RawFormatError(f"{unit.spike_file}: timestamp {stamp!r} is not a valid date ({err})") from err


def _label(text: str) -> str:
    """Letters, digits and '-' only (DANDI's rule for subject and session labels)."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-") or "x"


def _block_presentations(release: RawRelease, unit_indices: list[int]) -> dict[tuple[int, int], Presentation]:
    """Union of the presentations of a block's units, checking they agree."""
    presentations: dict[tuple[int, int], Presentation] = {}
    for index in unit_indices:
        unit = release.units[index]
        for raw_set in unit.sets:
            length = raw_set.length_signal_ms if raw_set.length_signal_ms is not None else DEFAULT_SWEEP_MS
            for repeat_index, repeat in enumerate(raw_set.repeats):
                key = (raw_set.stimulus_index, repeat_index)
                stamp = repeat.timestamp or ""
                known = presentations.get(key)
                if known is None:
                    presentations[key] = Presentation(raw_set.stimulus_index, repeat_index, stamp, 0.0,
                                                      length, raw_set.stim_params)
                elif known.timestamp != stamp:
                    raise RawFormatError(
                        f"{unit.spike_file}: stimulus {key[0]} repeat {key[1]} has timestamp {stamp!r} but another "
                        f"unit of the same recording block has {known.timestamp!r}; the units do not agree"
                    )
    return presentations


def plan_sessions(release: RawRelease, synthetic_start: datetime | None = None) -> SessionPlan:
    """Group the release's units into recording blocks and time every presentation.

    Parameters
    ----------
    release : RawRelease
    synthetic_start : datetime, optional
        Clock start used only when timestamps are missing.

    Returns
    -------
    SessionPlan
        Blocks in order of their first onset.
    """
    grouped = release.recording_blocks
    all_stamped = all(r.timestamp for u in release.units for s in u.sets for r in s.repeats)
    blocks: list[RecordingBlock] = []
    for unit_indices in grouped.values():
        first = release.units[unit_indices[0]]
        block = RecordingBlock(session_id="", subject_id=_label(first.subject_id), unit_indices=unit_indices)
        block.presentations = list(_block_presentations(release, unit_indices).values())
        blocks.append(block)

    if all_stamped:
        parsed: dict[str, datetime] = {}
        for block in blocks:
            unit = release.units[block.unit_indices[0]]
            for p in block.presentations:
                if p.timestamp not in parsed:
                    parsed[p.timestamp] = _parse_timestamp(p.timestamp, unit)
        for block in blocks:
            block.start = min(parsed[p.timestamp] for p in block.presentations)
            for p in block.presentations:
                # Whole milliseconds: the exact offset of the raw timestamp.
                delta = parsed[p.timestamp] - block.start
                p.onset_ms = float((delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000)
            block.presentations.sort(key=lambda p: (p.onset_ms, p.stimulus_index, p.repeat_index))
        blocks.sort(key=lambda b: b.start)
        clock = "wall-clock"
    else:
        start = synthetic_start or SYNTHETIC_START
        for b, block in enumerate(blocks):
            block.presentations.sort(key=lambda p: (p.stimulus_index, p.repeat_index))
            for j, p in enumerate(block.presentations):
                p.onset_ms = j * SYNTHETIC_TRIAL_PERIOD_S * 1000.0
            block.start = start + timedelta(seconds=b * SYNTHETIC_BLOCK_PERIOD_S)
        clock = "synthetic"

    used: set[str] = set()
    for b, block in enumerate(blocks):
        pens = sorted({release.units[i].penetration_label for i in block.unit_indices})
        when = block.start.strftime("%Y%m%dT%H%M%S") if clock == "wall-clock" else f"block{b + 1:02d}"
        label = _label(f"{block.subject_id}-{'+'.join(pens)}-{when}")
        while label in used:
            label += "b"
        used.add(label)
        block.session_id = label
    return SessionPlan(clock=clock, start=blocks[0].start, blocks=blocks)
