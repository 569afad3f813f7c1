"""Read a raw NS1 release folder into a plain in-memory model (no NWB types).

The model keeps everything the release holds that is not redundant: every
metadata field with its value, every spike time exactly as stored (unsorted
repeats stay unsorted, spikes after 4995 ms stay), each repeat's timestamp,
each set's ``stim_params`` and ``length_signal_ms``, the wavs and, when present,
the precomputed spectrogram ``X_nfht``. The pooled ``spikes`` field and the
per-spike ``repeat_id`` of the spike files repeat what ``repeats(r).t`` already
says and are not carried.
"""

from __future__ import annotations

import gc
import hashlib
import io
import os
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

import numpy as np

from .constants import (
    METADATA_FILE,
    N_NATURAL,
    SPECTROGRAM_FILE,
    SPIKES_DIR,
    STIMULI,
    STIMULUS_BY_KEY,
    WAV_DIR,
    WAV_HEADER_RATE_HZ,
    WAV_TRUE_RATE_HZ,
    N_BANDS,
)
from .exceptions import Ns1Warning, RawFileNotFoundError, RawFormatError, StrictModeError
from .workers import can_start_worker_processes, progress_bar, stop_signals, worker_count

__all__ = [
    "RawRepeat",
    "RawSet",
    "RawUnit",
    "RawWav",
    "SkippedUnit",
    "RawRelease",
    "SourceFile",
    "read_raw_tree",
]

#: Shortest wav accepted: it must cover the 4995-ms response window.
_MIN_WAV_SAMPLES = int(np.ceil(4.995 * WAV_TRUE_RATE_HZ))


@dataclass(slots=True)
class RawRepeat:
    """One presentation of one sound to one unit."""

    #: Spike times in ms after sound onset, float64, in the stored order (may be unsorted).
    spike_times_ms: np.ndarray
    #: Wall-clock onset as stored, ``'YYYYMMDD-HHMMSSmmm'`` local time; None when absent.
    timestamp: str | None = None


@dataclass
class RawSet:
    """One stimulus set of a spike file (one sound, all its repeats)."""

    #: Position of the set in the file's ``data.set`` array.
    position: int
    #: Which of the 32 NS1 sounds this is (0-19 natural, 20-31 DRC).
    stimulus_index: int
    repeats: list[RawRepeat]
    #: Recorded sweep after onset in ms; None when the file does not say.
    length_signal_ms: float | None = None
    #: The set's ``stim_params`` fields (``all`` becomes a dict of its names -> values).
    stim_params: dict[str, Any] = field(default_factory=dict)


@dataclass
class RawUnit:
    """One unit: its metadata row and its spike file."""

    #: Row of the unit in ``MetadataSHEnCneurons.mat`` (0-based).
    metadata_index: int
    #: Spike file relative to ``spikesandwav/`` as written in the metadata.
    path: str
    #: Every metadata field, in file order, as Python scalars / strings.
    metadata: dict[str, Any]
    #: The spike file actually read (the ``_1`` fallback when that was used).
    spike_file: Path
    sets: list[RawSet]

    @property
    def unit_name(self) -> str:
        """The seed's unit id: the metadata path without ``.mat``."""
        return self.path[:-4] if self.path.endswith(".mat") else self.path

    @property
    def experiment(self) -> str:
        """First folder of the path, e.g. ``exp57_B4x8``."""
        return PurePosixPath(self.path).parts[0] if "/" in self.path else ""

    @property
    def subject_id(self) -> str:
        """The ferret: the experiment folder without its probe suffix (``exp57_B4x8`` -> ``exp57``)."""
        return self.experiment.split("_")[0] or "unknown"

    @property
    def penetration(self) -> str:
        """The folder the spike file is in, e.g. ``P03-SH_En_C.Lsh2``."""
        parts = PurePosixPath(self.path).parts
        return parts[-2] if len(parts) >= 2 else ""

    @property
    def probe_group(self) -> str:
        """The probe or shank: ``experiment/penetration`` without the ``.D``/``.U`` suffix.

        The ``.D`` and ``.U`` folders of one 1x32 penetration hold the deep and upper
        sites of the same probe, recorded together, so they are one group.
        """
        penetration = re.sub(r"\.[DU]$", "", self.penetration)
        return f"{self.experiment}/{penetration}" if self.experiment else penetration

    @property
    def penetration_label(self) -> str:
        """Short penetration name: ``P04-SH.En.C.D`` -> ``P04``, ``E1P02.L.SH.En.C`` -> ``E1P02``."""
        return re.split(r"[-._]", self.penetration or "unknown", maxsplit=1)[0]

    @property
    def n_spikes(self) -> int:
        return sum(r.spike_times_ms.size for s in self.sets for r in s.repeats)

    @property
    def timestamps(self) -> list[str]:
        """All stored presentation timestamps of this unit (any order)."""
        return [r.timestamp for s in self.sets for r in s.repeats if r.timestamp is not None]


