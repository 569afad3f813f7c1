"""A small synthetic NS1 raw release, for tests, examples and benchmarks.

:func:`write_sample_tree` writes a folder that looks to any reader exactly like the real
NS1 raw release (``MetadataSHEnCneurons.mat``, ``spikesandwav/<experiment>/<penetration>/
cluster.NN.data.mat``, the 20 wavs, optionally ``test_data_5ms.mat``): same file names,
MAT variables, struct and field names in the same order, the same 2-D shapes and the
same integer types as :func:`scipy.io.loadmat` shows on the real files. The content is
made up (seeded); nothing of the real release is copied.
"""

from __future__ import annotations

import datetime as _dt
import io
import math
import numbers
import os
import pathlib
import shutil
from dataclasses import dataclass

import numpy as np
import scipy.io as sio
from scipy.ndimage import gaussian_filter1d

from .cochleagram import cochleagram
from .constants import (
    METADATA_FILE,
    N_NATURAL,
    N_STIMULI,
    RESPONSE_WINDOW_MS,
    SPECTROGRAM_FILE,
    SPIKE_CLOCK_HZ,
    SPIKES_DIR,
    STIMULI,
    WAV_DIR,
    WAV_HEADER_RATE_HZ,
    StimulusInfo,
)
from .sample_sounds import LONG_WAV_SETS, SOUND_BANDS_HZ, SOUND_MS, write_wavs

__all__ = ["write_sample_tree"]

#: Spike-clock ticks per ms (exactly 3125/128, so ``k / _TICKS_PER_MS`` is exact on the grid).
_TICKS_PER_MS = SPIKE_CLOCK_HZ / 1000.0
#: Sweep lengths of the real files: the 2012 rig (sets 16-19 a tick longer) and the 2013 rig.
_SWEEP_2012_MS = 5199.994762141659
_SWEEP_2012_LONG_MS = 5200.03572214073
_SWEEP_2013_MS = 5241.937801191016
#: Earliest spike the real files hold is ~0.6 ms after onset; keep the same margin.
_FIRST_TICK = 13
#: ``stim_params.Level`` is the attenuator reading, NominalLevel minus a per-source calibration.
_LEVEL_OFFSET_DB = {1: 129, 2: 130, 9: 88}
#: Spectrogram frames (5 ms each) of test_data_5ms.mat.
_SPEC_FRAMES = 999
#: Rates seen in the real files: 6.7% of repeats out of order (whole sets merged from sorting
#: chunks) and 103 of 54,740 repeats empty.
_P_MERGED_SET = 0.07
_P_EMPTY_REPEAT = 0.002
_HEADER_PLATFORM = "GLNXA64"


@dataclass(frozen=True)
class _BlockTemplate:
    """One recording block: an experiment folder and a penetration, recorded on 1+ shanks."""

    experiment: str
    penetration: str
    shank_suffixes: tuple[str, ...]
    n_electrodes: int

    @property
    def year(self) -> int:
        return _EXPERIMENT_MONTHS[self.experiment][0]

    def folder(self, suffix: str) -> str:
        return f"{self.experiment}/{self.penetration}{suffix}"


# The penetration (folder name without its shank/direction suffix) is the recording block:
# `.D`/`.U` halves of one 1x32 probe, the L/R shanks of dataAC and the Lsh/Rsh shanks of the
# 4x8 probes were recorded simultaneously, while a repeated penetration (`.2`, `.3`) is a new
# block. Ordered so that any prefix of two or more spans two experiment folders and both rigs.
#: Most units a sample tree may have: the size of the whole release (596 clusters).
MAX_SAMPLE_UNITS = 600

