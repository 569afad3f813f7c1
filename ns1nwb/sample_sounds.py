"""The synthetic natural sounds of the sample tree: band noises with envelopes and a chirp, in pascals,
written as the release's RIFF float32 wavs (see :func:`ns1nwb.sample_data.write_sample_tree`)."""

from __future__ import annotations

import pathlib
import struct

import numpy as np

from .constants import N_NATURAL, STIMULI, WAV_HEADER_RATE_HZ, WAV_TRUE_RATE_HZ

__all__ = ["SOUND_MS", "LONG_WAV_SETS", "SOUND_BANDS_HZ", "write_wavs"]

#: Length of each sound and of its envelope, ms.
SOUND_MS = 5000
#: Frames of the natural wavs: 5.000 s, and one more sample for source.2 frozen.5..8.
WAV_FRAMES = 244140
LONG_WAV_SETS = range(16, 20)
#: Synthetic sounds are a mixture of a few octave-wide noise bands; units are tuned to them.
SOUND_BANDS_HZ = (700.0, 2000.0, 5600.0, 16000.0)


def write_wavs(folder: pathlib.Path, drives: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """The 20 natural sounds: band noises shaped by their envelopes plus one chirp, in pascals."""
    folder.mkdir(parents=True, exist_ok=True)
    # One circular pool of octave-band noise; each sound reads it from its own random offsets
    # (much cheaper than filtering fresh noise for every sound and band).
    n_pool = 2 ** 18  # >= 244141 and fast
    freqs = np.fft.rfftfreq(n_pool, 1.0 / WAV_TRUE_RATE_HZ)
    masks = np.array([(freqs >= f / np.sqrt(2)) & (freqs < f * np.sqrt(2)) for f in SOUND_BANDS_HZ])
    pool = np.fft.irfft(np.fft.rfft(rng.standard_normal(n_pool))[None, :] * masks, n_pool, axis=1)
    pool = np.concatenate([pool, pool], axis=1)  # so any offset is a plain slice
    amplitude = np.sqrt(drives[:N_NATURAL])
    ms_of_sample = np.minimum((np.arange(WAV_FRAMES + 1) * (1000.0 / WAV_TRUE_RATE_HZ)).astype(int),
                              SOUND_MS - 1)
    wavs = []
    for stim in STIMULI[:N_NATURAL]:
        n = WAV_FRAMES + (stim.index in LONG_WAV_SETS)
        x = np.zeros(n)
        for band, offset in enumerate(rng.integers(0, n_pool, len(SOUND_BANDS_HZ))):
            x += amplitude[stim.index, band, ms_of_sample[:n]] * pool[band, offset:offset + n]
        x /= _rms(x)
        x += _chirp_burst(n, rng)
        x *= 10.0 ** ((stim.nominal_level_db_spl - 94.0) / 20.0) / _rms(x)
        x = x.astype(np.float32)
        _write_float_wav(folder / stim.wav_name, x)
        wavs.append(x)
    return wavs


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.dot(x, x) / x.size))


def _chirp_burst(n: int, rng: np.random.Generator) -> np.ndarray:
    """A Hann-windowed log sweep of 0.3-1.5 s somewhere in the sound."""
    length = int(rng.uniform(0.3, 1.5) * WAV_TRUE_RATE_HZ)
    start = int(rng.integers(0, n - length))
    f0, f1 = (500.0, 20000.0) if rng.random() < 0.5 else (20000.0, 500.0)
    t = np.arange(length) / WAV_TRUE_RATE_HZ
    # Exponential sweep: instantaneous frequency f0 * (f1/f0) ** (t / duration).
    rate = np.log(f1 / f0) / t[-1]
    phase = 2.0 * np.pi * f0 * np.expm1(rate * t) / rate
    out = np.zeros(n)
    out[start:start + length] = 0.7 * np.sin(phase) * np.hanning(length)
    return out


def _write_float_wav(path: pathlib.Path, x: np.ndarray) -> None:
    """RIFF IEEE-float mono with the real files' plain 44-byte header.

    soundfile would add a PEAK chunk holding the write time (not reproducible) and a byte rate
    from the rounded header rate; the real files carry the byte rate of the true rate.
    """
    data = x.astype("<f4").tobytes()
    byte_rate = int(WAV_TRUE_RATE_HZ * 4 + 0.5)  # 195312.5 -> 195313, as in the real files
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16, 3, 1,
                         WAV_HEADER_RATE_HZ, byte_rate, 4, 32, b"data", len(data))
    path.write_bytes(header + data)
