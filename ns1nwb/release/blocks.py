"""Recording blocks and their clock: which presentations happened when.

Every unit of one recording block heard the same presentations at the same wall-clock times (its repeats'
``timestamp`` strings). Units that share any timestamp are one block (see
:attr:`RawRelease.recording_blocks`): a cluster that lost some presentations (16 of 20 repeats, say) still
joins its block. A presentation is identified by its sound and its timestamp, never by the position of a
repeat in a file; its ``repeat_index`` is its rank among the block's presentations of that sound
(chronological, as the release stores repeats, so a full unit's repeat r is repeat_index r).

* ``wall-clock``: every repeat has a timestamp; each block starts at its first onset and presentations sit at
  their exact timestamp offsets (whole ms) from it. Timestamps are Europe/London local time; offsets are
  computed in UTC, so a block across a daylight-saving change keeps its true durations (an ambiguous local
  time in the hour the clocks go back is taken as the earlier one).
* ``synthetic``: no repeat has a timestamp (older exports); blocks start 6 h apart from
  ``session_start_time`` (metadata, default 2000-01-01 00:00 Europe/London) and presentations are 10 s
  apart in stimulus / repeat order; a presentation is then identified by its sound and repeat position.

Where blocks sit on a file's clock is the writer's choice: a per-session file starts at its block's start;
the pooled file lays blocks end to end (see :func:`block_offsets_s`), because the release spans 15 months
and a 15-month clock is both flagged by the NWB Inspector and too coarse for float64 spike times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Hashable
from zoneinfo import ZoneInfo

import numpy as np

from ..constants import DEFAULT_SWEEP_MS
from ..exceptions import RawFormatError
from .model import RawRelease, RawSet, RawUnit
from .validate import MAX_BLOCK_HOURS, timestamp_time

__all__ = ["Presentation", "RecordingBlock", "BlockPlan", "plan_blocks", "block_offsets_s", "presentation_key",
           "LOCAL_TZ"]

LOCAL_TZ = ZoneInfo("Europe/London")
SYNTHETIC_START = datetime(2000, 1, 1, tzinfo=LOCAL_TZ)
SYNTHETIC_TRIAL_PERIOD_S = 10.0
SYNTHETIC_BLOCK_PERIOD_S = 6 * 3600.0


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
    #: True wall-clock onset (aware, Europe/London); None on the synthetic clock.
    onset: datetime | None = None
    #: Latest spike of any unit in this presentation, ms after onset (0 without spikes).
    latest_spike_ms: float = 0.0

    @property
    def span_ms(self) -> float:
        """How long the presentation lasts on the clock: its recorded sweep, or up to its last spike if later
        (an integer re-export can round the last spikes past the sweep's end)."""
        return max(self.length_signal_ms, self.latest_spike_ms)


@dataclass
class RecordingBlock:
    """Units recorded together and the presentations they heard.

    Only raw facts: the names an NWB file gives a block (``session_id``, ``subject_id``) are
    :mod:`ns1nwb.nwb.naming`'s.
    """

    #: The ferret, as the experiment folders name it (``exp57``).
    ferret: str
    #: Indices into ``RawRelease.units``.
    unit_indices: list[int]
    #: Position of the block in its plan, from 1 (chronological on the wall clock).
    number: int = 0
    #: Sorted by onset.
    presentations: list[Presentation] = field(default_factory=list)
    #: Wall-clock onset of the first presentation (synthetic clock: the block's start).
    start: datetime = SYNTHETIC_START
    #: Short names of the penetrations recorded (``P04``, ``E1P02``...).
    penetrations: list[str] = field(default_factory=list)
    #: (stimulus index, timestamp or repeat position) -> the presentation.
    by_key: dict[tuple[int, Hashable], Presentation] = field(default_factory=dict)
    #: Unit index -> the position in ``presentations`` of each of the unit's repeats, set after set (the
    #: trial each repeat's spikes belong to).
    repeat_presentations: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """First onset to the end of the last sweep."""
        return max(p.onset_ms + p.span_ms for p in self.presentations) / 1000.0


@dataclass
class BlockPlan:
    """The recording blocks of a release and their clock."""

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


def presentation_key(raw_set: RawSet, position: int) -> tuple[int, Hashable]:
    """What identifies repeat ``position`` of ``raw_set`` among its block's presentations: its sound and its
    timestamp (its position when the file has no timestamps)."""
    stamp = raw_set.repeats[position].timestamp
    return (raw_set.stimulus_index, stamp if stamp is not None else position)


def _block_presentations(release: RawRelease, unit_indices: list[int]
                         ) -> tuple[dict[tuple[int, Hashable], Presentation], dict[int, list[Presentation]]]:
    """The union of the presentations of a block's units, by key, and each unit's presentation of each of its
    repeats (set after set); a unit may not hold one presentation twice."""
    presentations: dict[tuple[int, Hashable], Presentation] = {}
    latest_spike: dict[tuple[int, Hashable], float] = {}
    of_repeats: dict[int, list[Presentation]] = {}
    for index in unit_indices:
        unit = release.units[index]
        own = of_repeats[index] = []
        for raw_set in unit.sets:
            seen: set[tuple[int, Hashable]] = set()
            for position, repeat in enumerate(raw_set.repeats):
                key = presentation_key(raw_set, position)
                if key in seen:
                    raise RawFormatError(f"{unit.spike_file}: set {raw_set.position + 1} holds two repeats with "
                                         f"timestamp {key[1]!r}; each presentation is recorded once")
                seen.add(key)
                if repeat.latest_spike_ms > latest_spike.get(key, 0.0):
                    latest_spike[key] = repeat.latest_spike_ms
                known = presentations.get(key)
                if known is None:
                    known = presentations[key] = Presentation(raw_set.stimulus_index, position,
                                                              repeat.timestamp or "", 0.0,
                                                              raw_set.length_signal_ms or 0.0, raw_set.stim_params)
                elif raw_set.length_signal_ms is not None:
                    known.length_signal_ms = max(known.length_signal_ms, raw_set.length_signal_ms)
                own.append(known)
    for key, presentation in presentations.items():
        presentation.latest_spike_ms = latest_spike.get(key, 0.0)
        if not presentation.length_signal_ms:  # no file says: the release's sweep
            presentation.length_signal_ms = DEFAULT_SWEEP_MS
    return presentations, of_repeats


def _holder(block: RecordingBlock, release: RawRelease, presentation: Presentation) -> RawUnit:
    """The first unit of ``block`` whose file holds ``presentation`` (the file an error names)."""
    for index in block.unit_indices:
        unit = release.units[index]
        if any(s.stimulus_index == presentation.stimulus_index and
               any(r.timestamp == presentation.timestamp for r in s.repeats) for s in unit.sets):
            return unit
    return release.units[block.unit_indices[0]]


def _check_block(block: RecordingBlock, release: RawRelease) -> None:
    """A block lasts at most a day and its presentations do not overlap (each sweep ends before the next
    onset): else a timestamp is wrong (year 2999, all alike) and the clock would be corrupt. The error
    names the file holding the later presentation (in a block of several units, the one that is off)."""
    if block.duration_s > MAX_BLOCK_HOURS * 3600:
        first, last = block.presentations[0], max(block.presentations, key=lambda p: p.onset_ms)
        median = block.presentations[len(block.presentations) // 2].onset_ms
        unit = _holder(block, release, first if median - first.onset_ms > last.onset_ms - median else last)
        raise RawFormatError(f"{unit.spike_file}: its recording block would last {block.duration_s / 3600:,.1f} h "
                             f"(timestamps {first.timestamp!r} to {last.timestamp!r}); at most "
                             f"{MAX_BLOCK_HOURS:g} h is plausible, a timestamp is wrong")
    for earlier, later in zip(block.presentations, block.presentations[1:]):
        if later.onset_ms < earlier.onset_ms + earlier.span_ms:
            unit = _holder(block, release, later)
            raise RawFormatError(
                f"{unit.spike_file}: stimulus {later.stimulus_index} at {later.timestamp!r} starts "
                f"{later.onset_ms - earlier.onset_ms:g} ms after stimulus {earlier.stimulus_index} at "
                f"{earlier.timestamp!r}, before its {earlier.span_ms:g}-ms sweep ends; the timestamps "
                "of this recording block are wrong")


def _check_synthetic_sweeps(block: RecordingBlock, release: RawRelease) -> None:
    """On the synthetic clock presentations are 10 s apart: a longer sweep (or a spike after 10 s, without
    ``length_signal_ms``) would overlap the next trial."""
    period_ms = SYNTHETIC_TRIAL_PERIOD_S * 1000.0
    for p in block.presentations:
        if p.span_ms > period_ms:
            unit = next((release.units[i] for i in block.unit_indices for s in release.units[i].sets
                         if s.stimulus_index == p.stimulus_index and
                         max([s.length_signal_ms or 0.0, *(r.latest_spike_ms for r in s.repeats)]) > period_ms),
                        release.units[block.unit_indices[0]])
            raise RawFormatError(f"{unit.spike_file}: stimulus {p.stimulus_index} has a {p.span_ms:g}-ms "
                                 f"sweep (length_signal_ms or its last spike), longer than the "
                                 f"{SYNTHETIC_TRIAL_PERIOD_S:g} s between presentations on the synthetic clock (the "
                                 "files have no timestamps): its trials would overlap")


def _check_one_subject(release: RawRelease, unit_indices: list[int]) -> None:
    first = release.units[unit_indices[0]]
    for index in unit_indices[1:]:
        unit = release.units[index]
        if unit.ferret != first.ferret:
            raise RawFormatError(f"{unit.spike_file}: shares presentation timestamps with {first.spike_file}, but one "
                                 f"is from ferret {first.ferret!r} and the other from {unit.ferret!r}; a "
                                 "recording block has one subject")


def plan_blocks(release: RawRelease, synthetic_start: datetime | None = None) -> BlockPlan:
    """Group the release's units into recording blocks and time every presentation.

    Parameters
    ----------
    release : RawRelease
    synthetic_start : datetime, optional
        Clock start used only when timestamps are missing.

    Returns
    -------
    BlockPlan
        Blocks numbered in order of their first onset (wall clock) or of their units (synthetic clock).

    Raises
    ------
    RawFormatError
        Some repeats have timestamps and others not, a block spans two ferrets or more than a day, or its
        presentations overlap.
    """
    stamped = [r.timestamp is not None for u in release.units for s in u.sets for r in s.repeats]
    if any(stamped) and not all(stamped):
        unstamped = next(u for u in release.units if any(r.timestamp is None for s in u.sets for r in s.repeats))
        raise RawFormatError(f"{unstamped.spike_file}: has presentations without timestamps while other spike files "
                             "have them; every presentation needs one (or none, for the synthetic clock)")
    blocks: list[RecordingBlock] = []
    of_repeats: dict[int, dict[int, list[Presentation]]] = {}  # id(block) -> unit -> presentation of each repeat
    for unit_indices in release.recording_blocks.values():
        _check_one_subject(release, unit_indices)
        block = RecordingBlock(ferret=release.units[unit_indices[0]].ferret, unit_indices=unit_indices)
        block.by_key, of_repeats[id(block)] = _block_presentations(release, unit_indices)
        block.presentations = list(block.by_key.values())
        block.penetrations = sorted({release.units[i].penetration_label for i in unit_indices})
        blocks.append(block)

    if all(stamped):
        for block in blocks:
            for p in block.presentations:  # every timestamp was checked when reading
                p.onset = timestamp_time(p.timestamp).replace(tzinfo=LOCAL_TZ)
            # Offsets in UTC: a subtraction of two local times would ignore a daylight-saving change.
            utc = {id(p): p.onset.astimezone(timezone.utc) for p in block.presentations}  # type: ignore[union-attr]
            first_utc = min(utc.values())
            block.start = first_utc.astimezone(LOCAL_TZ)
            for p in block.presentations:
                # Whole milliseconds: the exact offset of the raw timestamp.
                p.onset_ms = (utc[id(p)] - first_utc) / timedelta(milliseconds=1)
            block.presentations.sort(key=lambda p: (p.onset_ms, p.stimulus_index))
            _rank_repeats(block)
            _check_block(block, release)
        blocks.sort(key=lambda b: b.start)
        clock = "wall-clock"
    else:
        start = synthetic_start or SYNTHETIC_START
        for b, block in enumerate(blocks):
            block.presentations.sort(key=lambda p: (p.stimulus_index, p.repeat_index))
            for j, p in enumerate(block.presentations):
                p.onset_ms = j * SYNTHETIC_TRIAL_PERIOD_S * 1000.0
            _check_synthetic_sweeps(block, release)
            block.start = start + timedelta(seconds=b * SYNTHETIC_BLOCK_PERIOD_S)
        clock = "synthetic"

    for number, block in enumerate(blocks, start=1):
        block.number = number
        position = {id(p): i for i, p in enumerate(block.presentations)}  # after the sort above
        block.repeat_presentations = {index: np.array([position[id(p)] for p in presentations], dtype=np.int64)
                                      for index, presentations in of_repeats[id(block)].items()}
    return BlockPlan(clock=clock, start=blocks[0].start, blocks=blocks)


def _rank_repeats(block: RecordingBlock) -> None:
    """repeat_index = rank of each presentation among the block's presentations of its sound, in time order."""
    count: dict[int, int] = {}
    for p in block.presentations:
        p.repeat_index = count.get(p.stimulus_index, 0)
        count[p.stimulus_index] = p.repeat_index + 1
