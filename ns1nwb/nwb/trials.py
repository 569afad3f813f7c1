"""The trials table: one row per sound presentation per recording block."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from ..constants import POOLED_TIMELINE, STIMULI
from ..release import Presentation, block_offsets_s
from .columns import column_data, compressed, described, ragged, specs_of, vector
from .context import BuildContext
from .naming import session_id_of

if TYPE_CHECKING:
    from pynwb import NWBFile

__all__ = ["TrialLayout", "add_trials_to_nwbfile", "clock_statement"]


#: Description of the trials' ``timeseries`` column.
REFERENCES_DESCRIPTION = (
    "The presented sound's template in /stimulus/templates (idx_start 0 and count = all its samples or frames): "
    "the template's timestamps start at its own zero, the sound onset, not on the file clock; add the row's "
    "start_time to place them. Rows of sounds without a template hold no reference.")


@dataclass
class TrialLayout:
    """Trial rows of the file and where each presentation of each block went."""

    #: start_time of every trial row, s on the file clock.
    start_s: np.ndarray
    stop_s: np.ndarray
    #: Session -> the trial row of each of its block's presentations (in ``RecordingBlock.presentations`` order).
    block_rows: dict[str, np.ndarray]
    #: Unit index -> the trial row of each of its repeats, set after set.
    repeat_rows: dict[int, np.ndarray]


def _param(p: Presentation, name: str) -> float:
    """A ``stim_params`` value as a float; NaN when the raw file has none."""
    value = p.stim_params.get(name)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")


def _iso(moment: datetime | None) -> str:
    """ISO 8601 with milliseconds and the UTC offset (``2012-01-18T20:58:39.125+00:00``); '' when unknown."""
    return moment.isoformat(timespec="milliseconds") if moment is not None else ""


def clock_statement(ctx: BuildContext) -> str:
    """What the file's clock is, for the descriptions users read (units, trials, obs_intervals, blocks)."""
    if ctx.plan.clock != "wall-clock":
        return ("SYNTHETIC clock: the raw files carry no timestamps, so presentations are laid out 10 s apart in "
                "stimulus/repeat order; only times relative to each trial's start_time are real")
    if len(ctx.blocks) > 1:
        return (f"a {POOLED_TIMELINE}: this pooled file lays its recording blocks (recorded months apart) end "
                "to end, 60 s apart, each keeping its exact internal timing; a block's wall-clock start is in "
                "intervals/recording_blocks and each presentation's wall-clock onset (a 1-ms clock reading) in "
                "trials.onset_wall_clock")
        # (a per-session file, written by convert --dandi, keeps the true clock)
    return ("the wall clock: seconds since session_start_time, the block's first sound onset; "
            "trials.onset_wall_clock has each presentation's wall-clock onset (a 1-ms clock reading)")


def add_trials_to_nwbfile(nwbfile: "NWBFile", ctx: BuildContext, templates: dict[int, Any]) -> TrialLayout:
    """One trial per presentation per recording block, in time order.

    A single-block file keeps the block's own clock; a file of several blocks lays
    them end to end (:func:`ns1nwb.release.block_offsets_s`).
    """
    from hdmf.common import ElementIdentifiers
    from pynwb.base import TimeSeriesReference, TimeSeriesReferenceVectorData
    from pynwb.epoch import TimeIntervals

    offsets = block_offsets_s(ctx.blocks)
    session_of = {id(b): session_id_of(b, ctx.plan.clock) for b in ctx.blocks}
    rows = sorted(((offset + p.onset_ms / 1000.0, session_of[id(b)], p) for b, offset in zip(ctx.blocks, offsets)
                   for p in b.presentations), key=lambda item: (item[0], item[1], item[2].stimulus_index))
    n = len(rows)
    start_s = np.array([t for t, _, _ in rows])
    stop_s = start_s + np.array([p.span_ms for _, _, p in rows]) / 1000.0
    specs = specs_of("trials")
    values: dict[str, list[Any]] = {
        "stimulus_index": [p.stimulus_index for _, _, p in rows],
        "stimulus_name": [STIMULI[p.stimulus_index].name for _, _, p in rows],
        "stimulus_type": [STIMULI[p.stimulus_index].stimulus_type for _, _, p in rows],
        "sound_category": [STIMULI[p.stimulus_index].category for _, _, p in rows],
        "repeat_index": [p.repeat_index for _, _, p in rows],
        "session_id": [sid for _, sid, _ in rows],
        "nominal_level_db_spl": [float(p.stim_params.get("NominalLevel",
                                                         STIMULI[p.stimulus_index].nominal_level_db_spl))
                                 for _, _, p in rows],
        "onset_timestamp": [p.timestamp for _, _, p in rows],
        "onset_wall_clock": [_iso(p.onset) for _, _, p in rows],
        "length_signal_ms": [p.length_signal_ms for _, _, p in rows],
        "stim_source": [_param(p, "Source") for _, _, p in rows],
        "stim_mode": [_param(p, "Mode") for _, _, p in rows],
        "stim_bf": [_param(p, "BF") for _, _, p in rows],
        "stim_token": [_param(p, "Token") for _, _, p in rows],
        "stim_set": [_param(p, "Set") for _, _, p in rows],
        "stim_id": [_param(p, "StimID") for _, _, p in rows],
        "stim_level": [_param(p, "Level") for _, _, p in rows],
    }
    clock = clock_statement(ctx)
    columns = [vector("start_time", f"Sound onset, s, on the file clock ({clock}).", compressed(start_s)),
               vector("stop_time", "End of the recorded sweep, s, on the file clock: start_time + "
                      "length_signal_ms / 1000, or the presentation's last spike if later (none in the release).",
                      compressed(stop_s))]
    columns += [vector(name, described(specs[name]), column_data(column, specs[name]["dtype"]))
                for name, column in values.items()]
    if templates:
        # Only trials whose sound has a template get a reference: the column is ragged, so a dynamic random
        # chord's row holds none (not a (-1, -1) reference that raw HDF5 readers would follow).
        has_template = np.array([p.stimulus_index in templates for _, _, p in rows])
        ends = np.cumsum(has_template)
        targets = {index: (0, int(series.data.shape[0]), series) for index, series in templates.items()}
        reference_rows = [targets[p.stimulus_index] for _, _, p in rows if p.stimulus_index in templates]
        columns += ragged("timeseries", REFERENCES_DESCRIPTION,
                          [TimeSeriesReference(start, count, series) for start, count, series in reference_rows],
                          ends, cls=TimeSeriesReferenceVectorData)
    nwbfile.trials = TimeIntervals(
        name="trials",
        description=(
            "One row per sound presentation per recording block, in time order. start_time is the sound onset, "
            f"stop_time the end of the recorded sweep, both in seconds on the file clock: {clock}. timeseries "
            "references the sound's "
            "template in /stimulus/templates (waveform, or spectrogram when there is no wav), whose own time "
            "starts at the sound onset; rows of the dynamic random chords (no released wav) hold no reference."),
        id=ElementIdentifiers(name="id", data=np.arange(n)),
        columns=columns,
    )
    row_of_presentation = {id(p): row for row, (_, _, p) in enumerate(rows)}
    block_rows = {id(b): np.array([row_of_presentation[id(p)] for p in b.presentations], dtype=np.int64)
                  for b in ctx.blocks}
    return TrialLayout(start_s=start_s, stop_s=stop_s,
                       block_rows={session_of[id(b)]: block_rows[id(b)] for b in ctx.blocks},
                       repeat_rows={index: block_rows[id(b)][positions] for b in ctx.blocks
                                    for index, positions in b.repeat_presentations.items()})