_BLOCKS = (
    _BlockTemplate("exp45_1x32", "P04-SH.En.C", (".D", ".U"), 32),
    _BlockTemplate("exp57_B4x8", "P03-SH_En_C", (".Lsh1", ".Lsh2", ".Lsh3", ".Lsh4", ".Rsh3", ".Rsh4"), 8),
    _BlockTemplate("dataAC", "E1", ("",), 32),
    _BlockTemplate("exp53_1x32", "P02-SH.En.C.2", (".D", ".U"), 32),
    _BlockTemplate("dataAC", "E1P02", (".L.SH.En.C", ".R.SH.En.C"), 16),
    _BlockTemplate("exp42_split1x32", "P11-SH.En.C", (".D",), 32),
    _BlockTemplate("exp57_L4x8", "P05-SH_En_C.3", (".Lsh2", ".Lsh3", ".Lsh4"), 8),
    _BlockTemplate("exp45_1x32", "P07-SH.En.C.2", (".D", ".U"), 32),
    _BlockTemplate("dataAC", "E1P04", (".L.SH.En.C", ".R.SH.En.C"), 16),
    _BlockTemplate("exp45_1x32", "P10-SH.En.C", (".D", ".U"), 32),
    _BlockTemplate("exp57_L4x8", "P06-SH_En_C", (".Lsh1", ".Lsh2", ".Lsh3"), 8),
    _BlockTemplate("exp42_split1x32", "P10-SH.En.C", (".D",), 32),
    _BlockTemplate("exp45_1x32", "P03-SH.En.C", (".U",), 32),
    _BlockTemplate("exp57_B4x8", "P04-SH_En_C", (".Lsh4",), 8),
    _BlockTemplate("exp45_1x32", "P07-SH.En.C", (".U",), 32),
)
#: Months (year, first month, last month) in which each experiment's day is drawn; the year
#: also picks the rig, hence the sweep length (2013: 5241.9 ms).
_EXPERIMENT_MONTHS = {
    "dataAC": (2012, 1, 3), "exp42_split1x32": (2012, 10, 11), "exp45_1x32": (2012, 12, 12),
    "exp53_1x32": (2013, 2, 2), "exp57_B4x8": (2013, 4, 4), "exp57_L4x8": (2013, 4, 4),
}


@dataclass
class _Unit:
    path: str
    block: int
    n_electrodes: int
    electrode: int
    noise_ratio: float
    single_t: str


def write_sample_tree(folder_path: str | os.PathLike, *, n_units: int = 8, seed: int = 0,
                      with_spectrogram: bool = True) -> pathlib.Path:
    """Write a synthetic NS1 raw release in the exact layout and MAT structure of the real one.

    Parameters
    ----------
    folder_path : str or os.PathLike
        Folder to write into (the ``RAW/`` level of the release). It is created if missing
        and must be empty if it exists.
    n_units : int, default 8
        Number of units (rows of ``MetadataSHEnCneurons.mat``, one spike file each), 1 to
        :data:`MAX_SAMPLE_UNITS` (600, the size of the whole release; about 0.75 MB each).
        They are spread over ``min(15, max(min(n_units, 2), ceil(n_units / 3)))`` recording
        blocks, so two or more units always span two experiment folders.
    seed : int, default 0
        Seed of every random choice. The same ``seed`` and ``n_units`` give byte-identical
        files (MAT headers carry a date derived from the seed, not the clock).
    with_spectrogram : bool, default True
        Also write ``test_data_5ms.mat``. Its ``X_nfht`` (20, 34, 1, 999) is the authors'
        'spec-log' cochleagram of the synthetic wavs, as for the real ones
        (:func:`ns1nwb.cochleagram` at the header rate 48828 Hz, 5 ms, dB re 1, -70 dB floor);
        ``y_nt`` (20, 999) is the population's expected spike count per 5-ms bin.

    Returns
    -------
    pathlib.Path
        The folder written.

    Raises
    ------
    ValueError
        If ``n_units`` is not an integer from 1 to :data:`MAX_SAMPLE_UNITS`.
    FileExistsError
        If the folder already holds an NS1 tree or anything else.
    NotADirectoryError
        If ``folder_path`` is an existing file.

    Notes
    -----
    What the tree contains, beyond the real structure:

    * Units of one recording block (experiment folder + penetration, e.g. the ``.D`` and
      ``.U`` folders of ``exp45_1x32/P04-SH.En.C``) share the timestamp of every
      presentation: 460 presentations per block (20 x 20 natural + 12 x 5 DRC), randomly
      interleaved 5.3-7.9 s apart, starting on a seeded day of 2012-2013 (local time).
    * Spike times are ticks of the 24414.0625-Hz clock in ms after onset, drawn from a rate
      (a few to ~40 Hz per unit) driven by the envelopes of the sound's noise bands,
      so responses are stimulus-locked; the sweep (5200 or 5241.9 ms) outlasts the 5-s sound.
    * As in the real files, about 7% of the sets are merged from 2-4 sorting chunks, so
      their repeats are out of time order and ``spikes`` lists them chunk by chunk; ~0.2%
      of repeats are empty (1x0).
    * Edge cases for readers are always present: the first unit written has, in set 0,
      repeat index 0, a spike exactly on the 640-ms bin edge and two spikes rounding to the
      same ms (999.997 and 1000.24 ms), and its set 1 is merged from chunks; the last
      unit's last repeat of set 31 is empty.
    * Wavs are RIFF IEEE-float mono with a 44-byte header (header rate 48828 Hz, byte rate
      of the true 48828.125 Hz), in pascals: ``94 + 20 log10(rms)`` is the nominal level.
    """
    if isinstance(n_units, bool) or not isinstance(n_units, numbers.Integral) or not 1 <= n_units <= MAX_SAMPLE_UNITS:
        raise ValueError(f"n_units must be an integer from 1 to {MAX_SAMPLE_UNITS} (the whole release has 596 "
                         f"clusters), got {n_units!r}")
    target = _prepare_folder(pathlib.Path(folder_path))
    # Written beside the target and renamed into place: a stop or an error leaves no partial tree.
    root = target.with_name(f".{target.name}.{os.getpid()}.ns1nwb-partial")
    root.mkdir()
    try:
        _write_tree(root, n_units, seed, with_spectrogram)
        os.replace(root, target)  # (over the empty folder, if there was one)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return target


