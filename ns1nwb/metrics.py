"""Response-reliability metrics: the Sahani & Linden (2003) noise ratio.

``MetadataSHEnCneurons.mat`` publishes a ``NoiseRatio`` per unit. :func:`unit_noise_ratio`
recomputes it from the spike files (within 0.21 % on all 119 units), for any number of repeats per
sound. :func:`noise_ratio` is the estimator itself and takes any (repeats, time) count array;
:func:`pooled_noise_ratio` pools it over sounds with unequal repeats.

Reference: M. Sahani & J. F. Linden (2003), "How linear are auditory cortical responses?",
Advances in Neural Information Processing Systems 15, 125-132.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Bin width (ms) that reproduces the published ``NoiseRatio``.
NOISE_RATIO_BIN_MS = 5.0


def noise_ratio(counts: np.ndarray) -> float:
    r"""Sahani-Linden noise power / signal power of repeated responses to one stimulus.

    With N repeats :math:`r_n(t)` over T time bins and :math:`P(x)` the variance of :math:`x`
    over the time bins:

    .. math::

        P_\mathrm{tot} = \frac{1}{N}\sum_n P(r_n), \qquad
        P_\mathrm{signal} = \frac{N\,P(\bar r) - P_\mathrm{tot}}{N - 1}, \qquad
        P_\mathrm{noise} = P_\mathrm{tot} - P_\mathrm{signal},

    and the result is :math:`P_\mathrm{noise} / P_\mathrm{signal}`. Here :math:`\bar r` is the
    mean over repeats. :math:`P_\mathrm{signal}` is an unbiased estimate of the power of the
    stimulus-locked response when the trial-to-trial noise is independent across repeats. The
    ratio is the same whether P divides by T or by T - 1, so MATLAB's ``var`` (T - 1) and NumPy's
    default (T) agree.

    Parameters
    ----------
    counts : numpy.ndarray, shape (n_repeats, n_bins)
        Spike counts (or any real response) per repeat and time bin. The estimator does not
        depend on the order of the repeats or of the time bins, nor on the scale of the counts.

    Returns
    -------
    float
        The noise ratio: 0 for a response that is the same on every repeat, and larger when the
        response is noisier. The published values run from 3.3 to 39.7. The degenerate cases are:

        * ``nan`` when the estimator is undefined: fewer than 2 repeats or time bins
          (it divides by N - 1, and a variance needs 2 bins), or zero total power
          (a constant response, e.g. no spikes at all: 0 / 0).
        * ``inf`` when the estimated signal power is zero or negative while the noise power is
          positive. No stimulus-locked response can be measured, so the unit sorts as the
          noisiest and fails any ``NoiseRatio < threshold`` selection. The benlib
          ``sahani_quick`` MATLAB code returns NaN here instead. NaN would drop the unit from
          sorting and averaging without any sign of it.

    Raises
    ------
    ValueError
        If ``counts`` is not 2-D or holds non-finite values.
    """
    x = np.asarray(counts, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"counts must be a 2-D (repeats, time) array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("counts must be finite")
    n, t = x.shape
    if n < 2 or t < 2:
        return float("nan")
    total = float(np.mean(np.var(x, axis=1)))
    signal = (n * float(np.var(x.mean(axis=0))) - total) / (n - 1)
    return _power_ratio(total, signal)


def sweep_counts(times_per_repeat: Sequence[np.ndarray], sweep_ms: float,
                 bin_ms: float = NOISE_RATIO_BIN_MS) -> np.ndarray:
    """Bin one sound's repeats the way the published ``NoiseRatio`` was binned (MATLAB ``histc``).

    The edges are ``0, bin_ms, ..., k * bin_ms`` with ``k = floor(sweep_ms / bin_ms)``, as MATLAB
    builds them with ``0:bin_ms:sweep_ms``. Bin ``i < k`` counts spikes with
    ``edge[i] <= t < edge[i+1]``. As in ``histc``, one more bin at the end counts spikes exactly at
    the last edge. On the release that bin is always empty: spike times lie on a 1/24.414 ms grid,
    so none falls exactly on the last edge. It still adds a zero column, and keeping it brings
    the worst error from 0.53 % to 0.21 %. Spikes before 0 or after the last edge are dropped.

    Parameters
    ----------
    times_per_repeat : sequence of array_like
        Spike times (ms after sound onset) of each repeat, in any order. A repeat may be empty.
    sweep_ms : float
        The recorded sweep, ``length_signal_ms`` of the set (about 5200 or 5242 ms).
    bin_ms : float, default 5.0
        Bin width in ms.

    Returns
    -------
    numpy.ndarray, shape (n_repeats, k + 1), float
        Spike counts.
    """
    return _sound_counts([times_per_repeat], [sweep_ms], bin_ms)[0]


def pooled_noise_ratio(counts_per_sound: Sequence[np.ndarray]) -> float:
    r"""The Sahani-Linden noise ratio of responses to several sounds, with any number of repeats each.

    The published recipe joins the sounds end to end per repeat and applies :func:`noise_ratio`: repeat
    :math:`n` of every sound is one row, centred on its own mean :math:`m_n`. Here the rows may be ragged: a
    sound :math:`s` with :math:`N_s \ge 2` repeats takes part in rows :math:`0..N_s-1`, and :math:`m_n` is the
    mean over the bins of the sounds that have a repeat :math:`n`. With :math:`c_{s,n}(t) = r_{s,n}(t) - m_n`
    each sound gives (sums over its own bins)

    .. math::

        S^\mathrm{tot}_s = \frac{1}{N_s}\sum_n \sum_t c_{s,n}(t)^2, \qquad
        S^\mathrm{mean}_s = \sum_t \bar c_s(t)^2, \qquad
        S^\mathrm{signal}_s = \frac{N_s S^\mathrm{mean}_s - S^\mathrm{tot}_s}{N_s - 1},

    its signal estimate unbiased for its own :math:`N_s`; the sounds are pooled by summing, and the result is
    :math:`(\sum_s S^\mathrm{tot}_s - \sum_s S^\mathrm{signal}_s) / \sum_s S^\mathrm{signal}_s`. With the
    same N for every sound this is exactly :func:`noise_ratio` of the joined rows (up to rounding). Sounds
    with fewer than 2 repeats are left out.

    Parameters
    ----------
    counts_per_sound : sequence of numpy.ndarray, each shape (n_repeats, n_bins)
        Counts of each sound (:func:`sweep_counts`); repeats may differ between sounds.

    Returns
    -------
    float
        The ratio; ``nan`` when no sound has 2 repeats, the kept sounds have fewer than 2 bins in all, or
        the total power is zero; ``inf`` when the pooled signal power is zero or negative while the noise
        is not (see :func:`noise_ratio`).

    Raises
    ------
    ValueError
        A sound's counts are not a finite 2-D array.
    """
    sounds = [np.asarray(c, dtype=float) for c in counts_per_sound]
    for counts in sounds:
        if counts.ndim != 2 or not np.all(np.isfinite(counts)):
            raise ValueError(f"each sound's counts must be a finite 2-D (repeats, time) array, got {counts.shape}")
    if not sounds:
        return float("nan")
    return _pooled(np.array([c.shape[0] for c in sounds]), np.array([c.shape[1] for c in sounds]),
                   np.concatenate([c.sum(axis=1) for c in sounds]),
                   np.concatenate([(c * c).sum(axis=1) for c in sounds]),
                   np.array([float(np.sum(c.sum(axis=0) ** 2)) for c in sounds]))


def _pooled(n_repeats: np.ndarray, n_bins: np.ndarray, row_sum: np.ndarray, row_square: np.ndarray,
            column_square: np.ndarray) -> float:
    """:func:`pooled_noise_ratio` from each sound's sums, not its counts (a unit's counts are mostly zeros).

    Sound s has ``n_repeats[s]`` rows of ``n_bins[s]`` bins; rows are sound after sound, repeat after repeat:
    ``row_sum`` and ``row_square`` hold each row's sum of r and of r**2, ``column_square[s]`` the sum over the
    sound's bins of (its repeats' sum)**2. The powers below are those of the docstring, expanded: e.g.
    sum_t (r - m)**2 = sum r**2 - 2 m sum r + bins m**2.
    """
    n_repeats, n_bins = np.asarray(n_repeats, dtype=np.int64), np.asarray(n_bins, dtype=np.int64)
    kept = n_repeats >= 2
    if not kept.any() or int(n_bins[kept].sum()) < 2:
        return float("nan")
    row_sound = np.repeat(np.arange(n_repeats.size), n_repeats)
    row_repeat = np.arange(row_sound.size) - np.repeat(np.cumsum(n_repeats) - n_repeats, n_repeats)
    row_bins = n_bins[row_sound].astype(float)
    used = kept[row_sound]
    # m_n: the mean of repeat n over the bins of the kept sounds that have one.
    repeat_sum = np.bincount(row_repeat[used], weights=row_sum[used])
    repeat_bins = np.bincount(row_repeat[used], weights=row_bins[used])
    row_mean = np.zeros(row_sound.size)
    row_mean[used] = (repeat_sum / repeat_bins)[row_repeat[used]]
    n = np.maximum(n_repeats, 1).astype(float)
    sound_total = np.bincount(row_sound, weights=row_square - 2.0 * row_mean * row_sum + row_bins * row_mean ** 2,
                              minlength=n.size) / n
    sound_mean = np.bincount(row_sound, weights=row_mean, minlength=n.size) / n  # the repeats' mean of m_n
    sound_sum = np.bincount(row_sound, weights=row_sum, minlength=n.size)
    mean_power = column_square / n ** 2 - 2.0 * sound_mean * sound_sum / n + n_bins * sound_mean ** 2
    signal = (n * mean_power - sound_total)[kept] / (n[kept] - 1.0)
    return _power_ratio(float(sound_total[kept].sum()), float(signal.sum()))


def unit_noise_ratio(spike_times: Sequence[Sequence[np.ndarray]], sweep_ms: float | Sequence[float],
                     bin_ms: float = NOISE_RATIO_BIN_MS) -> float:
    """Recompute a unit's published ``NoiseRatio`` from its natural-sound spike times.

    The steps that reproduce ``MetadataSHEnCneurons.mat`` (all 119 units within 0.21 %, median
    0.03 %):

    1. For each of the 20 natural sounds (sets 0-19), bin every repeat with :func:`sweep_counts`.
       Use 5-ms bins over that set's own ``length_signal_ms`` sweep, with the raw (unrounded) spike
       times, and count spikes rather than marking each bin 0/1.
    2. Join the sounds end to end for each repeat index (repeat r of every sound is one row, centred on
       its own mean), so the variance includes the differences between sounds, and apply the estimator:
       :func:`pooled_noise_ratio`, which for 20 repeats of every sound (the 119) is :func:`noise_ratio` of
       that (20, about 20 x 1041) matrix, and also takes unequal repeats (0-4 per sound in 31-set files):
       each sound's powers from its own repeats, summed. Sounds with fewer than 2 repeats are left out.

    Other choices miss (worst relative error over the 119 units). Averaging the per-sound ratios
    has a median error of 63 %: a sound with almost no response gets a huge ratio. Summing the
    per-sound powers misses by 7 %. Subtracting each sound's mean before
    joining misses by 8 %. The seed's 999 x 5-ms one-hot grid of rounded times misses by 16 %. A fixed
    5000-ms window misses by 3.3 %, and 1-, 2-, 10- or 20-ms bins miss by 38 % or more.

    Parameters
    ----------
    spike_times : sequence over sounds of sequence over repeats of array_like
        Spike times in ms after sound onset, e.g. ``set(s).repeats(r).t``. Sounds may have different
        numbers of repeats.
    sweep_ms : float or sequence of float
        Each sound's ``length_signal_ms``. A single value is used for every sound.
    bin_ms : float, default 5.0
        Bin width in ms.

    Returns
    -------
    float
        The noise ratio; ``nan`` when no sound has 2 repeats, and the degenerate cases of
        :func:`pooled_noise_ratio`.

    Raises
    ------
    ValueError
        If there are no sounds or the sweep lengths do not match the sounds.
    """
    if len(spike_times) == 0:
        raise ValueError("no sounds given")
    sweeps = [float(sweep_ms)] * len(spike_times) if np.ndim(sweep_ms) == 0 else [float(s) for s in sweep_ms]
    if len(sweeps) != len(spike_times):
        raise ValueError(f"{len(sweeps)} sweep lengths for {len(spike_times)} sounds")
    return _pooled(*_sound_sums(spike_times, sweeps, bin_ms))


def _binned_spikes(spike_times: Sequence[Sequence[np.ndarray]], sweeps: list[float],
                   bin_ms: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The binning of :func:`sweep_counts` for several sounds at once, in one pass over all the spikes.

    Returns (repeats per sound, columns per sound: its bins and histc's last-edge bin, the (sound, repeat)
    row of each counted spike, its column). One pass per sound cost 3 ms a unit, a second over the release.
    """
    for sweep in sweeps:
        if not (bin_ms > 0 and sweep >= bin_ms):
            raise ValueError(f"need bin_ms > 0 and sweep_ms >= bin_ms, got {bin_ms=} sweep_ms={sweep}")
    n_bins = np.array([int(np.floor(sweep / bin_ms + 1e-9)) for sweep in sweeps], dtype=np.int64)  # as sweep_counts
    n_repeats = np.array([len(reps) for reps in spike_times], dtype=np.int64)
    arrays = [np.asarray(times, dtype=float).ravel() for reps in spike_times for times in reps]
    sizes = [a.size for a in arrays]
    t = np.concatenate(arrays) if arrays else np.empty(0)
    row = np.repeat(np.arange(len(arrays)), sizes)
    sound = np.repeat(np.repeat(np.arange(len(spike_times)), n_repeats), sizes)
    sound_last = (n_bins * bin_ms)[sound]
    inside = (t >= 0) & (t < sound_last)
    column = np.full(t.size, -1, dtype=np.int64)
    column[inside] = np.minimum((t[inside] // bin_ms).astype(np.int64), n_bins[sound[inside]] - 1)
    on_edge = t == sound_last
    column[on_edge] = n_bins[sound[on_edge]]
    counted = column >= 0
    return n_repeats, n_bins + 1, row[counted], column[counted]


def _sound_counts(spike_times: Sequence[Sequence[np.ndarray]], sweeps: list[float],
                  bin_ms: float) -> list[np.ndarray]:
    """``[sweep_counts(reps, sweep, bin_ms) for ...]`` (dense float counts)."""
    n_repeats, widths, row, column = _binned_spikes(spike_times, sweeps, bin_ms)
    row_start = np.concatenate([[0], np.cumsum(np.repeat(widths, n_repeats))]).astype(np.int64)
    sound_start = row_start[np.concatenate([[0], np.cumsum(n_repeats)])]
    # Weights of 1 give float counts straight away (exact), not int64 counts converted in a second pass.
    flat = np.bincount(row_start[row] + column, weights=np.ones(row.size), minlength=int(row_start[-1]))
    return [flat[sound_start[s]:sound_start[s + 1]].reshape(int(n_repeats[s]), int(widths[s]))
            for s in range(len(spike_times))]


def _sound_sums(spike_times: Sequence[Sequence[np.ndarray]], sweeps: list[float],
                bin_ms: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What :func:`_pooled` needs, from the spikes alone: no array of (mostly zero) counts."""
    n_repeats, widths, row, column = _binned_spikes(spike_times, sweeps, bin_ms)
    n_rows = int(n_repeats.sum())
    row_sound = np.repeat(np.arange(n_repeats.size), n_repeats)
    width = int(widths.max(initial=1))
    row_sum = np.bincount(row, minlength=n_rows).astype(float)
    # Each row's sum of r**2 over its occupied bins: the bins' counts from the spikes' runs of equal keys (a
    # repeat's spikes are stored in time order, so the keys come sorted; else they are sorted here).
    keys = row * width + column
    if np.any(keys[1:] < keys[:-1]):
        keys = np.sort(keys)
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    occupied = np.diff(np.append(starts, keys.size)).astype(float)
    row_square = np.bincount(keys[starts] // width, weights=occupied ** 2, minlength=n_rows)
    # Each sound's sum over its columns of (its repeats' sum)**2: a small dense array (sounds x columns).
    column_sum = np.bincount(row_sound[row] * width + column, minlength=n_repeats.size * width).astype(float)
    column_square = (column_sum.reshape(n_repeats.size, width) ** 2).sum(axis=1)
    return n_repeats, widths, row_sum, row_square, column_square


def _power_ratio(total: float, signal: float) -> float:
    """Noise power over signal power: NaN without any power, inf when the signal is all there is."""
    if total <= 0.0:
        return float("nan")
    # Relative tolerance: if every repeat is identical, the signal power is rounding noise around 0.
    if signal <= 1e-12 * total:
        return float("inf")
    return max(total - signal, 0.0) / signal