@dataclass
class RawWav:
    """One released stimulus waveform."""

    stimulus_index: int
    path: Path
    #: float32 samples as stored (pascals).
    samples: np.ndarray
    #: The rate written in the RIFF header (48828, rounded).
    header_rate_hz: int
    #: The true rate (48828.125 Hz): the spike clock is exactly half of it.
    sample_rate_hz: float = WAV_TRUE_RATE_HZ


@dataclass
class SkippedUnit:
    metadata_index: int
    path: str
    reason: str


@dataclass(frozen=True)
class SourceFile:
    """A file the reader read, hashed from the same bytes it parsed (a conversion's provenance)."""

    path: Path
    size_bytes: int
    sha256: str


@dataclass
class RawRelease:
    """Everything read from one raw NS1 folder."""

    root: Path
    #: Metadata field names in file order.
    metadata_fields: list[str]
    units: list[RawUnit]
    skipped_units: list[SkippedUnit]
    #: Natural-sound wavs by stimulus index (0-19); missing ones are absent.
    wavs: dict[int, RawWav]
    #: ``X_nfht`` of ``test_data_5ms.mat``, shape (20, 34, 1, 999), or None.
    spectrogram_x_nfht: np.ndarray | None = None
    spectrogram_file: Path | None = None
    warnings: list[str] = field(default_factory=list)
    #: Every file read (metadata, spike files in unit order, wavs, spectrogram file), with its SHA-256.
    source_files: list[SourceFile] = field(default_factory=list)

    @property
    def n_spikes(self) -> int:
        return sum(u.n_spikes for u in self.units)

    @property
    def n_repeats(self) -> int:
        return sum(len(s.repeats) for u in self.units for s in u.sets)

    @property
    def recording_blocks(self) -> dict[str, list[int]]:
        """Unit indices (into ``units``) grouped by recording block.

        A block is identified by the earliest presentation timestamp of its units
        (all units of one block share every timestamp); units without timestamps
        are grouped by their spike-file folder.
        """
        blocks: dict[str, list[int]] = {}
        for i, unit in enumerate(self.units):
            stamps = unit.timestamps
            key = min(stamps) if stamps else f"{unit.experiment}/{unit.penetration}"
            blocks.setdefault(key, []).append(i)
        return dict(sorted(blocks.items()))

    def summary(self) -> str:
        """A few lines saying what was read."""
        lines = [
            f"{self.root}: {len(self.units)} units read, {len(self.skipped_units)} skipped, "
            f"{self.n_spikes:,} spikes in {self.n_repeats:,} repeats, "
            f"{len(self.recording_blocks)} recording blocks, {len(self.wavs)} wavs, "
            f"spectrogram {'from ' + SPECTROGRAM_FILE if self.spectrogram_x_nfht is not None else 'absent'}"
        ]
        lines += [f"  skipped {s.path}: {s.reason}" for s in self.skipped_units]
        return "\n".join(lines)


# --------------------------------------------------------------------------- MAT helpers


