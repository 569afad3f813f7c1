"""The trials table: one row per sound presentation per recording block."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..constants import STIMULI
from ..metadata import column_specs
from ..release import block_offsets_s
from .columns import column_data, compressed, ragged, vector
from .context import BuildContext

if TYPE_CHECKING:
    from pynwb import NWBFile

__all__ = ["TrialLayout", "add_trials_to_nwbfile"]


@dataclass
class TrialLayout:
    """Trial rows of the file and where each (session, stimulus, repeat) went."""

    start_s: np.ndarray
    row_of: dict[tuple[str, int, int], int]
    #: (session, stimulus index) -> trial row of each repeat index.
    rows_by_set: dict[tuple[str, int], np.ndarray]


def add_trials_to_nwbfile(nwbfile: "NWBFile", ctx: BuildContext, templates: dict[int, Any]) -> TrialLayout:
    """One trial per presentation per recording block, in time order.

    A single-block file keeps the block's own clock; a file of several blocks lays
    them end to end (:func:`ns1nwb.sessions.block_offsets_s`).
    """
    from hdmf.common import ElementIdentifiers
    from pynwb.base import TimeSeriesReference, TimeSeriesReferenceVectorData
    from pynwb.epoch import TimeIntervals

    offsets = block_offsets_s(ctx.blocks)
    rows = sorted(((offset + p.onset_ms / 1000.0, b.session_id, p) for b, offset in zip(ctx.blocks, offsets)
                   for p in b.presentations), key=lambda item: (item[0], item[1], item[2].stimulus_index))
    n = len(rows)
    start_s = np.array([t for t, _, _ in rows])
    stop_s = start_s + np.array([p.length_signal_ms for _, _, p in rows]) / 1000.0
    specs = {c["name"]: c for c in column_specs()["trials"]}

    def param(p: Any, name: str) -> int:
        value = p.stim_params.get(name)
        return int(value) if isinstance(value, (int, float)) else -1

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
        "length_signal_ms": [p.length_signal_ms for _, _, p in rows],
        "stim_source": [param(p, "Source") for _, _, p in rows],
        "stim_mode": [param(p, "Mode") for _, _, p in rows],
        "stim_bf": [param(p, "BF") for _, _, p in rows],
        "stim_token": [param(p, "Token") for _, _, p in rows],
        "stim_set": [param(p, "Set") for _, _, p in rows],
        "stim_id": [param(p, "StimID") for _, _, p in rows],
        "stim_level": [param(p, "Level") for _, _, p in rows],
    }
    columns = [vector("start_time", "Sound onset, s.", compressed(start_s)),
               vector("stop_time", "End of the recorded sweep, s.", compressed(stop_s))]
    columns += [vector(name, specs[name]["description"], column_data(column, specs[name]["dtype"]))
                for name, column in values.items()]
    if templates:
        fallback = next(iter(templates.values()))
        # (start, count, template) of each trial; the dynamic random chords have no template: an empty
        # reference (-1, -1) to any series, as TimeSeriesReference.empty makes.
        targets = {index: (0, int(series.data.shape[0]), series) for index, series in templates.items()}
        reference_rows = [targets.get(p.stimulus_index, (-1, -1, fallback)) for _, _, p in rows]
        description = "The presented sound's template (see the table description)."
        references = [TimeSeriesReference(start, count, series) for start, count, series in reference_rows]
        columns += ragged("timeseries", description, references, np.arange(1, n + 1),
                          cls=TimeSeriesReferenceVectorData)
    clock = ("each recording block keeps its own wall-clock timing (onsets at their raw timestamps' offsets "
             "from the block's first onset)" if ctx.plan.clock == "wall-clock" else
             "SYNTHETIC onsets (the raw files carry no timestamps): 10 s apart in stimulus/repeat order")
    placement = ("; blocks are laid end to end in chronological order, 60 s apart, so start_time is not the time "
                 "since session_start_time for blocks after the first: onset_timestamp has each true onset"
                 if len(ctx.blocks) > 1 else "")
    nwbfile.trials = TimeIntervals(
        name="trials",
        description=(
            "One row per sound presentation per recording block. start_time is the sound onset, stop_time the end "
            f"of the recorded sweep; {clock}{placement}. timeseries references the sound's template in "
            "/stimulus/templates (waveform, or spectrogram when there is no wav; an empty reference (-1, -1) for "
            "the dynamic random chords)."),
        id=ElementIdentifiers(name="id", data=np.arange(n)),
        columns=columns,
    )
    row_of = {(sid, p.stimulus_index, p.repeat_index): i for i, (_, sid, p) in enumerate(rows)}
    by_set: dict[tuple[str, int], dict[int, int]] = {}
    for (sid, stimulus_index, repeat_index), row in row_of.items():
        by_set.setdefault((sid, stimulus_index), {})[repeat_index] = row
    # A block has every repeat index from 0 to its most repeated unit's last (the union of its units').
    rows_by_set = {key: np.array([rows_of_set[r] for r in range(len(rows_of_set))], dtype=np.int64)
                   for key, rows_of_set in by_set.items()}
    return TrialLayout(start_s=start_s, row_of=row_of, rows_by_set=rows_by_set)

