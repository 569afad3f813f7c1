"""The units table: every spike of every set, the metadata columns, electrodes and observation intervals.

Time base: spike times are in seconds on the file's clock (see :mod:`ns1nwb.release.blocks`):
onset + raw time. The clock of any file spans at most hours, so ``spike_time - trial start_time``
gives back the raw ms within ~1e-8 ms; ``units.spike_trial`` says which trial row each spike
belongs to.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..constants import DEFAULT_SWEEP_MS, N_NATURAL, SPIKE_CLOCK_HZ, SPIKES_DIR
from ..metrics import unit_noise_ratio
from ..release import RawUnit
from .columns import column_data, column_specs, compressed, described, ragged, specs_of, vector
from .context import BuildContext
from .electrodes import site_of
from .naming import electrode_group_name, session_id_of, subject_id_of, unit_column_names
from .trials import TrialLayout, clock_statement

if TYPE_CHECKING:
    from pynwb import NWBFile

__all__ = ["GOOD_LABELS", "unit_spikes", "computed_noise_ratio", "metadata_columns", "add_units_to_nwbfile"]

#: The manual labels of the papers' "good" units (with a depth >= 0).
GOOD_LABELS = ("Yes", "Maybe")
#: Rows of obs_intervals per chunk (64 KB of float64 pairs; a unit has a few hundred, 460 on average).
OBS_CHUNK_ROWS = 4096
#: Missing value of the integer columns that cannot hold NaN (documented in each column's description).
MISSING_INT = {"uint8": 0, "int8": -1, "int16": -1, "int32": -1, "int64": -1}


def unit_spikes(unit: RawUnit, repeat_rows: np.ndarray, start_s: np.ndarray,
                trial_dtype: Any = np.int32) -> tuple[np.ndarray, np.ndarray]:
    """(spike_times s, trial row) of one unit, ascending in time, sorted within each trial.

    ``repeat_rows`` is the trial row of each of the unit's repeats (:attr:`TrialLayout.repeat_rows`: the trial
    of its presentation, by its sound and timestamp, so a cluster that lost presentations still lands in the
    right trials), ``start_s`` every trial's start. Equal times keep trial order, then the stored order.
    """
    counts = [repeat.spike_times_ms.size for raw_set in unit.sets for repeat in raw_set.repeats]
    trial = np.repeat(repeat_rows.astype(trial_dtype), counts)
    relative_ms = np.concatenate([repeat.spike_times_ms for raw_set in unit.sets for repeat in raw_set.repeats]
                                 or [np.empty(0)])
    absolute_s = start_s[trial] + relative_ms / 1000.0
    # Sorting by absolute time sorts within each trial too (trials are in time order).
    order = np.lexsort((trial, absolute_s))
    return absolute_s[order], trial[order]


def computed_noise_ratio(unit: RawUnit) -> float:
    """:func:`ns1nwb.metrics.unit_noise_ratio` of the unit's natural-sound responses: every repeat of every
    natural sound, pooled over the sounds with at least 2 repeats (NaN when none has)."""
    natural = sorted((s for s in unit.sets if s.stimulus_index < N_NATURAL and s.repeats),
                     key=lambda s: s.stimulus_index)
    if not natural:
        return float("nan")
    spike_times = [[r.spike_times_ms for r in s.repeats] for s in natural]
    sweeps = [s.length_signal_ms if s.length_signal_ms is not None else DEFAULT_SWEEP_MS for s in natural]
    return unit_noise_ratio(spike_times, sweeps)


def _missing(dtype: str) -> Any:
    """The value a unit column holds where the raw release has none (see the column's description)."""
    if dtype == "text":
        return ""
    if dtype.startswith("float"):
        return float("nan")
    return MISSING_INT.get(dtype, -1)


def metadata_columns(units: list[RawUnit], fields: list[str]) -> list[tuple[str, str, str, list[Any]]]:
    """(name, dtype, description, values) of every metadata-derived unit column; clusters the metadata does
    not name hold the column's missing value (NaN, '' or its documented sentinel)."""
    specs = column_specs()["units"]
    known = {c["source"].split(":", 1)[1]: c for c in specs if c["source"].startswith("metadata:")}
    path_field = "path" if "path" in fields else fields[0]
    listed = [u for u in units if u.in_metadata]
    columns = []
    for field_name, column in unit_column_names(fields).items():
        values = [u.metadata.get(field_name) for u in units]
        spec = known.get(field_name)
        if field_name == path_field:
            columns.append((column, "text", described(known["path"]), [u.unit_name for u in units]))
        elif spec is not None:
            missing = _missing(spec["dtype"])
            columns.append((spec["name"], spec["dtype"], described(spec),
                            [missing if v is None else v for v in values]))
        else:
            # A field the spec does not name: keep it with the most faithful type.
            present = [u.metadata.get(field_name) for u in listed]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present) and \
                    (len(listed) == len(units) or not all(isinstance(v, bool) for v in present)):
                dtype = "int64" if all(isinstance(v, int) for v in present) and len(listed) == len(units) \
                    else "float64"
            elif all(isinstance(v, bool) for v in present) and len(listed) == len(units):
                dtype = "bool"
            else:
                dtype = "text"
                values = [v if isinstance(v, str) or v is None else json.dumps(v) for v in values]
            missing = _missing(dtype)
            columns.append((column, dtype,
                            f"Raw metadata field {field_name!r} of MetadataSHEnCneurons.mat, kept as is"
                            + (f" ({missing!r} for clusters the metadata does not name)." if len(listed) < len(units)
                               else "."),
                            [missing if v is None else v for v in values]))
    return columns