def _read_source(path: Path) -> tuple[bytes, SourceFile]:
    """A file's bytes, read once for both parsing and its checksum."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as err:
        raise RawFormatError(f"{path}: cannot be read ({err.strerror or err})") from err
    return data, SourceFile(path, len(data), hashlib.sha256(data).hexdigest())


def _load_mat(path: Path, data: bytes | None = None) -> dict[str, Any]:
    """loadmat of ``path``, or of its bytes when given (in memory: fewer, cheaper reads than from the file)."""
    import scipy.io

    try:
        return scipy.io.loadmat(io.BytesIO(data) if data is not None else path)
    except FileNotFoundError:
        raise
    except Exception as err:  # scipy raises several types for a bad file
        raise RawFormatError(f"{path}: not a readable MAT file ({err}); re-download or re-extract it") from err


def _scalar(value: Any) -> Any:
    """A MAT field value as a plain Python value (str, int, float, list, dict or None)."""
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
        if kind in "US":
            return "".join(value.ravel().tolist())
        if value.dtype.names:
            if value.size == 0:
                return None
            record = value.ravel()[0]
            return {name: _scalar(record[name]) for name in value.dtype.names}
        if kind == "O":
            items = [_scalar(v) for v in value.ravel()]
            return items[0] if len(items) == 1 else items
        if value.size == 1:
            # .item() turns any integer dtype into int and floats into float.
            return value.item() if kind != "f" else float(value.item())
        if value.size == 0:
            return None
        return value.ravel().tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _checked_spike_path(root: Path, rel_path: str, metadata_file: Path) -> Path:
    """``spikesandwav/<rel_path>``, refusing paths that leave that folder."""
    posix = rel_path.replace("\\", "/")
    pure = PurePosixPath(posix)
    if not posix or pure.is_absolute() or ".." in pure.parts or (len(posix) > 1 and posix[1] == ":"):
        raise RawFormatError(
            f"{metadata_file}: unit path {rel_path!r} leaves {SPIKES_DIR}/ (absolute or '..'); "
            "refusing to read outside the release"
        )
    spikes_root = (root / SPIKES_DIR).resolve()
    full = (root / SPIKES_DIR / pure).resolve()
    if spikes_root not in full.parents:
        raise RawFormatError(f"{metadata_file}: unit path {rel_path!r} resolves outside {spikes_root}")
    return full


# --------------------------------------------------------------------------- reading


class _Warner:
    """Collects warnings, emits them, or raises them under ``strict``."""

    def __init__(self, strict: bool):
        self.strict = strict
        self.messages: list[str] = []

    def __call__(self, message: str) -> None:
        if self.strict:
            raise StrictModeError(f"{message} (an error because of --strict)")
        self.messages.append(message)
        warnings.warn(message, Ns1Warning, stacklevel=3)


def _read_metadata(root: Path) -> tuple[list[str], list[dict[str, Any]], SourceFile]:
    meta_path = root / METADATA_FILE
    if not meta_path.is_file():
        raise RawFileNotFoundError(
            f"{meta_path}: metadata file not found; is {root} an NS1 release folder? (`ns1nwb download` fetches one)"
        )
    data, source = _read_source(meta_path)
    mat = _load_mat(meta_path, data)
    if "neuron" not in mat:
        raise RawFormatError(f"{meta_path}: no variable 'neuron' (found {sorted(k for k in mat if not k.startswith('__'))})")
    neuron = mat["neuron"]
    if not isinstance(neuron, np.ndarray) or not neuron.dtype.names:
        raise RawFormatError(f"{meta_path}: 'neuron' is not a struct array")
    fields = list(neuron.dtype.names)
    path_field = "path" if "path" in fields else fields[0]
    rows = []
    for i, record in enumerate(neuron.ravel()):
        row = {name: _scalar(record[name]) for name in fields}
        if not isinstance(row[path_field], str) or not row[path_field]:
            raise RawFormatError(
                f"{meta_path}: unit {i} has no spike-file path (field {path_field!r} is {row[path_field]!r})"
            )
        row["__path__"] = row[path_field]
        rows.append(row)
    return fields, rows, source


def _reject_duplicates(spike_paths: list[Path], rows: list[dict[str, Any]], meta_path: Path) -> None:
    """Two units naming the same file (however spelled) would share spikes: refuse."""
    seen: dict[Path, int] = {}
    for i, path in enumerate(spike_paths):
        if path in seen:
            first = seen[path]
            raise RawFormatError(
                f"{meta_path}: units {first} ({rows[first]['__path__']!r}) and {i} ({rows[i]['__path__']!r}) name "
                "the same spike file; each unit needs its own"
            )
        seen[path] = i


def _stimulus_index(position: int, stim_params: dict[str, Any]) -> int:
    """Which NS1 sound a set is: by its ``stim_params`` when present, else by position."""
    try:
        key = tuple(int(stim_params[k]) for k in ("Source", "Set", "StimID", "Token"))
    except (KeyError, TypeError, ValueError):
        return position
    info = STIMULUS_BY_KEY.get(key)  # type: ignore[arg-type]
    return info.index if info is not None else position


def _read_stim_params(value: Any) -> dict[str, Any]:
    if not isinstance(value, np.ndarray) or not value.dtype.names or value.size == 0:
        return {}
    record = value.ravel()[0]
    params: dict[str, Any] = {}
    for name in value.dtype.names:
        field_value = record[name]
        # Fast path for the common 1x1 numbers; anything else goes through _scalar.
        if isinstance(field_value, np.ndarray) and field_value.size == 1 and field_value.dtype.kind in "iu":
            params[name] = field_value.item()
        elif name == "all":
            params["all"] = _read_name_value_pairs(field_value)
        else:
            params[name] = _scalar(field_value)
    return params


def _read_name_value_pairs(value: Any) -> Any:
    """``stim_params.all``: a struct of ``names`` (cell of char) and ``values`` -> {name: value}."""
    try:
        record = value.ravel()[0]
        names = [str(n[0]) if n.shape == (1,) and n.dtype.kind == "U" else "".join(n.ravel().tolist())
                 for n in record["names"].ravel().tolist()]
        values = record["values"].ravel().tolist()
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return _scalar(value)
    return dict(zip(names, values)) if len(names) == len(values) else _scalar(value)


def _other_times(times: Any, spike_file: Path, position: int) -> np.ndarray:
    """Spike times that are not a float64 array: other number types, or an empty cell."""
    if isinstance(times, np.ndarray) and times.dtype.kind in "iuf":
        return times.astype(np.float64)
    if isinstance(times, np.ndarray) and times.size == 0:
        return np.empty(0)
    raise RawFormatError(f"{spike_file}: set {position + 1} has spike times of type "
                         f"{getattr(times, 'dtype', type(times))}; expected numbers")


def _other_stamp(raw_stamp: np.ndarray, spike_file: Path, position: int) -> str | None:
    if raw_stamp.dtype.kind != "U":
        raise RawFormatError(
            f"{spike_file}: set {position + 1} has a timestamp of type {raw_stamp.dtype} "
            f"({raw_stamp.ravel()[0]!r}); expected text 'YYYYMMDD-HHMMSSmmm'"
        )
    return "".join(raw_stamp.ravel().tolist()).strip() or None


@dataclass
class _SpikeFileContent:
    """A spike file's sets in a few flat pieces: cheap to send from a worker and to check.

    Repeat ``k`` (counting over the sets in order) has the spike times
    ``times[offsets[k]:offsets[k + 1]]`` with ``offsets = [0, *cumsum(lengths)]``.
    """

    #: Per set: (position, stimulus index, length_signal_ms, stim_params, number of repeats).
    sets: list[tuple[int, int, "float | None", dict[str, Any], int]]
    #: Spike count of every repeat.
    lengths: np.ndarray
    #: Every spike time of the file (ms, float64), repeat after repeat, each in its stored order.
    times: np.ndarray
    #: Timestamp of every repeat (None when absent).
    stamps: list["str | None"]

    def raw_sets(self) -> list[RawSet]:
        """The sets as :class:`RawSet` objects; every repeat's times are a view of :attr:`times`."""
        pieces = np.split(self.times, np.cumsum(self.lengths)[:-1]) if self.lengths.size else []
        repeats = [RawRepeat(piece, stamp) for piece, stamp in zip(pieces, self.stamps)]
        sets, start = [], 0
        for position, stimulus_index, length_ms, stim_params, n_repeats in self.sets:
            sets.append(RawSet(position=position, stimulus_index=stimulus_index,
                               repeats=repeats[start:start + n_repeats], length_signal_ms=length_ms,
                               stim_params=stim_params))
            start += n_repeats
        return sets


