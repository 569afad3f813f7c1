"""deepSTRF's ``NS1Dataset`` over ns1nwb files: a real :class:`AudioNeuralDataset` subclass.

Needs deepSTRF and its torch stack (``pip install '.[deepstrf]'`` in the clone); importing this module without them
raises :class:`~ns1nwb.exceptions.MissingDependencyError` with one line saying what to install.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np

from ..constants import DEFAULT_DT_MS, N_BANDS, RESPONSE_WINDOW_MS
from ..exceptions import MissingDependencyError
from .lists import (
    HEARING_RANGE_HZ,
    NS1_RAHMAN_TEST_INDICES,
    NS1_RAHMAN_TRAINVAL_INDICES,
    SPECIES,
    read_lists,
)

try:
    import torch
    from deepSTRF.datasets.audio.audio_dataset import AudioNeuralDataset
except ImportError as err:  # deepSTRF missing, or its torch stack broken: one line saying which and what to do
    raise MissingDependencyError(
        "ns1nwb.deepstrf.NS1Dataset needs deepSTRF and its torch stack, which could not be imported "
        f"({' '.join(str(err).split())}); in the ns1nwb clone: pip install '.[deepstrf]'") from None

__all__ = ["NS1Dataset"]


class NS1Dataset(AudioNeuralDataset):
    """The NS1 responses as deepSTRF's ``NS1Dataset``, read from an ns1nwb file, folder or URL.

    A drop-in for ``deepSTRF.datasets.audio.ns1.NS1Dataset``: the same ``stims``, ``responses``, ``stim_meta``,
    ``nrn_meta``, ``F``, ``species`` and ``hearing_range_hz`` on the same release, so every deepSTRF method
    (``select_*``, ``smooth_responses``, ``compute_neuron_quality``, ``neural_collate``, ``+``) works. Beyond
    the seed: any whole-ms ``dt_ms``, a unit selection (every cluster of an ``--all-clusters`` file included),
    and a URL, read only where needed.

    Parameters
    ----------
    path : str or PathLike
        An ns1nwb file, a ``--dandi`` folder of per-session files, or an http(s) URL.
    dt_ms : float, whole milliseconds from 1 to 4995, default 5
        Bin width. Responses are ``(R, floor(4995 / dt_ms))``. Spectrograms: at 5 ms the stored ones (the
        published ``X_nfht`` when the raw tree had ``test_data_5ms.mat``, else the authors' cochleagram computed
        at conversion); at any other step the authors' cochleagram of the stored waveform at that step, frame n
        with bin n (see ``Recording.spectrogram``).
    smooth : bool, default True
        Smooth the responses with the seed's 21-ms Hanning window (values equal to deepSTRF's
        ``smooth_responses(21.0)``).
    return_waveform : bool, default False
        Stims are ``(1, T_audio)`` float32 waveforms at ``audio_fs``: the stored native samples resampled from
        the wav header's 48828 Hz as deepSTRF does (``torchaudio``'s sinc resampler), then cropped or zero
        padded to ``T * audio_fs * dt_ms / 1000`` samples. The file must hold the native samples (the default
        conversion): a file of waveforms already resampled (``--audio-rate 48000``) is refused rather than
        resampled again: those samples were resampled on the true 48828.125-Hz clock, not from the header's
        48828 Hz, and differ from deepSTRF's far beyond 1e-5 (by up to 5.3 on the release, whose peaks are
        about 14).
    audio_fs : int, default 48000
        Waveform sample rate, Hz; ``audio_fs * dt_ms / 1000`` must be a whole number of samples. Ignored for
        spectrograms.
    units : None, int, str, sequence of int or str, or boolean mask, keyword only
        The units, as ``Recording.response_grid`` takes them (rows of ``rec.units``, ``unit_name`` values, or a
        mask such as ``rec.units.is_good``); None for every unit of the file. A stimulus a unit was not recorded
        in gives the ``(1, 1)`` NaN sentinel, and missing repeats are left out (``R`` varies).

    Raises
    ------
    NwbContentError
        The file cannot be read, or lacks what is asked (waveforms, native samples, spectrograms).
    ValueError, TypeError, KeyError, IndexError
        A bad ``dt_ms``, ``audio_fs`` or unit (unknown name, index out of range); the message names the file.
    """

    #: The train/validation and test stimulus indices of Rahman et al. (2020), as the seed has them.
    RAHMAN_TRAINVAL_INDICES: ClassVar[list[int]] = list(NS1_RAHMAN_TRAINVAL_INDICES)
    RAHMAN_TEST_INDICES: ClassVar[list[int]] = list(NS1_RAHMAN_TEST_INDICES)

    def __init__(self, path: str | os.PathLike, dt_ms: float = DEFAULT_DT_MS, smooth: bool = True,
                 return_waveform: bool = False, audio_fs: int = 48000, *, units: Any = None):
        if return_waveform:
            _check_audio_fs(audio_fs, dt_ms, str(path))
        lists = read_lists(path, dt_ms, smooth, waveforms=return_waveform, units=units)
        super().__init__(lists.source, lists.dt_ms)
        self.species = SPECIES
        self.hearing_range_hz = HEARING_RANGE_HZ
        self.return_waveform = bool(return_waveform)
        self.F = N_BANDS
        self.stim_meta = lists.stim_meta
        if return_waveform:
            self.audio_fs = int(audio_fs)
            n_bins = RESPONSE_WINDOW_MS // int(lists.dt_ms)
            n_samples = int(round(n_bins * self.audio_fs * lists.dt_ms / 1000))
            self.stims = _resampled(lists.stims, lists.waveform_rate_hz, self.audio_fs, n_samples)
        else:
            self.stims = [torch.from_numpy(levels) for levels in lists.stims]
        self.responses = [[torch.from_numpy(r) for r in row] for row in lists.responses]
        self.nrn_meta = lists.nrn_meta
        self.N_neurons = len(self.nrn_meta)
        self.validate()


def _check_audio_fs(audio_fs: Any, dt_ms: Any, source: str) -> None:
    """A positive whole sample rate with a whole number of samples per bin (deepSTRF's grid lock)."""
    if isinstance(audio_fs, (bool, np.bool_)) or not isinstance(audio_fs, (int, np.integer)) or audio_fs <= 0:
        raise ValueError(f"{source}: audio_fs={audio_fs!r} must be a positive whole number of Hz")
    try:
        hop = audio_fs * float(dt_ms) / 1000.0
    except (TypeError, ValueError):
        return  # read_lists names the bad dt_ms
    if abs(hop - round(hop)) > 1e-6:
        raise ValueError(f"{source}: audio_fs={audio_fs} gives {hop:g} samples per {dt_ms}-ms bin; deepSTRF needs "
                         "a whole number (e.g. audio_fs=48000)")


def _resampled(waveforms: list[np.ndarray], rate_hz: int | None, audio_fs: int, n_samples: int) -> list[Any]:
    """Each waveform resampled to ``audio_fs`` and cropped or zero padded to ``n_samples``, as ``(1, n)`` tensors.

    ``torchaudio.transforms.Resample`` with a float32 kernel is ``torchaudio.functional.resample`` (what
    deepSTRF calls) with the kernel built once instead of once per sound: the same values, a fifth of the time.
    """
    import torchaudio

    resample = None if rate_hz == audio_fs else torchaudio.transforms.Resample(rate_hz, audio_fs, dtype=torch.float32)
    stims = []
    for samples in waveforms:
        wav = torch.from_numpy(samples).unsqueeze(0)
        if resample is not None:
            wav = resample(wav)
        if wav.shape[1] >= n_samples:
            wav = wav[:, :n_samples]
        else:
            wav = torch.cat([wav, torch.zeros(1, n_samples - wav.shape[1], dtype=wav.dtype)], dim=1)
        stims.append(wav.float().contiguous())
    return stims