def add_units_to_nwbfile(nwbfile: "NWBFile", ctx: BuildContext, layout: TrialLayout,
                         electrode_rows: dict[tuple[str, int], int]) -> None:
    """The units table: every spike of every set, metadata columns, electrodes and observation intervals."""
    from hdmf.common import DynamicTableRegion, ElementIdentifiers
    from pynwb.misc import Units

    session_of = {i: session_id_of(b, ctx.plan.clock) for b in ctx.blocks for i in b.unit_indices}
    subject_of = {i: subject_id_of(b) for b in ctx.blocks for i in b.unit_indices}
    indices = ctx.unit_indices
    units = [ctx.release.units[i] for i in indices]
    spec = specs_of("units")

    # The smallest unsigned type that holds every trial row (uint16 for the release's 6,900).
    trial_dtype = np.min_scalar_type(max(len(layout.start_s) - 1, 0))
    ends = np.cumsum([unit.n_spikes for unit in units])
    # Filled unit by unit (joining 119 arrays afterwards would cost as much again).
    spike_times = np.empty(ends[-1])
    trial = np.empty(ends[-1], dtype=trial_dtype)
    # Observed: each recorded sweep of the unit, nothing between sweeps.
    observed = [np.sort(layout.repeat_rows[index]) for index in indices]
    for index, unit, stop in zip(indices, units, ends):
        absolute_s, trial_rows = unit_spikes(unit, layout.repeat_rows[index], layout.start_s, trial_dtype)
        spike_times[stop - absolute_s.size:stop] = absolute_s
        trial[stop - absolute_s.size:stop] = trial_rows
    obs_rows = np.concatenate(observed)
    obs = np.stack([layout.start_s[obs_rows], layout.stop_s[obs_rows]], axis=1)
    clock = clock_statement(ctx)
    # Chunks of 128k spikes (~1 MB): a one-unit read decompresses little, a bulk read few chunks.
    spike_chunks = (min(max(ends[-1], 1), 131072),)
    columns = ragged("spike_times", f"Spike times, s, on the file clock ({clock}): trial start_time + raw spike "
                     "time. Ascending within each unit.", compressed(spike_times, spike_chunks), ends)
    # Chunked and compressed like spike_times, so that one unit's few hundred intervals read over HTTP cost
    # one small chunk, not the whole table (4 MB in the release's file).
    obs_chunks = (min(max(len(obs), 1), OBS_CHUNK_ROWS), 2)
    columns += ragged("obs_intervals", "The recorded sweeps of the unit, one interval per presentation it was "
                      "recorded in: [start_time, stop_time] of its trials, s, on the file clock. Time between "
                      "sweeps was not recorded.", compressed(obs, obs_chunks),
                      np.cumsum([rows.size for rows in observed]))
    sites = [(u.probe_group, site_of(u)) for u in units]
    if electrode_rows:
        electrode_index = [[electrode_rows[s]] if s[1] is not None else [] for s in sites]
        columns += ragged("electrodes", "The recording site of the unit; none for a cluster the metadata does not "
                          "name (its site is unknown).", np.asarray([i for e in electrode_index for i in e], dtype=int),
                          np.cumsum([len(e) for e in electrode_index]), cls=DynamicTableRegion, table=nwbfile.electrodes)
    columns.append(vector("electrode_group", "Probe or shank of the unit (from its spike file's folders).",
                          [nwbfile.electrode_groups[electrode_group_name(u)] for u in units]))
    columns += [vector(name, description, column_data(values, dtype))
                for name, dtype, description, values in metadata_columns(units, ctx.release.metadata_fields)]
    derived = {
        "spike_file": [Path(os.path.relpath(u.spike_file, ctx.release.root / SPIKES_DIR)).as_posix() for u in units],
        "metadata_row": [u.metadata_row if u.in_metadata else -1 for u in units],
        "in_metadata": [u.in_metadata for u in units],
        "cluster_quality": [u.cluster_quality if u.cluster_quality is not None else -1 for u in units],
        "noise_ratio_computed": [computed_noise_ratio(u) for u in units],
        "subject_id": [subject_of[i] for i in indices],
        "session_id": [session_of[i] for i in indices],
    }
    listed = [u for u in units if u.in_metadata]
    # Decided by the whole metadata, not by this file's units: a per-session file of clusters the metadata
    # does not name has the column too (all False), as every file of a --dandi folder must agree.
    if all("singleT" in u.metadata and isinstance(u.metadata.get("depth"), (int, float))
           for u in ctx.release.units if u.in_metadata):
        derived["is_good"] = [u.in_metadata and u.metadata["singleT"] in GOOD_LABELS and u.metadata["depth"] >= 0
                              for u in units]
    columns += [vector(name, described(spec[name]), column_data(values, spec[name]["dtype"]))
                for name, values in derived.items()]
    columns += ragged("spike_trial", described(spec["spike_trial"]), compressed(trial, spike_chunks), ends)
    n_other = len(units) - len(listed)
    nwbfile.units = Units(
        name="units",
        id=ElementIdentifiers(name="id", data=np.arange(len(units))),
        columns=columns,
        resolution=1.0 / SPIKE_CLOCK_HZ,
        electrode_table=nwbfile.electrodes,
        description=(
            "Sorted units (clusters) of the NS1 release: the units of MetadataSHEnCneurons.mat in metadata order"
            + (f", then {n_other} clusters the metadata does not name, in path order (in_metadata False)"
               if n_other else "")
            + ". spike_times holds every spike of all 32 stimulus sets (including spikes after the 4995-ms response "
            f"window), ascending, in seconds on the file clock ({clock}); spike_trial gives each spike's trial "
            "row, obs_intervals the recorded sweeps."),
    )
