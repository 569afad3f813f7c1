"""The units table: every spike of every set, the metadata columns, electrodes and observation intervals.

Time base: spike times are in seconds on the file's clock (see :mod:`ns1nwb.release.blocks`):
onset + raw time. The clock of any file spans at most hours, so ``spike_time - trial start_time``
gives back the raw ms within ~1e-8 ms; ``units.spike_trial_index`` says which trial row each spike
belongs to.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..constants import SPIKE_CLOCK_HZ, SPIKES_DIR
from ..metadata import column_specs
from ..release import RawUnit
from .columns import column_data, compressed, ragged, snake, vector
from .context import BuildContext
from .trials import TrialLayout

if TYPE_CHECKING:
    from pynwb import NWBFile

__all__ = ["GOOD_LABELS", "unit_spikes", "metadata_columns", "add_units_to_nwbfile"]

#: The manual labels of the papers' "good" units (with a depth >= 0).
GOOD_LABELS = ("Yes", "Maybe")


def unit_spikes(unit: RawUnit, session_id: str, layout: TrialLayout,
                 trial_dtype: Any = np.int32) -> tuple[np.ndarray, np.ndarray]:
    """(spike_times s, trial row) of one unit, ascending in time, sorted within each trial.

    Equal times keep trial order, then the stored order.
    """
    rows = [layout.rows_by_set[(session_id, raw_set.stimulus_index)][:len(raw_set.repeats)]
            for raw_set in unit.sets if raw_set.repeats]
    counts = [repeat.spike_times_ms.size for raw_set in unit.sets for repeat in raw_set.repeats]
    trial = np.repeat(np.concatenate(rows).astype(trial_dtype) if rows else np.empty(0, trial_dtype), counts)
    relative_ms = np.concatenate([repeat.spike_times_ms for raw_set in unit.sets for repeat in raw_set.repeats]
                                 or [np.empty(0)])
    absolute_s = layout.start_s[trial] + relative_ms / 1000.0
    # Sorting by absolute time sorts within each trial too (trials are in time order).
    order = np.lexsort((trial, absolute_s))
    return absolute_s[order], trial[order]


def metadata_columns(units: list[RawUnit], fields: list[str]) -> list[tuple[str, str, str, list[Any]]]:
    """(name, dtype, description, values) of every metadata-derived unit column."""
    specs = column_specs()["units"]
    known = {c["source"].split(":", 1)[1]: c for c in specs if c["source"].startswith("metadata:")}
    path_field = "path" if "path" in fields else fields[0]
    columns = []
    for field_name in fields:
        values = [u.metadata.get(field_name) for u in units]
        spec = known.get(field_name) or (known["path"] if field_name == path_field else None)
        if field_name == path_field:
            columns.append(("unit_name", "text", known["path"]["description"], [u.unit_name for u in units]))
        elif spec is not None:
            columns.append((spec["name"], spec["dtype"], spec["description"], values))
        else:
            # A field the spec does not name: keep it with the most faithful type.
            if all(isinstance(v, bool) for v in values):
                dtype = "bool"
            elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                dtype = "int64"
            elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                dtype = "float64"
            else:
                dtype = "text"
                values = [v if isinstance(v, str) else json.dumps(v) for v in values]
            columns.append((snake(field_name), dtype,
                            f"Raw metadata field {field_name!r} of MetadataSHEnCneurons.mat, kept as is.", values))
    return columns


def add_units_to_nwbfile(nwbfile: "NWBFile", ctx: BuildContext, layout: TrialLayout,
                         electrode_rows: dict[tuple[str, int], int]) -> None:
    """The units table: every spike of every set, metadata columns, electrodes and observation intervals."""
    from hdmf.common import DynamicTableRegion, ElementIdentifiers
    from pynwb.misc import Units

    session_of = {i: b.session_id for b in ctx.blocks for i in b.unit_indices}
    subject_of = {i: b.subject_id for b in ctx.blocks for i in b.unit_indices}
    indices = ctx.unit_indices
    units = [ctx.release.units[i] for i in indices]
    spec = {c["name"]: c for c in column_specs()["units"]}

    # Each block is observed from its first onset to the end of its last sweep.
    block_span: dict[str, tuple[float, float]] = {}
    for block in ctx.blocks:
        rows = [layout.row_of[(block.session_id, p.stimulus_index, p.repeat_index)] for p in block.presentations]
        starts = layout.start_s[rows]
        stops = starts + np.array([p.length_signal_ms for p in block.presentations]) / 1000.0
        block_span[block.session_id] = (float(starts.min()), float(stops.max()))

    # The smallest unsigned type that holds every trial row (uint16 for the release's 6,900).
    trial_dtype = np.min_scalar_type(max(len(layout.start_s) - 1, 0))
    ends = np.cumsum([unit.n_spikes for unit in units])
    # Filled unit by unit (joining 119 arrays afterwards would cost as much again).
    spike_times = np.empty(ends[-1])
    trial = np.empty(ends[-1], dtype=trial_dtype)
    obs = []
    for index, unit, stop in zip(indices, units, ends):
        absolute_s, trial_rows = unit_spikes(unit, session_of[index], layout, trial_dtype)
        spike_times[stop - absolute_s.size:stop] = absolute_s
        trial[stop - absolute_s.size:stop] = trial_rows
        first, last = block_span[session_of[index]]
        obs.append([first, max(last, float(absolute_s[-1]) if absolute_s.size else last)])

    electrode_index = [electrode_rows[(u.probe_group, int(u.metadata.get("ElectrodeNumber") or 0))] for u in units]
    one_each = np.arange(1, len(units) + 1)
    # Chunks of 128k spikes (~1 MB): a one-unit read decompresses little, a bulk read few chunks.
    spike_chunks = (min(max(ends[-1], 1), 131072),)
    columns = ragged("spike_times", "Spike times, s, on the file clock.",
                      compressed(spike_times, spike_chunks), ends)
    columns += ragged("obs_intervals", "The recording block of the unit: first onset to last sweep end, s.",
                       np.asarray(obs, dtype=np.float64), one_each)
    columns += ragged("electrodes", "The recording site of the unit.", np.asarray(electrode_index), one_each,
                       cls=DynamicTableRegion, table=nwbfile.electrodes)
    columns.append(vector("electrode_group", "Probe or shank of the unit.",
                           [nwbfile.electrode_groups[u.probe_group.replace("/", ".")] for u in units]))
    columns += [vector(name, description, column_data(values, dtype))
                for name, dtype, description, values in metadata_columns(units, ctx.release.metadata_fields)]
    derived = {
        "spike_file": [Path(os.path.relpath(u.spike_file, ctx.release.root / SPIKES_DIR)).as_posix() for u in units],
        "metadata_index": [u.metadata_index for u in units],
        "subject_id": [subject_of[i] for i in indices],
        "session_id": [session_of[i] for i in indices],
    }
    if all("singleT" in u.metadata and isinstance(u.metadata.get("depth"), (int, float)) for u in units):
        derived["is_good"] = [u.metadata["singleT"] in GOOD_LABELS and u.metadata["depth"] >= 0 for u in units]
    columns += [vector(name, spec[name]["description"], column_data(values, spec[name]["dtype"]))
                for name, values in derived.items()]
    columns += ragged("spike_trial_index", spec["spike_trial_index"]["description"],
                       compressed(trial, spike_chunks), ends)
    nwbfile.units = Units(
        name="units",
        id=ElementIdentifiers(name="id", data=np.arange(len(units))),
        columns=columns,
        resolution=1.0 / SPIKE_CLOCK_HZ,
        electrode_table=nwbfile.electrodes,
        description=(
            "Sorted units of the NS1 release in metadata order. spike_times holds every spike of all 32 stimulus "
            "sets (including spikes after the 4995-ms response window), ascending, in seconds on the file clock "
            "(trial start_time + raw spike time); spike_trial_index gives each spike's trial row."),
    )

