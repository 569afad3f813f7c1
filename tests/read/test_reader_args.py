"""Issues 15.9 and 16.16: reader arguments are taken as given or refused in one line, never truncated.

Duplicated stimuli come back twice; a smoothing window that is negative, not finite or longer than the
4995-ms response window is refused; float indices are refused (even integral ones, as Python and numpy
refuse them); every method of a closed recording says it is closed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import ns1nwb


@pytest.fixture(scope="module")
def rec(sample_nwb):
    with ns1nwb.open(sample_nwb) as recording:
        yield recording


@pytest.mark.parametrize("stimuli", [[3, 3], [3, 5, 3], [25, 20, 25, 25]])
def test_duplicated_stimuli_come_back_each_time(rec, stimuli):
    once = {s: rec.response_grid(stimuli=[s]) for s in set(stimuli)}
    grid = rec.response_grid(stimuli=stimuli)
    assert grid.shape[:2] == (8, len(stimuli))
    for slot, s in enumerate(stimuli):
        np.testing.assert_array_equal(grid[:, slot], once[s][:, 0])
    assert not np.isnan(grid).any()


def test_duplicated_units_and_stimuli_together(rec):
    grid = rec.response_grid(units=[4, 1, 4], stimuli=[7, 7], smooth=False)
    single = rec.response_grid(units=[4, 1], stimuli=[7], smooth=False)
    np.testing.assert_array_equal(grid[:, 0], single[[0, 1, 0], 0])
    np.testing.assert_array_equal(grid[:, 1], single[[0, 1, 0], 0])


@pytest.mark.parametrize("window_ms", [-1, -0.5, math.nan, math.inf, -math.inf, 4995.5, 5000, 1e6])
def test_a_bad_window_is_one_line_error(rec, window_ms):
    with pytest.raises(ValueError, match="window_ms") as caught:
        rec.response_grid(units=[0], stimuli=[0], window_ms=window_ms)
    assert "\n" not in str(caught.value) and "4995" in str(caught.value)
    with pytest.raises(ValueError, match="window_ms"):  # checked even when unused
        rec.response_grid(units=[0], stimuli=[0], window_ms=window_ms, smooth=False)


@pytest.mark.parametrize("window_ms", ["21", None, True])
def test_a_window_that_is_not_a_number_is_a_type_error(rec, window_ms):
    with pytest.raises(TypeError, match="window_ms"):
        rec.response_grid(units=[0], stimuli=[0], window_ms=window_ms)


def test_the_edges_of_the_window_range_are_accepted(rec):
    counts = rec.response_grid(units=[2], stimuli=[1], smooth=False)
    # 0 ms: np.hanning(1) = [1], the raw counts.
    np.testing.assert_array_equal(rec.response_grid(units=[2], stimuli=[1], window_ms=0), counts)
    wide = rec.response_grid(units=[2], stimuli=[1], window_ms=4995, dt_ms=5)
    assert wide.shape == counts.shape and np.isfinite(wide).all()


@pytest.mark.parametrize("dt_ms", [0, -5, 2.5, math.nan, math.inf, 4996, 10_000])
def test_a_bad_bin_width_is_one_line_error(rec, dt_ms):
    with pytest.raises(ValueError, match="dt_ms") as caught:
        rec.response_grid(units=[0], stimuli=[0], dt_ms=dt_ms)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("units", [[0.7], 0.7, [1, 2.9], np.array([0.0, 1.0]), [3.0], [True, 1]])
def test_float_unit_indices_are_refused(rec, units):
    with pytest.raises(TypeError, match="unit index must be an integer"):
        rec.response_grid(units=units, stimuli=[0])


@pytest.mark.parametrize("stimuli", [[2.9], 2.9, [1, 0.5], np.arange(3.0), [3.0], ["nat01"]])
def test_float_stimulus_indices_are_refused(rec, stimuli):
    with pytest.raises(TypeError, match="stimul"):
        rec.response_grid(units=[0], stimuli=stimuli)


def test_other_methods_refuse_float_indices_too(rec):
    with pytest.raises(TypeError):
        rec.trial_spike_times_ms(0.7, 3, 0)
    with pytest.raises(TypeError):
        rec.trial_spike_times_ms(0, 2.9, 0)
    with pytest.raises(TypeError):
        rec.trial_spike_times_ms(0, 3, 1.5)
    with pytest.raises(TypeError):
        rec.waveform(2.9)
    with pytest.raises(TypeError):
        rec.to_neo(unit=0.7)


def test_integer_types_of_every_kind_are_accepted(rec):
    expected = rec.response_grid(units=[1, 3], stimuli=[2, 4])
    np.testing.assert_array_equal(rec.response_grid(units=np.array([1, 3], dtype=np.uint8),
                                                    stimuli=np.array([2, 4], dtype=np.int16)), expected)
    np.testing.assert_array_equal(rec.response_grid(units=rec.units.index[[1, 3]], stimuli=range(2, 5, 2)),
                                  expected)
    np.testing.assert_array_equal(rec.response_grid(units=np.int64(1), stimuli=np.int32(2)), expected[:1, :1])


def test_out_of_range_indices_stay_index_errors(rec):
    with pytest.raises(IndexError, match="unit index 8"):
        rec.response_grid(units=[8])
    with pytest.raises(IndexError, match="stimulus 32 out of range 0-31"):
        rec.response_grid(stimuli=[32])
    with pytest.raises(IndexError, match="stimulus -1"):
        rec.response_grid(stimuli=[-1])


def test_every_method_of_a_closed_recording_says_so(sample_nwb):
    rec = ns1nwb.open(sample_nwb)
    rec.units  # cached tables are not a way round it either
    rec.close()
    rec.close()  # twice is fine
    assert "closed" in repr(rec)
    calls = {
        "units": lambda: rec.units,
        "stimuli": lambda: rec.stimuli,
        "audio_rate": lambda: rec.audio_rate,
        "files": lambda: rec.files,
        "response_grid": lambda: rec.response_grid(),
        "response_grid of one unit": lambda: rec.response_grid(units=[0], stimuli=[0]),
        "trial_spike_times_ms": lambda: rec.trial_spike_times_ms(0, 0, 0),
        "spectrogram": lambda: rec.spectrogram(3),
        "waveform": lambda: rec.waveform(3),
        "to_neo": lambda: rec.to_neo(unit=0),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=r": the recording is closed") as caught:
            call()
        assert str(sample_nwb) in str(caught.value), name


def test_leaving_a_with_block_closes(sample_nwb):
    with ns1nwb.open(sample_nwb) as rec:
        pass
    with pytest.raises(ValueError, match="the recording is closed"):
        rec.response_grid(units=[0], stimuli=[0])