def _repeat_stamp(raw_stamp: Any, spike_file: Path, position: int) -> str | None:
    if raw_stamp.__class__ is np.ndarray and raw_stamp.shape == (1,) and raw_stamp.dtype.kind == "U":
        return raw_stamp[0].strip() or None  # the usual 'YYYYMMDD-HHMMSSmmm'
    if raw_stamp is None or not raw_stamp.size:
        return None
    return _other_stamp(raw_stamp, spike_file, position)


def _read_spike_file(spike_file: Path) -> tuple[_SpikeFileContent, SourceFile]:
    data, source = _read_source(spike_file)
    mat = _load_mat(spike_file, data)
    data = mat.get("data")
    if not isinstance(data, np.ndarray) or not data.dtype.names or "set" not in data.dtype.names or data.size == 0:
        raise RawFormatError(f"{spike_file}: no 'data.set' struct; not an NS1 spike file")
    set_array = data.ravel()[0]["set"]
    if not isinstance(set_array, np.ndarray) or not set_array.dtype.names or "repeats" not in set_array.dtype.names:
        raise RawFormatError(f"{spike_file}: 'data.set' has no 'repeats' field; not an NS1 spike file")
    set_fields = set_array.dtype.names
    sets = []
    all_times: list[np.ndarray] = []
    all_stamps: list[str | None] = []
    for position, set_record in enumerate(set_array.ravel()):
        repeats_struct = set_record["repeats"]
        n_repeats = 0
        if isinstance(repeats_struct, np.ndarray) and repeats_struct.dtype.names and "t" in repeats_struct.dtype.names:
            # One column read per field (as a list) is much cheaper than field access per record.
            times = repeats_struct["t"].ravel().tolist()
            n_repeats = len(times)
            for k, repeat_times in enumerate(times):
                # Row, column or 0x0 float64 arrays are flattened below; other types are the rare cases.
                if repeat_times.__class__ is not np.ndarray or repeat_times.dtype != np.float64:
                    times[k] = _other_times(repeat_times, spike_file, position)
            all_times.extend(times)
            if "timestamp" in repeats_struct.dtype.names:
                all_stamps.extend(_repeat_stamp(raw_stamp, spike_file, position)
                                  for raw_stamp in repeats_struct["timestamp"].ravel().tolist())
            else:
                all_stamps.extend([None] * n_repeats)
        elif not (isinstance(repeats_struct, np.ndarray) and repeats_struct.size == 0):
            raise RawFormatError(f"{spike_file}: set {position + 1} has a 'repeats' field without 't'")
        stim_params = _read_stim_params(set_record["stim_params"]) if "stim_params" in set_fields else {}
        length = _scalar(set_record["length_signal_ms"]) if "length_signal_ms" in set_fields else None
        sets.append((position, _stimulus_index(position, stim_params),
                     float(length) if isinstance(length, (int, float)) else None, stim_params, n_repeats))
    lengths = np.fromiter((t.size for t in all_times), dtype=np.int64, count=len(all_times))
    # axis=None flattens each repeat's array (C order, as ravel) while joining them.
    times = np.concatenate(all_times, axis=None) if all_times else np.empty(0)
    return _SpikeFileContent(sets, lengths, times, all_stamps), source