def _write_tree(root: pathlib.Path, n_units: int, seed: int, with_spectrogram: bool) -> None:

    seq_blocks, seq_units, seq_stim, seq_spikes = np.random.SeedSequence(seed).spawn(4)
    rng_blocks, rng_units, rng_stim = (np.random.default_rng(s) for s in (seq_blocks, seq_units, seq_stim))
    n_blocks = min(len(_BLOCKS), max(min(n_units, 2), math.ceil(n_units / 3)))
    block_starts = _block_start_times(n_blocks, rng_blocks)
    schedules = [_schedule(start, rng_blocks) for start in block_starts]
    units = _make_units(n_units, n_blocks, rng_units)
    drives = _stimulus_drives(rng_stim)
    export_date = max(block_starts) + _dt.timedelta(days=int(rng_blocks.integers(60, 300)),
                                                     seconds=int(rng_blocks.integers(86400)))

    spikes_root = root / SPIKES_DIR
    population_rate = np.zeros((N_NATURAL, RESPONSE_WINDOW_MS))
    for i, (unit, unit_seq) in enumerate(zip(units, seq_spikes.spawn(n_units))):
        rng = np.random.default_rng(unit_seq)
        rates = _unit_rates(drives, rng)
        population_rate += rates[:N_NATURAL, :RESPONSE_WINDOW_MS] / n_units
        sweeps = _sweeps(_BLOCKS[unit.block].year)
        sets = _spike_sets(rates, sweeps, schedules[unit.block], rng,
                           first_unit=i == 0, last_unit=i == n_units - 1)
        data = _struct_array((1, 1), ("set",), [{"set": sets}])
        _savemat(spikes_root / unit.path, {"data": data}, export_date, compress=False)

    # The real metadata is sorted by NoiseRatio, not by path.
    ordered = sorted(units, key=lambda u: u.noise_ratio)
    _savemat(root / METADATA_FILE, {"neuron": _metadata_struct(ordered)},
             export_date + _dt.timedelta(days=30), compress=True)

    wavs = write_wavs(spikes_root / WAV_DIR, drives, rng_stim)
    if with_spectrogram:
        y_nt = population_rate.reshape(N_NATURAL, _SPEC_FRAMES, -1).sum(axis=2)
        # The authors' recipe, at the rate MATLAB's audioread reports for these wavs.
        x_nfht = np.stack([cochleagram(x, WAV_HEADER_RATE_HZ)[:, None, :] for x in wavs])  # (20, 34, 1, 999)
        _savemat(root / SPECTROGRAM_FILE, {"X_nfht": x_nfht.astype(np.float64), "y_nt": y_nt},
                 export_date + _dt.timedelta(days=30), compress=False)


# ---------------------------------------------------------------- folder and file writing

def _prepare_folder(root: pathlib.Path) -> pathlib.Path:
    if root.exists():
        if not root.is_dir():
            raise NotADirectoryError(f"{root} exists and is not a folder; give a new or empty folder")
        if (root / METADATA_FILE).exists() or (root / SPIKES_DIR).exists():
            raise FileExistsError(f"{root} already holds an NS1 tree ({METADATA_FILE} or {SPIKES_DIR}/); "
                                  "remove it or choose another folder")
        if any(root.iterdir()):
            raise FileExistsError(f"{root} is not empty; give a new or empty folder")
    root.parent.mkdir(parents=True, exist_ok=True)
    return root


