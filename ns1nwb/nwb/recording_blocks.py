"""The ``recording_blocks`` table: each block's span on the file clock and its wall-clock start."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .columns import column_data, described, specs_of, vector
from .context import BuildContext
from .naming import session_id_of, subject_id_of
from .trials import TrialLayout, clock_statement

if TYPE_CHECKING:
    from pynwb import NWBFile

__all__ = ["add_recording_blocks_to_nwbfile"]


def add_recording_blocks_to_nwbfile(nwbfile: "NWBFile", ctx: BuildContext, layout: TrialLayout) -> None:
    """One row per recording block: its first trial's start to its last trial's stop on the file clock, its
    true start (ISO 8601 with the UTC offset), subject, penetrations and session_id."""
    from hdmf.common import ElementIdentifiers
    from pynwb.epoch import TimeIntervals

    specs = specs_of("recording_blocks")
    blocks = ctx.blocks
    sessions = [session_id_of(b, ctx.plan.clock) for b in blocks]
    # From the trials' own start and stop times: the same numbers, not the same sums in another order (which
    # left a block's stop 1 ulp before its last trial's).
    rows = [layout.block_rows[session] for session in sessions]
    starts = np.array([layout.start_s[own].min() for own in rows])
    stops = np.array([layout.stop_s[own].max() for own in rows])
    own_units = set(ctx.unit_indices)
    values = {
        "session_id": sessions,
        "subject_id": [subject_id_of(b) for b in blocks],
        "penetrations": ["+".join(b.penetrations) for b in blocks],
        "wall_clock_start": [b.start.isoformat(timespec="milliseconds") if ctx.plan.clock == "wall-clock" else ""
                             for b in blocks],
        "n_units": [sum(i in own_units for i in b.unit_indices) for b in blocks],
        "n_presentations": [len(b.presentations) for b in blocks],
    }
    columns = [vector("start_time", "First sound onset of the block, s, on the file clock.", starts),
               vector("stop_time", "End of the block's last recorded sweep, s, on the file clock.", stops)]
    columns += [vector(name, described(specs[name]), column_data(column, specs[name]["dtype"]))
                for name, column in values.items()]
    nwbfile.add_time_intervals(TimeIntervals(
        name="recording_blocks",
        description=("Recording blocks of this file: units recorded together, hearing the same presentations. "
                     f"start_time and stop_time are on the file clock ({clock_statement(ctx)}); wall_clock_start "
                     "is the block's wall-clock start."),
        id=ElementIdentifiers(name="id", data=np.arange(len(blocks))),
        columns=columns,
    ))