#: Fewer spike files than this are read in this process (starting workers would cost more).
_PARALLEL_MIN_FILES = 16


@contextmanager
def _spike_file_results(spike_files: list[Path]) -> Iterator[Iterator[tuple[_SpikeFileContent, SourceFile]]]:
    """The content and the checksum of each file, in order; read in forked worker processes when that pays.

    loadmat's parsing holds the GIL, so threads would not help; forked workers read
    (``$NS1NWB_WORKERS``, default one per core, at most 4) and send each file back as a
    :class:`_SpikeFileContent` (a few arrays: ~10^4 small ones would pickle far slower). fork is
    only used where it is safe (:func:`ns1nwb.workers.can_start_worker_processes`).
    The workers start on entering the block (before any progress bar's thread) and stop on
    leaving it, also when the block stops early: files not yet started are not read.
    """
    if len(spike_files) < _PARALLEL_MIN_FILES or _worker_processes() < 2:
        yield map(_read_spike_file, spike_files)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=_worker_processes(), mp_context=multiprocessing.get_context("fork"),
                               initializer=_ignore_sigint)
    try:
        yield _pool_results(pool, spike_files)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _pool_results(pool: Any, spike_files: list[Path]) -> Iterator[tuple[_SpikeFileContent, SourceFile]]:
    from concurrent.futures.process import BrokenProcessPool

    done = 0
    try:
        for content, source, caught in pool.map(_read_in_worker, spike_files, chunksize=4):
            for message, category in caught:  # what loadmat warned about, as if read here
                warnings.warn(message, category, stacklevel=2)
            done += 1
            yield content, source
    except BrokenProcessPool:
        # A worker died (killed for memory, say): read the rest here, where an error names its file.
        yield from map(_read_spike_file, spike_files[done:])