def _savemat(path: pathlib.Path, variables: dict, created: _dt.datetime, *, compress: bool) -> None:
    """MAT v5 like MATLAB's: the metadata was saved compressed (v7), the spike files not (v6)."""
    buf = io.BytesIO()
    sio.savemat(buf, variables, do_compression=compress, oned_as="row")
    raw = bytearray(buf.getvalue())
    # scipy stamps the wall-clock time into the 116-byte text header; stamp a fixed date instead.
    stamp = created.strftime("%a %b %d %H:%M:%S %Y")
    text = f"MATLAB 5.0 MAT-file, Platform: {_HEADER_PLATFORM}, Created on: {stamp}"
    raw[:116] = text.encode("ascii").ljust(116, b" ")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(raw))


def _struct_array(shape: tuple[int, int], fields: tuple[str, ...], records: list[dict]) -> np.ndarray:
    """A MATLAB struct array: object fields keep whatever shape/dtype each value has."""
    arr = np.empty(shape, dtype=[(f, object) for f in fields])
    flat = arr.reshape(-1)
    for f in fields:
        column = flat[f]
        for i, rec in enumerate(records):
            column[i] = rec[f]
    return arr


def _matlab_int(value: int) -> np.ndarray:
    """An integer-valued MATLAB double as loadmat shows it: MATLAB stored it as uint8, uint16 or,
    when negative, int16 (the real depths -200..1500 show exactly these three)."""
    dtype = np.int16 if value < 0 else np.uint8 if value <= 255 else np.uint16
    return np.array([[value]], dtype=dtype)


# ---------------------------------------------------------------- blocks, schedule, units

def _block_start_times(n_blocks: int, rng: np.random.Generator) -> list[_dt.datetime]:
    """Blocks of one experiment follow each other on its day; different experiments on different days."""
    clock: dict[str, _dt.datetime] = {}
    starts = []
    for template in _BLOCKS[:n_blocks]:
        exp = template.experiment
        if exp not in clock:
            year, first, last = _EXPERIMENT_MONTHS[exp]
            day = _dt.date(year, int(rng.integers(first, last + 1)), int(rng.integers(1, 28)))
            # One animal per day: experiments never overlap.
            while any(c.date() in (day, day + _dt.timedelta(days=1)) for c in clock.values()):
                day += _dt.timedelta(days=2)
            clock[exp] = _dt.datetime.combine(day, _dt.time(int(rng.integers(0, 12))))
        start = clock[exp] + _dt.timedelta(minutes=int(rng.integers(5, 120)),
                                           milliseconds=int(rng.integers(60_000)))
        starts.append(start)
        # A block lasts 41-60 min; leave room before the next block of the same experiment.
        clock[exp] = start + _dt.timedelta(minutes=65)
    return starts


def _schedule(start: _dt.datetime, rng: np.random.Generator) -> list[list[str]]:
    """Timestamps ``[set][repeat]``: all 460 presentations interleaved, repeats in time order."""
    order = np.concatenate([np.full(s.n_repeats, s.index) for s in STIMULI])
    rng.shuffle(order)
    base = rng.uniform(5.3, 7.6)
    gaps_ms = np.rint((base + rng.uniform(0.0, 0.3, order.size)) * 1000).astype(np.int64)
    onsets_ms = np.cumsum(gaps_ms) - gaps_ms[0]
    stamps: list[list[str]] = [[] for _ in STIMULI]
    for s, ms in zip(order, onsets_ms):
        t = start + _dt.timedelta(milliseconds=int(ms))
        stamps[s].append(t.strftime("%Y%m%d-%H%M%S") + f"{t.microsecond // 1000:03d}")
    return stamps


