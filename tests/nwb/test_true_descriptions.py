"""Descriptions that are true (issue 22, item C): depth formulas per probe family, the spike-time grid, the
inferred onsets and pascals, no unsourced claims, no area for a probe the release names no unit of."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from ns1nwb.constants import SPIKE_CLOCK_HZ, STIMULI
from ns1nwb.nwb.electrodes import PRIMARY_AC, UNKNOWN_LOCATION


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _depth_rows(path: Path) -> list[tuple[str, int, int, float]]:
    """(experiment folder, site, sites, depth_um) of every unit with a site."""
    with h5py.File(path, "r") as f:
        units, electrodes = f["units"], f["general/extracellular_ephys/electrodes"]
        ends = units["electrodes_index"][:]
        rows = units["electrodes"][:]
        files = [_text(v) for v in units["spike_file"][:]]
        site, count, depth = (electrodes[c][:] for c in ("site_number", "probe_site_count", "depth_um"))
    out, start = [], 0
    for file, end in zip(files, ends):
        for row in rows[start:end]:
            out.append((file.split("/")[0], int(site[row]), int(count[row]), float(depth[row])))
        start = end
    return out


@pytest.mark.parametrize("tree", ["sample", "real"])
def test_depth_follows_the_formula_its_description_gives(tree, request):
    path = request.getfixturevalue(f"{tree}_nwb")
    rows = _depth_rows(path)
    assert {experiment.startswith("dataAC") for experiment, *_ in rows} == {True, False}
    for experiment, site, count, depth in rows:
        first = 3 if experiment.startswith("dataAC") else 2
        assert depth == (site - first) * 1600 / count, (experiment, site, count, depth)
    with h5py.File(path, "r") as f:
        description = _text(f["general/extracellular_ephys/electrodes/depth_um"].attrs["description"])
    assert "(site_number - 2) * 1600 / probe_site_count" in description
    assert "(site_number - 3) * 1600 / probe_site_count" in description and "dataAC" in description


def test_spike_times_are_on_the_sample_grid_relative_to_their_trial_only(real_nwb):
    with h5py.File(real_nwb, "r") as f:
        times = f["units/spike_times"][:]
        start = f["intervals/trials/start_time"][:][f["units/spike_trial"][:]]
        text = _text(f["general/data_collection"][()])
    samples = (times - start) * SPIKE_CLOCK_HZ
    assert np.abs(samples - np.round(samples)).max() < 0.01  # the stored ms's rounding only
    start_samples = start * SPIKE_CLOCK_HZ
    off = np.abs(start_samples - np.round(start_samples)) > 1e-6
    assert 0.98 < off.mean() < 1.0 and abs(off.mean() - 127 / 128) < 0.01
    assert round(100 * off.mean()) == int(re.search(r"\((\d+) % of the release's spike times\)", text).group(1))
    assert "multiple of 1/24414.0625 s" in text and "127" in text and "1-ms clock reading" in text


def test_pascals_and_onsets_are_called_inferences(real_nwb):
    with h5py.File(real_nwb, "r") as f:
        for index, info in enumerate(STIMULI[:20]):
            series = f[f"stimulus/templates/{info.name}_waveform"]
            description = _text(series.attrs["description"])
            assert "inferred to be in pascals" in description and "within 0.0001 dB" in description
            samples = series["data"][:].astype(np.float64)
            assert abs(94 + 20 * np.log10(np.sqrt(np.mean(samples ** 2))) - info.nominal_level_db_spl) < 1e-4
        onset = _text(f["intervals/trials/onset_wall_clock"].attrs["description"])
        start = _text(f["intervals/recording_blocks/wall_clock_start"].attrs["description"])
    assert "read to 1 ms" in onset and "inferred" in onset
    assert "1-ms clock reading" in start and "inferred" in start


def _all_text(path: Path) -> str:
    parts: list[str] = []
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            parts.extend(_text(v) for v in obj.attrs.values() if isinstance(v, (str, bytes)))
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "OS" and obj.ndim == 0:
                parts.append(_text(obj[()]))
        f.visititems(visit)
    return "\n".join(parts)


def test_no_claim_without_a_source(sample_nwb):
    text = _all_text(sample_nwb).lower()
    for claim in ("neuronexus", "diotic", "earphone", "true onset", "true start"):
        assert claim not in text, claim


def test_a_probe_of_clusters_the_metadata_does_not_name_gets_no_area(cluster_nwbs):
    """The --all-clusters file of ``cluster_raw``: clusters beside metadata units (cluster.03 and .09 in
    exp45_1x32/P04: their probe's area) and one in a folder of its own (exp45_1x32/P05)."""
    _, out, _ = cluster_nwbs
    with h5py.File(out, "r") as f:
        groups = f["general/extracellular_ephys"]
        locations = {name: _text(groups[name].attrs["location"]) for name in groups
                     if isinstance(groups[name], h5py.Group) and "location" in groups[name].attrs}
        electrode_locations = {_text(v) for v in f["general/extracellular_ephys/electrodes/location"][:]}
    unknown = [name for name, where in locations.items() if where == UNKNOWN_LOCATION]
    assert len(unknown) == 1 and "P05" in unknown[0]
    assert set(locations.values()) == {PRIMARY_AC, UNKNOWN_LOCATION}
    assert electrode_locations == {PRIMARY_AC}