def _ignore_sigint() -> None:
    """In a worker: Ctrl-C is the parent's to handle (it stops the pool), not a traceback per worker; a
    termination signal ends the worker at once (also without a traceback)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in stop_signals(interrupt=False):
        signal.signal(signum, signal.SIG_DFL)


def _worker_processes() -> int:
    return worker_count() if can_start_worker_processes() else 1


def _read_in_worker(spike_file: Path) -> tuple[_SpikeFileContent, SourceFile, list[tuple[str, type[Warning]]]]:
    """:func:`_read_spike_file` in a worker, with the warnings it raised (the parent raises them again)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        content, source = _read_spike_file(spike_file)
    return content, source, [(str(w.message), w.category) for w in caught]


def _check_spike_values(spike_file: Path, times: np.ndarray, warn: _Warner) -> None:
    """Fail on values that would corrupt the data; warn on ones that look like the wrong unit."""
    if not times.size:
        return
    if not np.isfinite(times).all():
        raise RawFormatError(f"{spike_file}: spike times contain NaN or infinite values; the file is corrupt")
    if (times < 0).any():
        raise RawFormatError(
            f"{spike_file}: {int((times < 0).sum())} negative spike times (min {times.min():.3f} ms); "
            "NS1 times are ms after sound onset"
        )
    if times.size >= 10 and times.max() < 6.0:
        warn(f"{spike_file}: all spike times are below 6 ms; are they in seconds instead of ms?")


def _read_wavs(root: Path, warn: _Warner, sources: list[SourceFile]) -> dict[int, RawWav]:
    import soundfile

    wav_dir = root / SPIKES_DIR / WAV_DIR
    wavs: dict[int, RawWav] = {}
    missing = []
    for info in STIMULI[:N_NATURAL]:
        path = wav_dir / info.wav_name
        if not path.is_file():
            missing.append(info.wav_name)
            continue
        data, source = _read_source(path)
        try:
            samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except Exception as err:
            raise RawFormatError(f"{path}: not a readable wav ({err})") from err
        if rate != WAV_HEADER_RATE_HZ:
            raise RawFormatError(
                f"{path}: sample rate {rate} Hz, expected {WAV_HEADER_RATE_HZ} (true rate {WAV_TRUE_RATE_HZ}); "
                "this is not the released file"
            )
        if samples.shape[0] < _MIN_WAV_SAMPLES:
            raise RawFormatError(
                f"{path}: {samples.shape[0]} samples, shorter than the 4995-ms response window "
                f"({_MIN_WAV_SAMPLES} samples); the file is truncated"
            )
        # Mono in the release; average channels of a re-exported stereo file.
        mono = samples[:, 0] if samples.shape[1] == 1 else samples.mean(axis=1, dtype=np.float32)
        wavs[info.index] = RawWav(info.index, path, np.ascontiguousarray(mono), int(rate))
        sources.append(source)
    if missing:
        warn(f"{wav_dir}: {len(missing)} of {N_NATURAL} natural-sound wavs missing ({', '.join(missing[:3])}"
             f"{', ...' if len(missing) > 3 else ''}); those stimuli will have no waveform")
    return wavs