def _make_units(n_units: int, n_blocks: int, rng: np.random.Generator) -> list[_Unit]:
    # Every block gets one unit first, the rest go preferably to blocks with more shanks.
    weights = np.array([len(b.shank_suffixes) for b in _BLOCKS[:n_blocks]], dtype=float)
    extra = rng.choice(n_blocks, size=max(0, n_units - n_blocks), p=weights / weights.sum())
    block_of = np.concatenate([np.arange(min(n_units, n_blocks)), extra]).astype(int)

    folders = []
    for b in block_of:
        suffixes = _BLOCKS[b].shank_suffixes
        folders.append(_BLOCKS[b].folder(suffixes[int(rng.integers(len(suffixes)))]))
    clusters: dict[str, list[int]] = {}
    for folder in dict.fromkeys(folders):
        count = folders.count(folder)
        clusters[folder] = list(rng.permutation(np.arange(1, max(16, count) + 1))[:count])

    units = []
    for i, (b, folder) in enumerate(zip(block_of, folders)):
        n_el = _BLOCKS[b].n_electrodes
        # Site 1 is above the reference (negative depth); make sure one unit sits there.
        electrode = 1 if i == 3 else int(rng.integers(1, n_el + 1))
        units.append(_Unit(
            path=f"{folder}/cluster.{int(clusters[folder].pop()):02d}.data.mat",
            block=int(b), n_electrodes=n_el, electrode=electrode,
            noise_ratio=float(np.exp(rng.uniform(np.log(3.3), np.log(39.7)))),
            single_t=str(rng.choice(["Yes", "Maybe", "No"], p=[0.45, 0.2, 0.35])),
        ))
    return units


