"""What deepSTRF's ``NS1Dataset`` is made of, read from an ns1nwb file as numpy arrays: no torch here.

:func:`read_lists` opens a file, a ``--dandi`` folder or an http(s) URL with :func:`ns1nwb.open` and returns the
lists of deepSTRF's dataset contract (``stims``, ``responses``, ``stim_meta``, ``nrn_meta``) as numpy arrays and
plain dicts, with the seed's values: :class:`ns1nwb.deepstrf.NS1Dataset` only turns them into tensors (and
resamples waveforms). Everything is read through the reader's public API; a URL is read only where needed
(the asked units' spikes, the 20 spectrograms, and the waveforms only when they are asked for).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..constants import (
    DEFAULT_DT_MS,
    DEFAULT_WINDOW_MS,
    N_BANDS,
    N_NATURAL,
    TEST_STIMULI,
    WAV_HEADER_RATE_HZ,
    WAV_TRUE_RATE_HZ,
)
from ..exceptions import NwbContentError
from ..read import Recording
from ..read import open as open_recording
from ..read.grid import bin_layout
from ..read.selection import unit_positions

__all__ = [
    "DatasetLists",
    "read_lists",
    "NS1_RAHMAN_TRAINVAL_INDICES",
    "NS1_RAHMAN_TEST_INDICES",
    "SPECIES",
    "HEARING_RANGE_HZ",
]

#: The train/validation and test stimuli of Rahman et al. (2020), as the seed lists them (0-based, natural sounds).
NS1_RAHMAN_TEST_INDICES = list(TEST_STIMULI)
NS1_RAHMAN_TRAINVAL_INDICES = [s for s in range(N_NATURAL) if s not in TEST_STIMULI]
#: The seed's informational species facts (ferret audiogram, roughly 200 Hz - 40 kHz).
SPECIES = "ferret"
HEARING_RANGE_HZ = (200.0, 40000.0)
#: Every NS1 unit is in primary auditory cortex; the seed writes this for each.
AREA = "A1"

# nrn_meta key -> (units column, conversion); the seed's keys, in its order.
_NEURON_COLUMNS = {
    "cell_id": ("unit_name", str),
    "depth_um": ("depth_um", float),
    "noise_ratio": ("noise_ratio", float),
    "single_n": ("single_unit_code", int),
    "single_t": ("single_unit_label", str),
    "n_electrodes": ("probe_site_count", int),
    "electrode_number": ("site_number", int),
}


@dataclass
class DatasetLists:
    """The contents of a deepSTRF NS1 dataset, as numpy arrays and plain dicts.

    Attributes
    ----------
    source : str
        The file, folder or URL read.
    dt_ms : float
        Bin width, whole milliseconds.
    responses : list of list of np.ndarray
        ``responses[s][n]``: float32 ``(R, T)`` for stimulus ``s`` (0-19) and unit ``n``, the recorded repeats
        only, ``T = floor(4995 / dt_ms)``; a ``(1, 1)`` NaN array when the unit was not recorded in it.
    stims : list of np.ndarray
        Spectrograms: float32 ``(1, 34, T)`` dB. Waveforms (``waveforms=True``): the whole stored native samples,
        float32 ``(n_samples,)``, at :attr:`waveform_rate_hz`.
    waveform_rate_hz : int or None
        The rate the waveforms are resampled from: the wav header's 48828 Hz, as deepSTRF reads it. None for
        spectrograms.
    stim_meta : list of dict
        ``{"name": "nat01", "type": "water_sounds"}`` per stimulus.
    nrn_meta : list of dict
        Per unit: ``cell_id``, ``area``, ``depth_um``, ``noise_ratio``, ``single_n``, ``single_t``,
        ``n_electrodes``, ``electrode_number``.
    """

    source: str
    dt_ms: float
    responses: list[list[np.ndarray]]
    stims: list[np.ndarray]
    waveform_rate_hz: int | None
    stim_meta: list[dict[str, Any]]
    nrn_meta: list[dict[str, Any]]


def read_lists(path: str | os.PathLike, dt_ms: float = DEFAULT_DT_MS, smooth: bool = True, *,
               waveforms: bool = False, units: Any = None) -> DatasetLists:
    """Read the lists of a deepSTRF NS1 dataset from an ns1nwb file, ``--dandi`` folder or URL.

    Parameters
    ----------
    path : str or PathLike
        What :func:`ns1nwb.open` takes: a pooled ``.nwb``, a folder of per-session files, or an http(s) URL.
    dt_ms : float, whole milliseconds from 1 to 4995, default 5
        Bin width of the responses and, for spectrograms, frame step of the cochleagram.
    smooth : bool, default True
        Smooth the responses with the seed's 21-ms Hanning kernel (as ``response_grid(smooth=True)``).
    waveforms : bool, default False
        Stims are the stored native waveforms instead of spectrograms (the file must hold them, as the
        default conversion does; not ``--audio-rate HZ``).
    units : None, int, str, sequence of int or str, or boolean mask
        The units, as ``Recording.response_grid`` takes them; None for every unit of the file (every cluster
        of an ``--all-clusters`` file).

    Returns
    -------
    DatasetLists

    Raises
    ------
    NwbContentError
        The file cannot be read, or lacks what is asked (spectrograms, native waveforms, unit columns).
    ValueError, TypeError, KeyError, IndexError
        A bad ``dt_ms`` or unit selection; every message starts with the file.
    """
    source = str(path)
    width = _check_dt_ms(dt_ms, source)
    with open_recording(path) as rec:
        positions = _unit_positions(units, rec, source)
        nrn_meta = _neuron_meta(rec, positions, source)
        stimuli = rec.stimuli
        missing = [c for c in ("stimulus_name", "sound_category") if c not in stimuli.columns]
        if missing:
            raise NwbContentError(f"{source}: the stimuli table has no {missing[0]!r} column")
        stim_meta = [{"name": str(stimuli.loc[s, "stimulus_name"]), "type": str(stimuli.loc[s, "sound_category"])}
                     for s in range(N_NATURAL)]
        if waveforms:
            stims, rate = _native_waveforms(rec, source), WAV_HEADER_RATE_HZ
        else:
            stims, rate = _spectrograms(rec, width, source), None
        grid = rec.response_grid(units=positions, stimuli=range(N_NATURAL), dt_ms=width, smooth=smooth,
                                 window_ms=DEFAULT_WINDOW_MS)
    return DatasetLists(source=source, dt_ms=float(width), responses=_response_lists(grid), stims=stims,
                        waveform_rate_hz=rate, stim_meta=stim_meta, nrn_meta=nrn_meta)


# --------------------------------------------------------------------------- arguments


def _check_dt_ms(dt_ms: Any, source: str) -> int:
    """``dt_ms`` as whole milliseconds, 1 to 4995 (the reader's one check, :func:`ns1nwb.read.grid.bin_layout`),
    its error naming the file."""
    try:
        return bin_layout(dt_ms)[0]
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None


def _unit_positions(units: Any, rec: Recording, source: str) -> list[int]:
    """Rows of ``rec.units`` that ``units`` asks for, in order: the reader's rules (a boolean pandas Series by its
    index), its errors naming the file; at least one unit."""
    table = rec.units
    try:
        positions = unit_positions(units, len(table), lambda: list(table["unit_name"]))
    except (TypeError, ValueError, KeyError, IndexError) as err:
        raise type(err)(f"{source}: {err.args[0] if err.args else err}") from None
    if not positions:
        raise ValueError(f"{source}: the units argument selects no unit (a deepSTRF dataset needs at least one)")
    return positions


# --------------------------------------------------------------------------- the lists


def _neuron_meta(rec: Recording, positions: list[int], source: str) -> list[dict[str, Any]]:
    """The seed's ``nrn_meta`` dicts, from the units table.

    A cluster the metadata does not name (``--all-clusters``) has what the file stores for it: NaN depth and
    noise ratio, ``single_n`` -1, ``single_t`` '' and 0 electrodes.
    """
    table = rec.units
    missing = [column for column, _ in _NEURON_COLUMNS.values() if column not in table.columns]
    if missing:
        raise NwbContentError(f"{source}: the units table has no {missing[0]!r} column (not an ns1nwb file?)")
    rows = table.iloc[positions]
    columns = {key: rows[column].tolist() for key, (column, _) in _NEURON_COLUMNS.items()}
    meta = []
    for i in range(len(positions)):
        entry = {key: convert(columns[key][i]) for key, (_, convert) in _NEURON_COLUMNS.items()}
        # The seed's depth is the metadata's integer; NaN (not in the metadata) stays a float.
        if math.isfinite(entry["depth_um"]):
            entry["depth_um"] = int(entry["depth_um"])
        meta.append({"cell_id": entry.pop("cell_id"), "area": AREA, **entry})
    return meta


def _response_lists(grid: np.ndarray) -> list[list[np.ndarray]]:
    """``grid`` (n_units, S, R, T) -> ``[s][n]`` arrays of the recorded repeats, or the (1, 1) NaN sentinel.

    The reader marks a presentation a unit was not recorded in with a whole NaN row; those rows go, since
    deepSTRF's responses are ragged in R.
    """
    n_units, n_stimuli = grid.shape[:2]
    recorded = ~np.isnan(grid[..., 0]) if grid.shape[3] else np.zeros(grid.shape[:3], dtype=bool)
    sentinel = np.full((1, 1), np.nan, dtype=np.float32)
    lists: list[list[np.ndarray]] = []
    for s in range(n_stimuli):
        row = []
        for n in range(n_units):
            kept = recorded[n, s]
            if kept.all() and kept.size:
                row.append(grid[n, s])  # a view: no copy for the common, complete case
            elif kept.any():
                row.append(np.ascontiguousarray(grid[n, s][kept]))
            else:
                row.append(sentinel.copy())
        lists.append(row)
    return lists


def _spectrograms(rec: Recording, width: int, source: str) -> list[np.ndarray]:
    """(1, 34, T) float32: the stored spectrogram at 5 ms, the cochleagram of the stored waveform at any other step."""
    stored = width == DEFAULT_DT_MS
    stims = []
    for s in range(N_NATURAL):
        try:
            levels = rec.spectrogram(s) if stored else rec.spectrogram(s, dt_ms=width)
        except KeyError:
            what = "spectrogram" if stored else f"waveform to compute a {width}-ms cochleagram from"
            raise NwbContentError(f"{source}: stimulus {s} has no stored {what} (converted from a raw tree "
                                  "without spikesandwav/SH.En.C?)") from None
        if levels.shape[0] != N_BANDS:
            raise NwbContentError(f"{source}: stimulus {s}'s spectrogram has {levels.shape[0]} bands, not {N_BANDS}")
        stims.append(levels[np.newaxis])
    return stims


def _native_waveforms(rec: Recording, source: str) -> list[np.ndarray]:
    """The 20 whole stored waveforms, float32, at the native rate.

    The whole sound, not ``Recording.waveform``'s 4995-ms cut: the resampler's filter reaches a few samples past
    the last kept output sample, and deepSTRF resamples the whole wav before cropping.
    """
    rate = rec.audio_rate
    if rate is None:
        raise NwbContentError(f"{source}: holds no stimulus waveforms, which return_waveform=True needs "
                              "(convert from a raw tree with spikesandwav/SH.En.C, without --audio-rate)")
    if rate != WAV_TRUE_RATE_HZ:
        raise NwbContentError(f"{source}: holds waveforms resampled to {rate:g} Hz, not the native samples that "
                              "return_waveform=True resamples as deepSTRF does; convert without --audio-rate")
    names = rec.stimuli["waveform_series"]
    h5 = rec.files[0].h5
    waveforms = []
    for s in range(N_NATURAL):
        if not names[s]:
            raise NwbContentError(f"{source}: stimulus {s} has no stored waveform")
        waveforms.append(np.asarray(h5[f"stimulus/templates/{names[s]}/data"][:], dtype=np.float32))
    return waveforms