def _read_spectrogram(root: Path, sources: list[SourceFile]) -> tuple[np.ndarray | None, Path | None]:
    path = root / SPECTROGRAM_FILE
    if not path.is_file():
        return None, None
    data, source = _read_source(path)
    mat = _load_mat(path, data)
    x_nfht = mat.get("X_nfht")
    expected = (N_NATURAL, N_BANDS, 1, 999)
    if not isinstance(x_nfht, np.ndarray) or x_nfht.shape != expected:
        shape = getattr(x_nfht, "shape", None)
        raise RawFormatError(f"{path}: X_nfht has shape {shape}, expected {expected}; remove or replace the file")
    x_nfht = np.asarray(x_nfht, dtype=np.float64)
    if not np.isfinite(x_nfht).all():
        raise RawFormatError(f"{path}: X_nfht contains NaN or infinite values")
    sources.append(source)
    return x_nfht, path


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: reading makes ~10^5 long-lived, acyclic objects, and
    collections triggered by their allocation cost ~20 % of the read for nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_raw_tree(folder_path: str | os.PathLike, *, strict: bool = False, progress: bool = False) -> RawRelease:
    """Read a raw NS1 release folder.

    Parameters
    ----------
    folder_path : str or PathLike
        The folder holding ``MetadataSHEnCneurons.mat`` and ``spikesandwav/``.
    strict : bool, default False
        Raise :class:`~ns1nwb.exceptions.StrictModeError` instead of warning
        (a skipped spike file, missing wavs, times that look like seconds).
    progress : bool, default False
        Show a progress bar over the spike files (tqdm, only on a terminal).

    Returns
    -------
    RawRelease
        Units in metadata order, with every spike as stored.

    Raises
    ------
    RawFileNotFoundError
        The folder or the metadata file does not exist.
    RawFormatError
        A file is unreadable or not in the NS1 layout, a unit path leaves
        ``spikesandwav/``, two units share a path, or spike values are corrupt.
    """
    with _gc_paused():
        return _read_raw_tree(folder_path, strict=strict, progress=progress)


def _read_raw_tree(folder_path: str | os.PathLike, *, strict: bool = False, progress: bool = False) -> RawRelease:
    root = Path(folder_path)
    if not root.is_dir():
        raise RawFileNotFoundError(f"{root}: raw folder not found (expected MetadataSHEnCneurons.mat and spikesandwav/)")
    warn = _Warner(strict)
    fields, rows, meta_source = _read_metadata(root)
    meta_path = meta_source.path
    # Validate every path before reading any file, so a bad path reads nothing.
    spike_paths = [_checked_spike_path(root, row["__path__"], meta_path) for row in rows]
    _reject_duplicates(spike_paths, rows, meta_path)
    named = set(spike_paths)

    units: list[RawUnit] = []
    skipped: list[SkippedUnit] = []
    found_files: list[tuple[int, str, dict[str, Any], Path]] = []
    for index, (row, spike_path) in enumerate(zip(rows, spike_paths)):
        rel_path = row.pop("__path__")
        candidates = [spike_path]
        fallback = spike_path.with_name(spike_path.stem + "_1.mat")
        # The `_1` name is a fallback only when no other unit names that file.
        if spike_path.suffix == ".mat" and fallback not in named:
            candidates.append(fallback)
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            reason = f"spike file not found (looked for {', '.join(c.name for c in candidates)})"
            skipped.append(SkippedUnit(index, rel_path, reason))
            warn(f"{spike_path}: {reason}; skipping unit {index} ({rel_path})")
            continue
        found_files.append((index, rel_path, row, found))

    sources = [meta_source]
    with _spike_file_results([found for *_, found in found_files]) as all_sets:
        if progress:
            all_sets = progress_bar(all_sets, total=len(found_files), desc="reading spike files", unit="file")
        for (index, rel_path, row, found), (content, source) in zip(found_files, all_sets):
            _check_spike_values(found, content.times, warn)
            units.append(RawUnit(index, rel_path, row, found, content.raw_sets()))
            sources.append(source)

    if not units:
        raise RawFormatError(f"{meta_path}: none of the {len(rows)} units has a spike file under {root / SPIKES_DIR}")
    wavs = _read_wavs(root, warn, sources)
    x_nfht, spectrogram_file = _read_spectrogram(root, sources)
    return RawRelease(
        root=root,
        metadata_fields=fields,
        units=units,
        skipped_units=skipped,
        wavs=wavs,
        spectrogram_x_nfht=x_nfht,
        spectrogram_file=spectrogram_file,
        warnings=warn.messages,
        source_files=sources,
    )