def _metadata_struct(units: list[_Unit]) -> np.ndarray:
    fields = ("path", "NrOfElectrodes", "ElectrodeNumber", "depth", "NoiseRatio", "singleT", "singleN")
    single_n = {"Yes": 2, "Maybe": 1, "No": 0}
    records = [{
        "path": u.path,
        "NrOfElectrodes": np.uint8(u.n_electrodes),
        "ElectrodeNumber": np.uint8(u.electrode),
        # As in the release: depth counts from site 3 in dataAC, from site 2 in the other experiments.
        "depth": _matlab_int((u.electrode - (3 if u.path.startswith("dataAC") else 2)) * 1600 // u.n_electrodes),
        "NoiseRatio": np.float64(u.noise_ratio),
        "singleT": u.single_t,
        "singleN": np.uint8(single_n[u.single_t]),
    } for u in units]
    return _struct_array((1, len(units)), fields, records)


# ---------------------------------------------------------------- stimuli and responses

def _stimulus_drives(rng: np.random.Generator) -> np.ndarray:
    """Envelope of each synthetic sound band, 1-ms steps: (32 sets, n bands, 5000 ms), mean ~1."""
    n_bands = len(SOUND_BANDS_HZ)
    drives = np.empty((N_STIMULI, n_bands, SOUND_MS))
    # Natural sounds: log-normal envelopes smoothed over ~20 ms, so they have sparse peaks.
    z = gaussian_filter1d(rng.standard_normal((N_NATURAL, n_bands, SOUND_MS)), sigma=20.0, axis=2)
    z /= z.std(axis=2, keepdims=True)
    env = np.exp(1.2 * z) * rng.uniform(0.3, 1.0, (N_NATURAL, n_bands, 1))
    drives[:N_NATURAL] = env / env.mean(axis=(1, 2), keepdims=True)
    # DRCs: random chord levels held for 25 ms.
    chords = rng.uniform(0.0, 2.0, (N_STIMULI - N_NATURAL, n_bands, SOUND_MS // 25))
    drives[N_NATURAL:] = np.repeat(chords, 25, axis=2)
    return drives


def _unit_rates(drives: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Expected spikes per ms, (32 sets, sweep ms): spontaneous plus the band drive after a latency."""
    n_bands = drives.shape[1]
    best = rng.uniform(0, n_bands - 1)
    tuning = np.exp(-0.5 * ((np.arange(n_bands) - best) / rng.uniform(0.5, 1.2)) ** 2)
    driven = np.einsum("b,sbt->st", tuning, drives)
    latency = int(rng.integers(8, 25))
    n_ms = math.ceil(_SWEEP_2013_MS)
    rates = np.zeros((N_STIMULI, n_ms))
    rates[:, latency:latency + SOUND_MS] = driven
    mean_hz = np.exp(rng.uniform(np.log(3.0), np.log(40.0)))
    spont = rng.uniform(0.1, 0.4)
    rates *= (1.0 - spont) * mean_hz / 1000.0 / rates[:, :SOUND_MS].mean()
    return rates + spont * mean_hz / 1000.0


def _sweeps(year: int) -> list[float]:
    if year == 2013:
        return [_SWEEP_2013_MS] * N_STIMULI
    return [_SWEEP_2012_LONG_MS if s in LONG_WAV_SETS else _SWEEP_2012_MS for s in range(N_STIMULI)]


def _spike_sets(rates: np.ndarray, sweeps: list[float], stamps: list[list[str]],
                rng: np.random.Generator, *, first_unit: bool, last_unit: bool) -> np.ndarray:
    records = []
    for stim, rate, sweep in zip(STIMULI, rates, sweeps):
        n_rep = stim.n_repeats
        ticks, reps = _draw_ticks(rate, n_rep, sweep, rng)
        empty = rng.random(n_rep) < _P_EMPTY_REPEAT
        if last_unit and stim.index == N_STIMULI - 1:
            empty[-1] = True
        keep = ~empty[reps]
        ticks, reps = ticks[keep], reps[keep]
        if first_unit and stim.index == 0:
            # 640 ms is a 5-ms bin edge on the tick grid; 24414 and 24420 both round to 1000 ms.
            ticks = np.concatenate([ticks, [15625, 24414, 24420]])
            reps = np.concatenate([reps, [0, 0, 0]])
        # One spike per tick and repeat; the clock cannot see two.
        ticks, reps = _unique_pairs(ticks, reps)

        merged = rng.random() < _P_MERGED_SET or (first_unit and stim.index == 1)
        n_chunks = int(rng.choice([2, 4], p=[0.85, 0.15])) if merged else 1
        chunk = rng.integers(0, n_chunks, ticks.size)
        # A repeat lists its chunks one after the other; the pooled list goes chunk by chunk.
        by_repeat = np.lexsort((ticks, chunk, reps))
        pooled = np.lexsort((ticks, reps, chunk))
        t_ms = ticks / _TICKS_PER_MS
        bounds = np.searchsorted(reps[by_repeat], np.arange(n_rep + 1))

        repeats = []
        for r in range(n_rep):
            t = t_ms[by_repeat[bounds[r]:bounds[r + 1]]]
            repeats.append({"t": t[None, :], "repeat_id": np.full((1, t.size), r + 1, np.uint8),
                            "timestamp": stamps[stim.index][r]})
        spikes = {"t": t_ms[pooled][None, :], "repeat_id": (reps[pooled] + 1).astype(np.uint8)[None, :]}
        records.append({
            "spikes": _struct_array((1, 1), ("t", "repeat_id"), [spikes]),
            "repeats": _struct_array((1, n_rep), ("t", "repeat_id", "timestamp"), repeats),
            "stim_params": _stim_params(stim, sweep),
            "length_signal_ms": np.array([[sweep]]),
        })
    return _struct_array((1, N_STIMULI), ("spikes", "repeats", "stim_params", "length_signal_ms"), records)


def _draw_ticks(rate: np.ndarray, n_rep: int, sweep: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Inhomogeneous Poisson spikes of ``n_rep`` repeats as (tick, repeat) pairs."""
    cum = np.cumsum(rate)
    counts = rng.poisson(cum[-1], n_rep)
    reps = np.repeat(np.arange(n_rep), counts)
    ms = np.searchsorted(cum, rng.random(reps.size) * cum[-1], side="right")
    ticks = np.floor((ms + rng.random(reps.size)) * _TICKS_PER_MS).astype(np.int64)
    ok = (ticks >= _FIRST_TICK) & (ticks / _TICKS_PER_MS < sweep)
    return ticks[ok], reps[ok]


def _unique_pairs(ticks: np.ndarray, reps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    key = np.unique(reps.astype(np.int64) << 32 | ticks)
    return key & 0xFFFFFFFF, key >> 32


def _stim_params(stim: StimulusInfo, sweep: float) -> np.ndarray:
    level = int(stim.nominal_level_db_spl) - _LEVEL_OFFSET_DB[stim.source]
    named = {"Source": stim.source, "Mode": 0, "BF": 0, "Token": stim.token, "Set": stim.fw_set,
             "StimID": stim.stim_id, "NominalLevel": int(stim.nominal_level_db_spl), "Level": level}
    # `all` repeats the parameters as one row (MATLAB stored it as int16 because Level < 0).
    all_names = np.array([*named, "length_signal_ms"], dtype=object)[None, :]
    all_values = np.array([*named.values(), round(sweep)], dtype=np.int16)[None, :]
    record = {"all": _struct_array((1, 1), ("names", "values"), [{"names": all_names, "values": all_values}])}
    for name, value in named.items():
        record[name] = np.array([[value]], dtype=np.int16 if name == "Level" else np.uint8)
    return _struct_array((1, 1), ("all", *named), [record])
