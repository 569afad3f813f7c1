"""Neo export: a recording's presentations as ``neo.Segment`` s with their spike trains on the trial clock."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import MissingDependencyError
from .files import NwbFile

__all__ = ["to_neo_block"]


def to_neo_block(files: list[tuple[NwbFile, list[tuple[int, str]]]], stimulus_names: Any) -> Any:
    """A ``neo.Block``: one Segment per trial any of the units was recorded in, an Epoch for its stimulus
    presentation and a SpikeTrain per unit (ms after onset).

    Parameters
    ----------
    files : list of (NwbFile, list of (unit in the file, unit name))
    stimulus_names : mapping
        Stimulus index -> its name.
    """
    try:
        import neo
        import quantities as pq
    except ImportError:
        raise MissingDependencyError("to_neo needs neo, which is not installed; pip install neo (or, in the "
                                     "ns1nwb clone, pip install '.[neo]')") from None

    block = neo.Block(name="NS1", description="NS1 responses, one segment per presentation")
    for nwb, members in files:
        locals_ = [local for local, _ in members]
        times_list, trials_list = zip(*(nwb.spikes(local, local + 1) for local in locals_))
        for (local, name), times, trials in zip(members, times_list, trials_list):
            _check_on_trial_clock(nwb, local, name, times, trials)
        recorded = np.zeros(nwb.trial_start_s.shape[0], dtype=bool)
        for local in locals_:
            recorded |= nwb.observed(local)
        for row in np.flatnonzero(recorded):
            length_ms = float(nwb.trial_length_ms[row])
            stimulus = int(nwb.trial_stimulus[row])
            segment = neo.Segment(name=f"trial {row}", index=int(row))
            segment.annotate(stimulus_index=stimulus, repeat_index=int(nwb.trial_repeat[row]),
                             session_id=str(nwb.trial_session[row]))
            segment.epochs.append(neo.Epoch(times=[0.0] * pq.ms, durations=[length_ms] * pq.ms,
                                            labels=[stimulus_names[stimulus]], name="stimulus"))
            for (local, name), times, trials in zip(members, times_list, trials_list):
                if not nwb.observed(local)[row]:
                    continue
                spikes = np.sort(nwb.relative_ms(times[trials == row], trials[trials == row]))
                stop = max(length_ms, float(spikes[-1]) + 1e-3 if spikes.size else 0.0)
                segment.spiketrains.append(neo.SpikeTrain(spikes * pq.ms, t_start=0.0 * pq.ms,
                                                          t_stop=stop * pq.ms, name=name))
            block.segments.append(segment)
    return block


def _check_on_trial_clock(nwb: NwbFile, local: int, name: str, times: np.ndarray, trials: np.ndarray) -> None:
    """A unit's spikes lie in presentations it was recorded in, at or after their onsets: else the file is
    damaged (neo would refuse the spike train with a message listing every spike time)."""
    elsewhere = ~nwb.observed(local)[trials]
    if elsewhere.any():
        row = int(trials[np.argmax(elsewhere)])
        raise nwb.damaged_error(f"unit {name} has spikes in trial row {row} (session {nwb.trial_session[row]}), a "
                                f"presentation it was not recorded in")
    early = times < nwb.trial_start_s[trials]
    if early.any():
        row = int(trials[np.argmax(early)])
        raise nwb.damaged_error(f"unit {name} has a spike before the onset of its trial row {row}")
