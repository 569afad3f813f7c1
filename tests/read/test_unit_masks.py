"""Issue 25, item 1 (and its LOW rows on units and smooth): a boolean pandas Series selects units by its index,
as pandas does, wherever units are taken (``response_grid``, ``read_lists``/``NS1Dataset``); an index that is not
the rows of ``rec.units`` is refused. A 0-d integer array is one unit, a slice selects by position, and
``smooth`` is True or False only."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import ns1nwb
from ns1nwb.deepstrf.lists import read_lists
from ns1nwb.read.selection import unit_positions


@pytest.fixture(scope="module")
def rec(sample_nwb):
    with ns1nwb.open(sample_nwb) as recording:
        yield recording


def _reordered(mask: pd.Series, key: pd.Series) -> pd.Series:
    """``mask`` in the order of ``key`` (its index permuted), checked to differ from ``mask`` by position."""
    moved = mask.loc[key.sort_values(kind="stable").index]
    assert not np.array_equal(moved.to_numpy(), mask.to_numpy()), "the reordering must move the mask"
    return moved


def test_a_reordered_mask_selects_by_its_index(rec):
    """The issue's example: ``rec.units.sort_values("depth_um").is_good`` selects the good units."""
    units = rec.units
    by_depth = units.sort_values("depth_um", kind="stable").is_good
    assert not np.array_equal(by_depth.to_numpy(), units.is_good.to_numpy())
    good = np.flatnonzero(units.is_good.to_numpy())
    np.testing.assert_array_equal(rec.response_grid(units=by_depth, stimuli=[3]),
                                  rec.response_grid(units=good, stimuli=[3]))


@pytest.mark.parametrize("column, order_by", [("many_spikes", "unit_name"), ("even", "n_spikes"),
                                              ("is_good", "-noise_ratio")])
def test_any_mask_in_any_order_is_aligned(rec, column, order_by):
    units = rec.units
    masks = {"many_spikes": units.n_spikes > units.n_spikes.median(), "even": pd.Series(units.index % 2 == 0),
             "is_good": units.is_good}
    mask = masks[column]
    key = -units[order_by[1:]] if order_by.startswith("-") else units[order_by]
    moved = _reordered(mask, key)
    expected = list(np.flatnonzero(mask.to_numpy()))
    assert unit_positions(moved, len(units), lambda: units.unit_name) == expected
    # pandas' nullable boolean holds the same values
    assert unit_positions(moved.astype("boolean"), len(units), lambda: units.unit_name) == expected


def test_a_numpy_mask_or_list_is_positional(rec):
    mask = rec.units.sort_values("unit_name").is_good
    as_array = mask.to_numpy()
    assert unit_positions(as_array, len(rec.units), lambda: []) == list(np.flatnonzero(as_array))
    assert unit_positions(list(as_array), len(rec.units), lambda: []) == list(np.flatnonzero(as_array))


def test_the_deepstrf_lists_align_a_mask_too(rec, sample_nwb):
    """Another place that takes units: ``read_lists`` (``NS1Dataset(units=...)``) goes through the same function."""
    moved = _reordered(rec.units.is_good, rec.units.depth_um)
    expected = read_lists(sample_nwb, units=list(np.flatnonzero(rec.units.is_good.to_numpy())))
    got = read_lists(sample_nwb, units=moved)
    assert got.nrn_meta == expected.nrn_meta
    np.testing.assert_array_equal(got.responses[2][0], expected.responses[2][0])
    with pytest.raises(ValueError, match=f"^{re.escape(str(sample_nwb))}: a boolean unit mask .*applied by its index"):
        read_lists(sample_nwb, units=rec.units.is_good[rec.units.is_good])


@pytest.mark.parametrize("make", [
    pytest.param(lambda units: units.is_good[units.is_good], id="filtered: fewer labels"),
    pytest.param(lambda units: units.is_good.set_axis(units.index + 1), id="labels shifted by one"),
    pytest.param(lambda units: units.is_good.set_axis(units.unit_name), id="labels are names"),
    pytest.param(lambda units: units.is_good.set_axis([0] * len(units)), id="a label twice"),
    pytest.param(lambda units: pd.concat([units.is_good, pd.Series([True], index=[len(units)])]),
                 id="one label more"),
])
def test_a_mask_whose_index_is_not_the_units_rows_is_refused(rec, make):
    with pytest.raises(ValueError, match="applied by its index, which must hold the rows of rec.units, 0-7") as caught:
        rec.response_grid(units=make(rec.units), stimuli=[0])
    assert "\n" not in str(caught.value)


def test_a_mask_with_missing_values_still_says_so_after_alignment(rec):
    mask = rec.units.is_good.astype(object)
    mask.iloc[2] = np.nan
    with pytest.raises(ValueError, match="holds 1 missing values"):
        rec.response_grid(units=mask.iloc[::-1], stimuli=[0])


# --------------------------------------------------------------------------- 0-d arrays, slices, smooth


def test_a_zero_dimensional_integer_array_is_one_unit(rec):
    expected = rec.response_grid(units=[3], stimuli=[1])
    for unit in (np.array(3), np.array(3, dtype=np.uint8), np.array(-5)):
        np.testing.assert_array_equal(rec.response_grid(units=unit, stimuli=[1]), expected)
    np.testing.assert_array_equal(rec.response_grid(units=np.array(rec.units.unit_name[3]), stimuli=[1]), expected)
    for bad in (np.array(3.0), np.array(True)):
        with pytest.raises(TypeError, match="units|integer") as caught:
            rec.response_grid(units=bad, stimuli=[1])
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("chosen", [slice(2, 5), slice(None, None, -1), slice(None), slice(-3, None), slice(1, 7, 3),
                                    slice(6, 2)])
def test_a_slice_selects_rows_by_position(rec, chosen):
    positions = list(range(8))[chosen]
    assert unit_positions(chosen, 8, lambda: []) == positions
    grid = rec.response_grid(units=chosen, stimuli=[0])
    assert grid.shape[0] == len(positions)
    if positions:
        np.testing.assert_array_equal(grid, rec.response_grid(units=positions, stimuli=[0]))


@pytest.mark.parametrize("units", [object(), 3 + 0j, print])
def test_what_is_no_selection_is_one_type_error(rec, units):
    with pytest.raises(TypeError) as caught:
        rec.response_grid(units=units, stimuli=[0])
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("smooth", ["no", "False", 0, 1, None, 1.0, [True]])
def test_smooth_is_true_or_false_only(rec, smooth):
    with pytest.raises(TypeError, match="smooth must be True or False"):
        rec.response_grid(units=[0], stimuli=[0], smooth=smooth)


def test_smooth_accepts_numpy_booleans(rec):
    np.testing.assert_array_equal(rec.response_grid(units=[0], stimuli=[0], smooth=np.bool_(False)),
                                  rec.response_grid(units=[0], stimuli=[0], smooth=False))
