"""Build NWB files from the in-memory raw model and write them to disk.

``add_*_to_nwbfile`` functions change an in-memory :class:`pynwb.NWBFile`;
:func:`write_nwbfile` is the only one that touches disk (temporary name in the
output folder, renamed into place at the end). :func:`convert` runs the whole
pooled conversion. Column names, types and descriptions come from
``schemas/nwb_columns.yaml``.

Speed: during :func:`convert`, the large arrays' gzip and the trials' template
references are left to :func:`write_nwbfile`, which compresses in threads while
hdmf writes the rest and adds the references in one step (see
:func:`_deferred_writes`). Its forked writer also hands the stimulus templates to a
second forked writer, so that hdmf's pure-Python work runs on two cores, and copies
their groups in at the end (see :func:`_write_here`). The file is the one pynwb
would write.

Time base: spike times are in seconds on the file's clock (see
:mod:`ns1nwb.sessions`): onset + raw time. The clock of any file spans at most
hours, so ``spike_time - trial start_time`` gives back the raw ms within ~1e-8 ms;
``units.spike_trial_index`` says which trial row each spike belongs to.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import re
import sys
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import numpy as np

from ._version import __version__
from .constants import (
    N_NATURAL,
    SPECTROGRAM_RATE_HZ,
    SPIKE_CLOCK_HZ,
    SPIKES_DIR,
    STIMULI,
    TEST_STIMULI,
    WAV_TRUE_RATE_HZ,
    BAND_CENTRES_HZ,
)
from .exceptions import OutputError
from .metadata import column_specs, load_metadata, subject_metadata, synthetic_clock_start
from .raw import RawRelease, RawUnit, _gc_paused, read_raw_tree
from .sessions import RecordingBlock, SessionPlan, block_offsets_s, plan_sessions
from .workers import can_fork, stop_signals, worker_count

if TYPE_CHECKING:
    from pynwb import NWBFile

__all__ = [
    "ConversionResult",
    "build_nwbfile",
    "write_nwbfile",
    "convert",
    "parse_audio_rate",
]

#: Shown in the file's notes and descriptions; the reader relies on these names.
STIMULI_MODULE = "stimuli"
STIMULI_TABLE = "stimuli"
PROVENANCE_MODULE = "provenance"
GOOD_LABELS = ("Yes", "Maybe")


#: gzip (readable everywhere) at level 1 with shuffle: within 1 % of level 4's size here, and
#: a third faster to read back.
GZIP_LEVEL = 1
try:
    # ISA-L's deflate: a standard zlib stream (HDF5's gzip filter reads it anywhere), ten times faster
    # than zlib's at level 1 for a file within 2 % of its size.
    from isal.isal_zlib import compress as _deflate
except ImportError:  # no wheel for this platform
    from zlib import compress as _deflate
#: 1-D arrays at least this large are compressed in threads during a conversion (see :func:`_compressed`).
_PARALLEL_GZIP_MIN_BYTES = 256 * 1024


@dataclass
class _DeferredArray:
    """A large 1-D array written as an empty gzip dataset by hdmf, its chunks compressed by us."""

    dataio: Any
    array: np.ndarray
    chunk_length: int


@dataclass
class _DeferredReferences:
    """The trials' ``timeseries`` column, added with h5py once hdmf has written the file.

    hdmf resolves object references one by one (over a second for the 6,900 trials);
    here the ~20 distinct templates are resolved once. Same datasets and attributes.
    """

    description: str
    #: (idx_start, count, path of the referenced series) per trial row.
    rows: list[tuple[int, int, str]]


@dataclass
class _Deferred:
    """What :func:`write_nwbfile` finishes itself for a file built inside :func:`_deferred_writes`."""

    arrays: list[_DeferredArray] = field(default_factory=list)
    trial_references: _DeferredReferences | None = None


#: Set by :func:`_deferred_writes` during a conversion: what the file being built defers.
_DEFERRED: contextvars.ContextVar[_Deferred | None] = contextvars.ContextVar("ns1nwb_deferred", default=None)
#: NWB file built under :func:`_deferred_writes` -> what it deferred, for :func:`write_nwbfile`.
_PENDING: "weakref.WeakKeyDictionary[Any, _Deferred]" = weakref.WeakKeyDictionary()


def _compressed(data: Any, chunks: Any = True, table_column: bool = False) -> Any:
    """``data`` as a gzip + shuffle dataset (``table_column``: a DynamicTable column's data).

    HDF5 runs the gzip filter serially, chunk after chunk; inside :func:`_deferred_writes`
    a large 1-D array becomes an empty dataset with the same filters instead, and
    :func:`write_nwbfile` compresses its chunks in threads while hdmf writes the rest,
    then stores them with ``write_direct_chunk``. The file is the same either way.
    """
    from hdmf.backends.hdf5.h5_utils import H5DataIO

    deferred = _DEFERRED.get()
    if (deferred is not None and isinstance(data, np.ndarray) and data.ndim == 1 and data.dtype.kind in "fiu"
            and data.dtype.isnative and data.flags.c_contiguous and data.nbytes >= _PARALLEL_GZIP_MIN_BYTES
            and isinstance(chunks, tuple)):
        # hdmf makes table columns expandable when it writes their data; an empty dataset it leaves fixed.
        expandable = {"maxshape": (None,)} if table_column else {}
        dataio = H5DataIO(shape=data.shape, dtype=data.dtype, chunks=chunks, compression="gzip",
                          compression_opts=GZIP_LEVEL, shuffle=True, **expandable)
        deferred.arrays.append(_DeferredArray(dataio, data, int(chunks[0])))
        return dataio
    return H5DataIO(data, compression="gzip", compression_opts=GZIP_LEVEL, shuffle=True, chunks=chunks)


@contextlib.contextmanager
def _deferred_writes() -> Iterator[None]:
    """Within: files built by :func:`build_nwbfile` leave their large arrays' compression and the trials'
    template references to :func:`write_nwbfile` (only it can finish them)."""
    token = _DEFERRED.set(_Deferred())
    try:
        yield
    finally:
        _DEFERRED.reset(token)


def _gzip_chunk(array: np.ndarray, start: int, chunk_length: int) -> bytes:
    """One HDF5 chunk as the shuffle and deflate filters store it (edge chunks padded with zeros)."""
    block = array[start:start + chunk_length]
    if block.size < chunk_length:
        block = np.concatenate([block, np.zeros(chunk_length - block.size, dtype=array.dtype)])
    # Shuffle: byte j of every value goes to plane j (a no-op for 1-byte types).
    planes = np.ascontiguousarray(block.view(np.uint8).reshape(chunk_length, block.itemsize).T)
    return _deflate(planes.tobytes(), GZIP_LEVEL)


def parse_audio_rate(value: str | float | int) -> float | None:
    """``'native'`` -> None (keep the wav samples), else a positive rate in Hz."""
    if isinstance(value, str) and value.strip().lower() == "native":
        return None
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"audio rate {value!r} is neither a number of Hz nor 'native'") from None
    if not np.isfinite(rate) or rate <= 0:
        raise ValueError(f"audio rate {value!r} must be a positive number of Hz")
    return rate


def _vector(name: str, description: str, data: Any) -> Any:
    from hdmf.common import VectorData

    return VectorData(name=name, description=description, data=data)


def _ragged(name: str, description: str, data: Any, ends: Any, cls: Any = None, **kwargs: Any) -> list[Any]:
    """A ragged column: its data and its ``<name>_index`` of end offsets."""
    from hdmf.common import VectorData, VectorIndex

    target = (cls or VectorData)(name=name, description=description, data=data, **kwargs)
    index = VectorIndex(name=f"{name}_index", data=np.asarray(ends, dtype=np.uint32), target=target)
    return [target, index]


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", re.sub(r"[^A-Za-z0-9]+", "_", name)).strip("_").lower() or "field"


def _column_data(values: list[Any], dtype: str) -> Any:
    if dtype == "text":
        return ["" if v is None else str(v) for v in values]
    if dtype == "bool":
        return np.asarray(values, dtype=bool)
    return np.asarray(values, dtype=np.dtype(dtype))


# --------------------------------------------------------------------------- metadata


def _source_checksums(release: RawRelease) -> list[tuple[str, int, str]]:
    """(path relative to the raw folder, size, SHA-256) of every file read, hashed by the reader."""
    root = release.root.resolve()
    return [(Path(os.path.relpath(f.path.resolve(), root)).as_posix(), f.size_bytes, f.sha256)
            for f in release.source_files]


@dataclass
class _Context:
    """What every ``add_*`` step needs: the release, its plan and the options."""

    release: RawRelease
    plan: SessionPlan
    metadata: dict[str, Any]
    audio_rate_hz: float | None
    checksums: list[tuple[str, int, str]]
    blocks: list[RecordingBlock] = field(default_factory=list)
    #: Derived stimulus arrays (resampled waveforms, computed spectrograms), shared by the
    #: files of one conversion run so per-session files do not recompute them.
    stimulus_cache: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)

    @property
    def unit_indices(self) -> list[int]:
        return sorted(i for b in self.blocks for i in b.unit_indices)

    @property
    def options(self) -> dict[str, Any]:
        return {"audio_rate_hz": self.audio_rate_hz or "native", "sessions": [b.session_id for b in self.blocks]}


def _identifier(ctx: _Context) -> str:
    content = json.dumps({"sources": ctx.checksums, "options": ctx.options, "metadata": ctx.metadata},
                         sort_keys=True, default=str)
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "ns1nwb:" + hashlib.sha256(content.encode()).hexdigest()))


def _new_nwbfile(ctx: _Context) -> "NWBFile":
    from pynwb import NWBFile
    from pynwb.file import Subject

    md = ctx.metadata
    subjects = sorted({b.subject_id for b in ctx.blocks})
    notes = [
        f"Converted by ns1nwb {__version__} from the raw NS1 release ({len(ctx.unit_indices)} units, "
        f"{len(ctx.blocks)} recording blocks).",
    ]
    if ctx.plan.clock == "wall-clock":
        notes.append("Time base: presentation onsets come from the raw wall-clock timestamps (Europe/London); "
                     "the session starts at the earliest onset.")
    else:
        notes.append("Time base: SYNTHETIC. The raw files carry no timestamps, so presentations are laid out 10 s "
                     "apart in stimulus/repeat order; only times relative to each trial's start_time are real.")
    if len(ctx.blocks) > 1:
        notes.append("The recording blocks span months, so this pooled file lays them end to end in chronological "
                     "order, 60 s apart, each keeping its own internal timing; trials.onset_timestamp has every "
                     "presentation's true wall-clock onset, and the per-session files (convert --dandi) keep "
                     "true times.")
    if len(subjects) > 1:
        notes.append(f"Pooled file: units of {len(subjects)} ferrets ({', '.join(subjects)}); units.subject_id "
                     "names each unit's ferret. The Subject below describes them as a group.")
    if ctx.release.skipped_units:
        notes.append(f"{len(ctx.release.skipped_units)} units of the metadata had no spike file and are not here: "
                     + ", ".join(s.path for s in ctx.release.skipped_units) + ".")

    subject_id = subjects[0] if len(subjects) == 1 else "+".join(subjects)
    subject_fields, _ = subject_metadata(md, subjects[0] if len(subjects) == 1 else "")
    if len(subjects) > 1:
        subject_fields = dict(md.get("subject", {}))
        subject_fields["description"] = (f"Group of {len(subjects)} ferrets ({', '.join(subjects)}) pooled in one "
                                         "file; see units.subject_id. " + subject_fields.get("description", ""))
    subject = Subject(subject_id=subject_id, **{k: v for k, v in subject_fields.items() if v is not None})

    session_id = ctx.blocks[0].session_id if len(ctx.blocks) == 1 else "NS1-pooled"
    start = ctx.blocks[0].start
    return NWBFile(
        session_description=md["session_description"].strip(),
        identifier=_identifier(ctx),
        session_start_time=start,
        session_id=session_id,
        experiment_description=md["experiment_description"].strip(),
        experimenter=md.get("experimenter") or None,
        lab=md.get("lab"),
        institution=md.get("institution"),
        keywords=md.get("keywords"),
        related_publications=md.get("related_publications"),
        stimulus_notes=md.get("stimulus_notes"),
        data_collection=md.get("data_collection"),
        surgery=md.get("surgery"),
        pharmacology=md.get("pharmacology"),
        protocol=md.get("protocol"),
        notes=" ".join(notes),
        source_script=json.dumps({"software": "ns1nwb", "version": __version__, "command": "convert",
                                  "options": ctx.options, "clock": ctx.plan.clock}, sort_keys=True),
        source_script_file_name="ns1nwb",
        subject=subject,
    )


def add_provenance_to_nwbfile(nwbfile: "NWBFile", ctx: _Context) -> None:
    """A ``provenance/source_files`` table: every raw file read, its size and SHA-256."""
    from hdmf.common import DynamicTable, ElementIdentifiers

    # A per-session file lists only its own units' spike files (plus metadata, wavs, spectrogram).
    root = ctx.release.root.resolve()
    spike_file_names = [Path(os.path.relpath(u.spike_file.resolve(), root)).as_posix() for u in ctx.release.units]
    all_spike_files = set(spike_file_names)
    own_spike_files = {spike_file_names[i] for i in ctx.unit_indices}
    listed = [row for row in ctx.checksums if row[0] not in all_spike_files or row[0] in own_spike_files]
    # Lists, as add_row would make them (and so the same datasets), built in one step.
    table = DynamicTable(
        name="source_files",
        description=(f"Raw NS1 files this file was converted from by ns1nwb {__version__}; paths relative to "
                     "the raw folder."),
        id=ElementIdentifiers(name="id", data=list(range(len(listed)))),
        columns=[_vector("file_name", "Path relative to the raw release folder.", [r[0] for r in listed]),
                 _vector("size_bytes", "File size in bytes.", [r[1] for r in listed]),
                 _vector("sha256", "SHA-256 of the file's bytes.", [r[2] for r in listed])],
    )
    module = nwbfile.create_processing_module(PROVENANCE_MODULE, "How this file was made: the source files.")
    module.add(table)


# --------------------------------------------------------------------------- stimuli


def _stimulus_array_jobs(release: RawRelease, audio_rate_hz: float | None,
                         cache: dict[tuple[str, int], np.ndarray]) -> dict[tuple[str, int], Any]:
    """(kind, stimulus index) -> a function deriving that array (resampled waveform, computed spectrogram),
    for the arrays not in ``cache``."""
    from .audio import compute_spectrogram, resample_waveform

    jobs: dict[tuple[str, int], Any] = {}
    for index, wav in release.wavs.items():
        if audio_rate_hz is not None:
            jobs[("waveform", index)] = lambda w=wav: resample_waveform(w.samples, audio_rate_hz)
        if release.spectrogram_x_nfht is None:
            jobs[("spectrogram", index)] = lambda w=wav: compute_spectrogram(w.samples).T
    return {key: job for key, job in jobs.items() if key not in cache}


def add_stimuli_to_nwbfile(nwbfile: "NWBFile", ctx: _Context) -> dict[int, Any]:
    """Waveform and spectrogram templates of the natural sounds, and the 32-row stimuli table.

    Returns
    -------
    dict
        stimulus index -> the template a trial of that sound references.
    """
    from hdmf.common import DynamicTable, ElementIdentifiers
    from ndx_sound import AcousticWaveformSeries
    from pynwb.misc import DecompositionSeries, FrequencyBandsTable

    from .audio import SPECTROGRAM_RECIPE, band_edges_hz

    release = ctx.release
    edges = band_edges_hz()
    # build_nwbfile derives them in threads beforehand; called on its own, derive what is missing here.
    for key, job in _stimulus_array_jobs(release, ctx.audio_rate_hz, ctx.stimulus_cache).items():
        ctx.stimulus_cache[key] = job()
    templates: dict[int, Any] = {}
    waveform_names: dict[int, str] = {}
    spectrogram_names: dict[int, str] = {}
    for info in STIMULI[:N_NATURAL]:
        wav = release.wavs.get(info.index)
        waveform = None
        if wav is not None:
            if ctx.audio_rate_hz is None:
                samples, rate, how = wav.samples, WAV_TRUE_RATE_HZ, "the original float32 samples, bit-exact"
            else:
                samples = ctx.stimulus_cache[("waveform", info.index)]
                rate = ctx.audio_rate_hz
                how = (f"resampled from the true 48828.125 Hz to {rate:g} Hz with scipy.signal.resample_poly")
            waveform = AcousticWaveformSeries(
                name=f"{info.name}_waveform",
                data=_compressed(samples, chunks=(min(samples.size, 65536),)),
                rate=float(rate),
                starting_time=0.0,
                description=(f"Natural sound {info.name} ({info.category}), wav {info.wav_name}: {how}. "
                             f"Amplitude in pascals (94 + 20 log10(rms) = nominal level, "
                             f"{info.nominal_level_db_spl:g} dB SPL); t = 0 is sound onset."),
            )
            nwbfile.add_stimulus_template(waveform)
            waveform_names[info.index] = waveform.name
            templates[info.index] = waveform
        if release.spectrogram_x_nfht is not None:
            spectrogram = release.spectrogram_x_nfht[info.index, :, 0, :].T  # (time, band), stored verbatim
            source = f"X_nfht of {release.spectrogram_file.name}, verbatim (float64)"  # type: ignore[union-attr]
        elif wav is not None:
            spectrogram = ctx.stimulus_cache[("spectrogram", info.index)]
            source = SPECTROGRAM_RECIPE
        else:
            continue
        bands = FrequencyBandsTable(
            id=ElementIdentifiers(name="id", data=np.arange(len(BAND_CENTRES_HZ))),
            columns=[_vector("band_name", "Band centre as text.", [f"{c:.0f} Hz" for c in BAND_CENTRES_HZ]),
                     _vector("band_limits", "Lower and upper edge of the band, Hz.", edges),
                     _vector("band_mean", "Centre frequency of the band, Hz.", np.asarray(BAND_CENTRES_HZ))])
        series = DecompositionSeries(
            name=f"{info.name}_spectrogram",
            bands=bands,
            data=_compressed(np.ascontiguousarray(spectrogram[:, None, :])),
            metric="power",
            unit="dB",
            rate=SPECTROGRAM_RATE_HZ,
            starting_time=0.0,
            source_timeseries=waveform,
            description=(f"34-band log-power spectrogram of {info.name}, 5-ms frames (frame n is response bin n, "
                         f"[5n, 5n+5) ms after onset), bands 1/6 octave apart from 500 Hz; source: {source}."),
        )
        nwbfile.add_stimulus_template(series)
        spectrogram_names[info.index] = series.name
        templates.setdefault(info.index, series)

    specs = {c["name"]: c for c in column_specs()["stimuli"]}
    table = DynamicTable(name=STIMULI_TABLE, description=(
        "The 32 NS1 sounds in the set order of the raw spike files (row = stimulus index): 0-19 natural sounds "
        "(20 repeats per block), 20-31 dynamic random chords (5 repeats, no released wav)."))
    values = {
        "stimulus_name": [s.name for s in STIMULI],
        "stimulus_type": [s.stimulus_type for s in STIMULI],
        "sound_category": [s.category for s in STIMULI],
        "wav_name": [s.wav_name for s in STIMULI],
        "n_repeats": [s.n_repeats for s in STIMULI],
        "nominal_level_db_spl": [s.nominal_level_db_spl for s in STIMULI],
        "has_waveform": [s.index in waveform_names for s in STIMULI],
        "is_test_stimulus": [s.index in TEST_STIMULI for s in STIMULI],
        "waveform_series": [waveform_names.get(s.index, "") for s in STIMULI],
        "spectrogram_series": [spectrogram_names.get(s.index, "") for s in STIMULI],
    }
    table.id.extend(range(len(STIMULI)))
    for name, column in values.items():
        table.add_column(name=name, description=specs[name]["description"],
                         data=_column_data(column, specs[name]["dtype"]))
    module = nwbfile.create_processing_module(STIMULI_MODULE, "Facts about the 32 NS1 stimuli.")
    module.add(table)
    return templates


# --------------------------------------------------------------------------- trials


@dataclass
class _TrialLayout:
    """Trial rows of the file and where each (session, stimulus, repeat) went."""

    start_s: np.ndarray
    row_of: dict[tuple[str, int, int], int]
    #: (session, stimulus index) -> trial row of each repeat index.
    rows_by_set: dict[tuple[str, int], np.ndarray]


def add_trials_to_nwbfile(nwbfile: "NWBFile", ctx: _Context, templates: dict[int, Any]) -> _TrialLayout:
    """One trial per presentation per recording block, in time order.

    A single-block file keeps the block's own clock; a file of several blocks lays
    them end to end (:func:`ns1nwb.sessions.block_offsets_s`).
    """
    from hdmf.common import ElementIdentifiers
    from pynwb.base import TimeSeriesReference, TimeSeriesReferenceVectorData
    from pynwb.epoch import TimeIntervals

    offsets = block_offsets_s(ctx.blocks)
    rows = sorted(((offset + p.onset_ms / 1000.0, b.session_id, p) for b, offset in zip(ctx.blocks, offsets)
                   for p in b.presentations), key=lambda item: (item[0], item[1], item[2].stimulus_index))
    n = len(rows)
    start_s = np.array([t for t, _, _ in rows])
    stop_s = start_s + np.array([p.length_signal_ms for _, _, p in rows]) / 1000.0
    specs = {c["name"]: c for c in column_specs()["trials"]}

    def param(p: Any, name: str) -> int:
        value = p.stim_params.get(name)
        return int(value) if isinstance(value, (int, float)) else -1

    values: dict[str, list[Any]] = {
        "stimulus_index": [p.stimulus_index for _, _, p in rows],
        "stimulus_name": [STIMULI[p.stimulus_index].name for _, _, p in rows],
        "stimulus_type": [STIMULI[p.stimulus_index].stimulus_type for _, _, p in rows],
        "sound_category": [STIMULI[p.stimulus_index].category for _, _, p in rows],
        "repeat_index": [p.repeat_index for _, _, p in rows],
        "session_id": [sid for _, sid, _ in rows],
        "nominal_level_db_spl": [float(p.stim_params.get("NominalLevel",
                                                         STIMULI[p.stimulus_index].nominal_level_db_spl))
                                 for _, _, p in rows],
        "onset_timestamp": [p.timestamp for _, _, p in rows],
        "length_signal_ms": [p.length_signal_ms for _, _, p in rows],
        "stim_source": [param(p, "Source") for _, _, p in rows],
        "stim_mode": [param(p, "Mode") for _, _, p in rows],
        "stim_bf": [param(p, "BF") for _, _, p in rows],
        "stim_token": [param(p, "Token") for _, _, p in rows],
        "stim_set": [param(p, "Set") for _, _, p in rows],
        "stim_id": [param(p, "StimID") for _, _, p in rows],
        "stim_level": [param(p, "Level") for _, _, p in rows],
    }
    columns = [_vector("start_time", "Sound onset, s.", _compressed(start_s)),
               _vector("stop_time", "End of the recorded sweep, s.", _compressed(stop_s))]
    columns += [_vector(name, specs[name]["description"], _column_data(column, specs[name]["dtype"]))
                for name, column in values.items()]
    if templates:
        fallback = next(iter(templates.values()))
        # (start, count, template) of each trial; the dynamic random chords have no template: an empty
        # reference (-1, -1) to any series, as TimeSeriesReference.empty makes.
        targets = {index: (0, int(series.data.shape[0]), series) for index, series in templates.items()}
        reference_rows = [targets.get(p.stimulus_index, (-1, -1, fallback)) for _, _, p in rows]
        description = "The presented sound's template (see the table description)."
        deferred = _DEFERRED.get()
        if deferred is not None:
            deferred.trial_references = _DeferredReferences(
                description, [(start, count, f"/stimulus/templates/{series.name}")
                              for start, count, series in reference_rows])
        else:
            references = [TimeSeriesReference(start, count, series) for start, count, series in reference_rows]
            columns += _ragged("timeseries", description, references, np.arange(1, n + 1),
                               cls=TimeSeriesReferenceVectorData)
    clock = ("each recording block keeps its own wall-clock timing (onsets at their raw timestamps' offsets "
             "from the block's first onset)" if ctx.plan.clock == "wall-clock" else
             "SYNTHETIC onsets (the raw files carry no timestamps): 10 s apart in stimulus/repeat order")
    placement = ("; blocks are laid end to end in chronological order, 60 s apart, so start_time is not the time "
                 "since session_start_time for blocks after the first: onset_timestamp has each true onset"
                 if len(ctx.blocks) > 1 else "")
    nwbfile.trials = TimeIntervals(
        name="trials",
        description=(
            "One row per sound presentation per recording block. start_time is the sound onset, stop_time the end "
            f"of the recorded sweep; {clock}{placement}. timeseries references the sound's template in "
            "/stimulus/templates (waveform, or spectrogram when there is no wav; an empty reference (-1, -1) for "
            "the dynamic random chords)."),
        id=ElementIdentifiers(name="id", data=np.arange(n)),
        columns=columns,
    )
    row_of = {(sid, p.stimulus_index, p.repeat_index): i for i, (_, sid, p) in enumerate(rows)}
    by_set: dict[tuple[str, int], dict[int, int]] = {}
    for (sid, stimulus_index, repeat_index), row in row_of.items():
        by_set.setdefault((sid, stimulus_index), {})[repeat_index] = row
    # A block has every repeat index from 0 to its most repeated unit's last (the union of its units').
    rows_by_set = {key: np.array([rows_of_set[r] for r in range(len(rows_of_set))], dtype=np.int64)
                   for key, rows_of_set in by_set.items()}
    return _TrialLayout(start_s=start_s, row_of=row_of, rows_by_set=rows_by_set)


# --------------------------------------------------------------------------- electrodes and units


def add_electrodes_to_nwbfile(nwbfile: "NWBFile", ctx: _Context) -> dict[tuple[str, int], int]:
    """Devices (one per experiment folder), electrode groups (one per probe/shank) and the used sites.

    Returns
    -------
    dict
        (probe group, site number) -> electrodes table row.
    """
    units = [ctx.release.units[i] for i in ctx.unit_indices]
    specs = {c["name"]: c for c in column_specs()["electrodes"]}
    for name in ("site_number", "probe_site_count", "depth_um"):
        nwbfile.add_electrode_column(name=name, description=specs[name]["description"])
    devices: dict[str, Any] = {}
    groups: dict[str, Any] = {}
    sites: dict[tuple[str, int], RawUnit] = {}
    for unit in units:
        sites.setdefault((unit.probe_group, int(unit.metadata.get("ElectrodeNumber") or 0)), unit)
    row_of: dict[tuple[str, int], int] = {}
    rows: list[dict[str, Any]] = []
    for (group_label, site), unit in sorted(sites.items()):
        n_sites = int(unit.metadata.get("NrOfElectrodes") or 0)
        if unit.experiment not in devices:
            layout = unit.experiment.split("_", 1)[1] if "_" in unit.experiment else f"{n_sites}-site"
            if "probe_model" not in nwbfile.device_models:
                nwbfile.create_device_model(name="probe_model", manufacturer="NeuroNexus",
                                            description="Multi-site silicon probe (16 or 32 sites, 1 or 4 shanks).")
            devices[unit.experiment] = nwbfile.create_device(
                name=f"probe_{_snake(unit.experiment)}",
                description=f"Multi-site silicon probe ({layout}) of experiment {unit.experiment}.",
                model=nwbfile.device_models["probe_model"],
            )
        if group_label not in groups:
            groups[group_label] = nwbfile.create_electrode_group(
                name=group_label.replace("/", "."),
                description=(f"Probe or shank {group_label} ({n_sites} sites), from the spike files' folder "
                             "names (the .D/.U folders of one penetration are one probe)."),
                location="primary auditory cortex",
                device=devices[unit.experiment],
            )
        depth = unit.metadata.get("depth")
        rows.append({"location": "primary auditory cortex", "group": groups[group_label], "site_number": site,
                     "probe_site_count": n_sites, "depth_um": int(depth) if isinstance(depth, (int, float)) else 0,
                     "group_name": groups[group_label].name})
        row_of[(group_label, site)] = len(row_of)
    # pynwb adds the first row (and so makes the table's columns); the rest go in one step per column,
    # without add_row's per-row checks (a tenth of the time).
    if rows:
        nwbfile.add_electrode(**rows[0])
        table = nwbfile.electrodes
        table.id.extend(range(1, len(rows)))
        for name in table.colnames:
            table[name].extend([row[name] for row in rows[1:]])
    return row_of


def _unit_spikes(unit: RawUnit, session_id: str, layout: _TrialLayout,
                 trial_dtype: Any = np.int32) -> tuple[np.ndarray, np.ndarray]:
    """(spike_times s, trial row) of one unit, ascending in time, sorted within each trial.

    Equal times keep trial order, then the stored order.
    """
    rows = [layout.rows_by_set[(session_id, raw_set.stimulus_index)][:len(raw_set.repeats)]
            for raw_set in unit.sets if raw_set.repeats]
    counts = [repeat.spike_times_ms.size for raw_set in unit.sets for repeat in raw_set.repeats]
    trial = np.repeat(np.concatenate(rows).astype(trial_dtype) if rows else np.empty(0, trial_dtype), counts)
    relative_ms = np.concatenate([repeat.spike_times_ms for raw_set in unit.sets for repeat in raw_set.repeats]
                                 or [np.empty(0)])
    absolute_s = layout.start_s[trial] + relative_ms / 1000.0
    # Sorting by absolute time sorts within each trial too (trials are in time order).
    order = np.lexsort((trial, absolute_s))
    return absolute_s[order], trial[order]


def _metadata_columns(units: list[RawUnit], fields: list[str]) -> list[tuple[str, str, str, list[Any]]]:
    """(name, dtype, description, values) of every metadata-derived unit column."""
    specs = column_specs()["units"]
    known = {c["source"].split(":", 1)[1]: c for c in specs if c["source"].startswith("metadata:")}
    path_field = "path" if "path" in fields else fields[0]
    columns = []
    for field_name in fields:
        values = [u.metadata.get(field_name) for u in units]
        spec = known.get(field_name) or (known["path"] if field_name == path_field else None)
        if field_name == path_field:
            columns.append(("unit_name", "text", known["path"]["description"], [u.unit_name for u in units]))
        elif spec is not None:
            columns.append((spec["name"], spec["dtype"], spec["description"], values))
        else:
            # A field the spec does not name: keep it with the most faithful type.
            if all(isinstance(v, bool) for v in values):
                dtype = "bool"
            elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                dtype = "int64"
            elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                dtype = "float64"
            else:
                dtype = "text"
                values = [v if isinstance(v, str) else json.dumps(v) for v in values]
            columns.append((_snake(field_name), dtype,
                            f"Raw metadata field {field_name!r} of MetadataSHEnCneurons.mat, kept as is.", values))
    return columns


def add_units_to_nwbfile(nwbfile: "NWBFile", ctx: _Context, layout: _TrialLayout,
                         electrode_rows: dict[tuple[str, int], int]) -> None:
    """The units table: every spike of every set, metadata columns, electrodes and observation intervals."""
    from hdmf.common import DynamicTableRegion, ElementIdentifiers
    from pynwb.misc import Units

    session_of = {i: b.session_id for b in ctx.blocks for i in b.unit_indices}
    subject_of = {i: b.subject_id for b in ctx.blocks for i in b.unit_indices}
    indices = ctx.unit_indices
    units = [ctx.release.units[i] for i in indices]
    spec = {c["name"]: c for c in column_specs()["units"]}

    # Each block is observed from its first onset to the end of its last sweep.
    block_span: dict[str, tuple[float, float]] = {}
    for block in ctx.blocks:
        rows = [layout.row_of[(block.session_id, p.stimulus_index, p.repeat_index)] for p in block.presentations]
        starts = layout.start_s[rows]
        stops = starts + np.array([p.length_signal_ms for p in block.presentations]) / 1000.0
        block_span[block.session_id] = (float(starts.min()), float(stops.max()))

    # The smallest unsigned type that holds every trial row (uint16 for the release's 6,900).
    trial_dtype = np.min_scalar_type(max(len(layout.start_s) - 1, 0))
    ends = np.cumsum([unit.n_spikes for unit in units])
    # Filled unit by unit (joining 119 arrays afterwards would cost as much again).
    spike_times = np.empty(ends[-1])
    trial = np.empty(ends[-1], dtype=trial_dtype)
    obs = []
    for index, unit, stop in zip(indices, units, ends):
        absolute_s, trial_rows = _unit_spikes(unit, session_of[index], layout, trial_dtype)
        spike_times[stop - absolute_s.size:stop] = absolute_s
        trial[stop - absolute_s.size:stop] = trial_rows
        first, last = block_span[session_of[index]]
        obs.append([first, max(last, float(absolute_s[-1]) if absolute_s.size else last)])

    electrode_index = [electrode_rows[(u.probe_group, int(u.metadata.get("ElectrodeNumber") or 0))] for u in units]
    one_each = np.arange(1, len(units) + 1)
    # Chunks of 128k spikes (~1 MB): a one-unit read decompresses little, a bulk read few chunks.
    spike_chunks = (min(max(ends[-1], 1), 131072),)
    columns = _ragged("spike_times", "Spike times, s, on the file clock.",
                      _compressed(spike_times, spike_chunks, table_column=True), ends)
    columns += _ragged("obs_intervals", "The recording block of the unit: first onset to last sweep end, s.",
                       np.asarray(obs, dtype=np.float64), one_each)
    columns += _ragged("electrodes", "The recording site of the unit.", np.asarray(electrode_index), one_each,
                       cls=DynamicTableRegion, table=nwbfile.electrodes)
    columns.append(_vector("electrode_group", "Probe or shank of the unit.",
                           [nwbfile.electrode_groups[u.probe_group.replace("/", ".")] for u in units]))
    columns += [_vector(name, description, _column_data(values, dtype))
                for name, dtype, description, values in _metadata_columns(units, ctx.release.metadata_fields)]
    derived = {
        "spike_file": [Path(os.path.relpath(u.spike_file, ctx.release.root / SPIKES_DIR)).as_posix() for u in units],
        "metadata_index": [u.metadata_index for u in units],
        "subject_id": [subject_of[i] for i in indices],
        "session_id": [session_of[i] for i in indices],
    }
    if all("singleT" in u.metadata and isinstance(u.metadata.get("depth"), (int, float)) for u in units):
        derived["is_good"] = [u.metadata["singleT"] in GOOD_LABELS and u.metadata["depth"] >= 0 for u in units]
    columns += [_vector(name, spec[name]["description"], _column_data(values, spec[name]["dtype"]))
                for name, values in derived.items()]
    columns += _ragged("spike_trial_index", spec["spike_trial_index"]["description"],
                       _compressed(trial, spike_chunks, table_column=True), ends)
    nwbfile.units = Units(
        name="units",
        id=ElementIdentifiers(name="id", data=np.arange(len(units))),
        columns=columns,
        resolution=1.0 / SPIKE_CLOCK_HZ,
        electrode_table=nwbfile.electrodes,
        description=(
            "Sorted units of the NS1 release in metadata order. spike_times holds every spike of all 32 stimulus "
            "sets (including spikes after the 4995-ms response window), ascending, in seconds on the file clock "
            "(trial start_time + raw spike time); spike_trial_index gives each spike's trial row."),
    )


# --------------------------------------------------------------------------- whole files


def build_nwbfile(release: RawRelease, *, metadata: dict[str, Any] | None = None,
                  audio_rate_hz: float | None = 48000.0, session_ids: Iterable[str] | None = None,
                  plan: SessionPlan | None = None,
                  stimulus_cache: dict[tuple[str, int], np.ndarray] | None = None) -> "NWBFile":
    """An in-memory NWB file of a release (all recording blocks, or those in ``session_ids``).

    Parameters
    ----------
    release : RawRelease
        From :func:`ns1nwb.read_raw_tree`.
    metadata : dict, optional
        From :func:`ns1nwb.metadata.load_metadata`; defaults when None.
    audio_rate_hz : float or None, default 48000
        Rate of the stored waveforms; None keeps the original samples (48828.125 Hz).
    session_ids : iterable of str, optional
        Recording blocks to include (per-session files); all when None.
    plan, stimulus_cache : optional
        Computed once and passed in when one run builds several files.
    """
    import ndx_sound  # noqa: F401  (registers AcousticWaveformSeries)

    deferred = _DEFERRED.get()
    if deferred is not None:  # nothing left over from a build that failed half-way
        deferred.arrays.clear()
        deferred.trial_references = None
    metadata = metadata if metadata is not None else load_metadata(None)
    cache = stimulus_cache if stimulus_cache is not None else {}
    with ThreadPoolExecutor(max_workers=worker_count()) as pool:
        # Resampling and spectrograms (scipy and numpy release the GIL) run in threads while
        # this thread plans the blocks and adds the electrodes.
        pending = {key: pool.submit(job) for key, job in _stimulus_array_jobs(release, audio_rate_hz, cache).items()}
        plan = plan or plan_sessions(release, synthetic_clock_start(metadata))
        wanted = set(session_ids) if session_ids is not None else None
        blocks = [b for b in plan.blocks if wanted is None or b.session_id in wanted]
        if not blocks:
            raise ValueError(f"no recording block among {sorted(wanted or [])}")
        ctx = _Context(release, plan, metadata, audio_rate_hz, _source_checksums(release), blocks, cache)
        nwbfile = _new_nwbfile(ctx)
        electrode_rows = add_electrodes_to_nwbfile(nwbfile, ctx)
        cache.update((key, future.result()) for key, future in pending.items())
    templates = add_stimuli_to_nwbfile(nwbfile, ctx)
    layout = add_trials_to_nwbfile(nwbfile, ctx, templates)
    add_units_to_nwbfile(nwbfile, ctx, layout, electrode_rows)
    add_provenance_to_nwbfile(nwbfile, ctx)
    if deferred is not None:
        _PENDING[nwbfile] = _Deferred(deferred.arrays[:], deferred.trial_references)
        deferred.arrays.clear()
        deferred.trial_references = None
    return nwbfile


#: Write HDF5 in a forked child (POSIX): a failed HDF5 write cannot take the process down.
ISOLATED_WRITE = hasattr(os, "fork")


def write_nwbfile(nwbfile: "NWBFile", file_path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``nwbfile`` to a temporary name beside ``file_path``, then rename it into place.

    On POSIX, in a single-threaded process, the HDF5 write runs in a forked child:
    when HDF5 fails half-way (a full disk) its state cannot be trusted, and
    in-process it can crash the interpreter at exit. That child writes the stimulus templates
    in a child of its own, at the same time. An error, a crash or Ctrl-C while writing stops
    both and removes their temporary files, so nothing half-written is ever left at ``file_path``.

    Raises
    ------
    OutputError
        The folder does not exist, the file exists without ``overwrite``, or writing failed.
    """
    path = Path(file_path)
    _check_output_path(path, overwrite=overwrite)
    # A short hidden name in the same folder (the final rename is atomic; a long output
    # name must not become too long for the file system).
    tmp = path.with_name(f".ns1nwb-{os.getpid()}-{uuid.uuid4().hex[:8]}.partial.nwb")
    side = _templates_path(tmp)
    try:
        # fork() with other threads running can deadlock the child: then write here.
        isolated = ISOLATED_WRITE and can_fork()
        deferred = _PENDING.pop(nwbfile, None) or _Deferred()
        failure = _write_in_child(nwbfile, tmp, deferred) if isolated else _write_here(nwbfile, tmp, deferred)
        if failure is not None:
            raise OutputError(f"{path}: writing failed ({failure}); nothing was written")
        os.replace(tmp, path)
    except OSError as err:
        if isinstance(err, OutputError):
            raise
        raise OutputError(f"{path}: writing failed ({err.strerror or err}); nothing was written") from err
    finally:
        for leftover in (tmp, side):
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)
    return path


def _failure_text(err: BaseException) -> str | None:
    """A short reason for a failed write, or None when the error is not about the output."""
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for item in chain:
        if isinstance(item, OSError) and (item.errno or item.strerror):
            return item.strerror or os.strerror(item.errno)
        match = re.search(r"errno = (\d+)", str(item))
        if match:
            return os.strerror(int(match.group(1)))
    return None


def _write_here(nwbfile: "NWBFile", tmp: Path, deferred: _Deferred, *, split: bool = False) -> str | None:
    """Write ``nwbfile`` to ``tmp``; None on success, else why writing failed (an error about the output).

    ``split`` (only in the forked writer, whose copy of ``nwbfile`` may change): unless
    ``NS1NWB_WORKERS`` is 1, a second forked writer writes the stimulus templates (half of hdmf's
    work, in pure Python) to a side file while this one writes the rest; their groups are then
    copied in (see :func:`_split_templates`).
    """
    from pynwb import NWBHDF5IO

    side = _templates_path(tmp)
    templates: tuple["NWBFile", _Deferred] | None = None
    templates_writer: _WriterProcess | None = None
    try:
        # Only a file built by convert(): there nothing but the deferred trial references points at a
        # template, so the templates can be written apart.
        if (split and nwbfile.stimulus_template and deferred.trial_references is not None
                and worker_count() > 1 and can_fork()):
            templates, deferred = _split_templates(nwbfile, deferred)
            with contextlib.suppress(OSError), _signals_held():  # no second process: written here, below
                templates_writer = _start_writer(templates[0], side, templates[1])
        with NWBHDF5IO(tmp, mode="w") as io:
            if not deferred.arrays:
                io.write(nwbfile)
            else:
                # deflate and numpy release the GIL: the chunks compress while hdmf (pure Python) writes the file.
                with ThreadPoolExecutor(max_workers=worker_count()) as pool:
                    chunks = [[pool.submit(_gzip_chunk, item.array, start, item.chunk_length)
                               for start in range(0, item.array.size, item.chunk_length)]
                              for item in deferred.arrays]
                    io.write(nwbfile)
                    for item, futures in zip(deferred.arrays, chunks):
                        for k, future in enumerate(futures):
                            item.dataio.dataset.id.write_direct_chunk((k * item.chunk_length,), future.result())
        if templates is not None:
            if templates_writer is not None:
                writer, templates_writer = templates_writer, None
                failure = writer.result()
            else:
                failure = _write_here(templates[0], side, templates[1])
            if failure is not None:
                return failure
            _merge_templates(tmp, side)
        if deferred.trial_references is not None:
            _write_trial_references(tmp, deferred.trial_references)
    except Exception as err:
        reason = _failure_text(err)
        if reason is None:
            raise
        return reason
    finally:
        if templates_writer is not None:  # this write failed or was interrupted: stop the other one
            templates_writer.kill()
    return None


def _templates_path(tmp: Path) -> Path:
    """The side file of the stimulus templates, beside the temporary file (removed with it)."""
    return tmp.with_name(f"{tmp.stem}.templates{tmp.suffix}")


def _split_templates(nwbfile: "NWBFile", deferred: _Deferred) -> tuple[tuple["NWBFile", _Deferred], _Deferred]:
    """Move the stimulus templates of ``nwbfile`` into a file of their own.

    Returns ((that file, its deferred arrays), what ``nwbfile`` still defers). The templates hold
    no object references and link only to each other (a spectrogram's ``source_timeseries``, a
    soft link by path), so their groups can be copied into the main file unchanged.
    """
    from pynwb import NWBFile

    templates_file = NWBFile(session_description=nwbfile.session_description, identifier=nwbfile.identifier,
                             session_start_time=nwbfile.session_start_time)
    data_ids = set()
    for name in list(nwbfile.stimulus_template):
        series = nwbfile.stimulus_template.pop(name)  # also clears its parent
        templates_file.add_stimulus_template(series)
        data_ids.add(id(series.data))
    own = [item for item in deferred.arrays if id(item.dataio) in data_ids]
    rest = [item for item in deferred.arrays if id(item.dataio) not in data_ids]
    return (templates_file, _Deferred(own)), _Deferred(rest, deferred.trial_references)


def _merge_templates(path: Path, templates_path: Path) -> None:
    """Copy the templates (and any schema only their file caches) into the main file; chunks are copied as
    they are, not recompressed."""
    import h5py

    with h5py.File(path, "r+") as target, h5py.File(templates_path, "r") as source:
        templates = target.require_group("stimulus/templates")
        for name, group in source["stimulus/templates"].items():
            source.copy(group, templates, name=name)
        for name, group in source["specifications"].items():
            if name not in target["specifications"]:
                source.copy(group, target["specifications"], name=name)
    templates_path.unlink()


def _write_trial_references(path: Path, references: _DeferredReferences) -> None:
    """Add the trials' ``timeseries`` column and its index as hdmf writes them (see :class:`_DeferredReferences`)."""
    import h5py
    from hdmf.backends.hdf5 import HDF5IO

    with h5py.File(path, "r+") as h5file:
        trials = h5file["intervals/trials"]
        n_rows = len(references.rows)
        column_data = np.empty(n_rows, dtype=[("idx_start", "<i4"), ("count", "<i4"), ("timeseries", h5py.ref_dtype)])
        column_data["idx_start"] = [start for start, _, _ in references.rows]
        column_data["count"] = [count for _, count, _ in references.rows]
        ref_of = {path: h5file[path].ref for path in {p for _, _, p in references.rows}}
        column_data["timeseries"] = [ref_of[p] for _, _, p in references.rows]
        # Expandable, like every table column hdmf writes; hdmf lets h5py pick the chunks of a reference
        # column and picks those of other columns itself.
        column = trials.create_dataset("timeseries", data=column_data, maxshape=(None,), chunks=True)
        column.attrs.update(description=references.description, namespace="core",
                            neurodata_type="TimeSeriesReferenceVectorData", object_id=str(uuid.uuid4()))
        # hdmf stores an index in the smallest unsigned type that holds it.
        index_dtype = next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if n_rows <= np.iinfo(t).max)
        index_data = np.arange(1, n_rows + 1, dtype=index_dtype)
        chunk_shape = getattr(HDF5IO, "compute_default_chunk_shape", lambda *_: True)(index_data.shape,
                                                                                      index_data.dtype)
        index = trials.create_dataset("timeseries_index", data=index_data, maxshape=(None,), chunks=chunk_shape)
        index.attrs.update(description="Index for VectorData 'timeseries'", namespace="hdmf-common",
                           neurodata_type="VectorIndex", object_id=str(uuid.uuid4()), target=column.ref)
        colnames = [c.decode() if isinstance(c, bytes) else str(c) for c in trials.attrs["colnames"]]
        trials.attrs["colnames"] = np.array([*colnames, "timeseries"], dtype=h5py.string_dtype())


#: In a forked writer: the write end of the pipe to its parent (see :func:`_start_writer`).
_report_fd: int | None = None


class WriterProcessError(RuntimeError):
    """A forked writer failed with an error that is not about the output (a bug): its report."""

    def __init__(self, report: str):
        super().__init__(f"writing the NWB file failed in the writer process: {report}")
        self.report = report


@dataclass
class _WriterProcess:
    """A forked writer (:func:`_start_writer`): its pid and the read end of its report pipe."""

    pid: int
    pipe: int
    reaped: bool = False

    def result(self) -> str | None:
        """Wait for the writer; None on success, else why writing failed (an error about the output).

        Raises
        ------
        KeyboardInterrupt
            Ctrl-C here (the writer is stopped) or in the writer.
        WriterProcessError
            The writer failed otherwise.
        """
        import signal

        pipe_fd, self.pipe = self.pipe, -1  # the file object below owns (and closes) it
        try:
            with os.fdopen(pipe_fd, "rb") as pipe:
                report = pipe.read().decode(errors="replace")
            _, status = os.waitpid(self.pid, 0)
            self.reaped = True
        except KeyboardInterrupt:
            self.kill()
            raise
        if os.WIFSIGNALED(status):
            if os.WTERMSIG(status) == signal.SIGINT:
                raise KeyboardInterrupt
            return f"the HDF5 writer died with signal {os.WTERMSIG(status)}"
        code = os.WEXITSTATUS(status)
        if code == 0:
            return None
        if code == 3:
            return report
        if code == 4:
            raise KeyboardInterrupt
        raise WriterProcessError(report)

    def kill(self) -> None:
        """Stop the writer at once (a writer it started dies with it, see :func:`_start_writer`)."""
        import signal

        if self.pipe >= 0:
            with contextlib.suppress(OSError):
                os.close(self.pipe)
            self.pipe = -1
        if self.reaped:  # its pid may belong to another process by now
            return
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(self.pid, 0)
        self.reaped = True


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and termination signals (POSIX) until the block ends, so that a writer is never forked
    without its caller knowing it (nor stopped before it can report); one that came meanwhile is
    delivered when the block ends."""
    import signal

    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(stop_signals()))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _die_with_parent(parent_pid: int) -> None:
    """In a forked writer (Linux): be killed when the process that forked it dies (say, killed itself),
    instead of writing on as an orphan."""
    import ctypes
    import signal

    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # it died before the request took effect
        os._exit(4)


def _start_writer(nwbfile: "NWBFile", tmp: Path, deferred: _Deferred, *, split: bool = False) -> _WriterProcess:
    """Fork a process that writes ``nwbfile`` to ``tmp`` (:func:`_write_here`) and reports through a pipe.

    Call it inside :func:`_signals_held`. The writer stays in its caller's process group, so a
    terminal's Ctrl-C or a signal to the whole group reaches it too; on Linux it also dies with the
    process that forked it.

    Raises
    ------
    OSError
        The fork failed (no pipe is left open).
    """
    global _report_fd
    read_end, write_end = os.pipe()
    parent_pid = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        raise
    if pid == 0:  # the child: write, report, and leave without running the parent's cleanup
        code, report = 4, b""
        try:
            import signal

            os.close(read_end)
            # A writer started by a writer must not hold its parent's report pipe open: the first one's
            # parent reads that pipe to its end, and would wait for this one too.
            if _report_fd is not None:
                with contextlib.suppress(OSError):
                    os.close(_report_fd)
            _report_fd = write_end
            _die_with_parent(parent_pid)
            # After an HDF5 failure h5py prints a traceback for every object it cannot free; the
            # child's failures travel through the pipe and the parent reports them once.
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
            if hasattr(signal, "pthread_sigmask"):  # the parent held them while forking
                signal.pthread_sigmask(signal.SIG_UNBLOCK, set(stop_signals()))
            reason = _write_here(nwbfile, tmp, deferred, split=split)
            code = 0
            if reason is not None:
                code, report = 3, reason.encode()
        except KeyboardInterrupt:
            code = 4
        except WriterProcessError as err:  # its own writer's report, passed on as it is
            code, report = 5, err.report.encode()
        except BaseException as err:  # noqa: BLE001  (reported to the parent, which raises it)
            code, report = 5, f"{type(err).__name__}: {err}".encode()
        finally:
            with contextlib.suppress(BaseException):
                os.write(write_end, report[:4000])
            os._exit(code)
    os.close(write_end)
    return _WriterProcess(pid, read_end)


def _write_in_child(nwbfile: "NWBFile", tmp: Path, deferred: _Deferred) -> str | None:
    """Write in a forked child (which splits off the templates); None on success or the reason it failed."""
    writer: _WriterProcess | None = None
    try:
        with _signals_held():
            writer = _start_writer(nwbfile, tmp, deferred, split=True)
        return writer.result()
    except KeyboardInterrupt:
        if writer is not None:
            writer.kill()
        raise


def _check_output_path(path: Path, *, overwrite: bool) -> None:
    if not path.parent.is_dir():
        raise OutputError(f"{path}: output folder {path.parent} does not exist; create it first")
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: already exists; pass --overwrite to replace it")
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name ending in .nwb")


@dataclass
class ConversionResult:
    """What :func:`convert` wrote and read."""

    output_paths: list[Path]
    n_units: int
    n_spikes: int
    n_trials: int
    n_sessions: int
    clock: str
    warnings: list[str]
    skipped_units: list[str]
    #: subject id -> subject fields left at their defaults (per-session output only).
    defaulted_subject_fields: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> str:
        if len(self.output_paths) == 1:
            where = str(self.output_paths[0])
        else:
            where = f"{len(self.output_paths)} files under {Path(os.path.commonpath(self.output_paths))}"
        text = (f"wrote {where}: {self.n_units} units, {self.n_spikes:,} spikes, {self.n_trials:,} trials, "
                f"{self.n_sessions} recording blocks ({self.clock} clock)")
        if self.skipped_units:
            text += f"; {len(self.skipped_units)} units skipped (spike file missing)"
        defaulted = {s: f for s, f in self.defaulted_subject_fields.items() if f}
        if defaulted:
            text += "\nsubject fields left at their defaults (set them under `subjects:` in --metadata): " + \
                "; ".join(f"{s}: {', '.join(f)}" for s, f in sorted(defaulted.items()))
        return text


def convert(raw_folder: str | os.PathLike, output_path: str | os.PathLike, *,
            metadata_path: str | os.PathLike | None = None, audio_rate_hz: float | None = 48000.0,
            overwrite: bool = False, strict: bool = False, progress: bool = False,
            dandi: bool = False, dandiset_id: str | None = None) -> ConversionResult:
    """Convert a raw NS1 release folder into one pooled NWB file, or a DANDI folder of per-session files.

    Parameters
    ----------
    raw_folder : str or PathLike
        Folder with ``MetadataSHEnCneurons.mat`` and ``spikesandwav/``.
    output_path : str or PathLike
        The ``.nwb`` file to write, or with ``dandi`` the folder.
    metadata_path : str or PathLike, optional
        YAML metadata (``schemas/metadata.schema.json``).
    audio_rate_hz : float or None, default 48000
        Rate of the stored waveforms; None keeps the original samples.
    overwrite, strict, progress : bool
        Replace an existing output; turn warnings into errors; show progress bars.
    dandi : bool, default False
        One file per recording block in DANDI's layout (:mod:`ns1nwb.dandi`).
    dandiset_id : str, optional
        With ``dandi``: write a minimal ``dandiset.yaml`` when the folder has none.
    """
    from .dandi import _check_output_folder

    output = Path(output_path)
    # Fail on the output before the slow part.
    if dandi:
        _check_output_folder(output, overwrite=overwrite)
    else:
        _check_output_path(output, overwrite=overwrite)
    metadata = load_metadata(metadata_path)
    # hdmf builds ~10^5 long-lived objects too: collect once at the end.
    with _gc_paused(), _deferred_writes():
        return _convert(raw_folder, output, metadata, audio_rate_hz=audio_rate_hz, overwrite=overwrite,
                        strict=strict, progress=progress, dandi=dandi, dandiset_id=dandiset_id)


def _convert(raw_folder: str | os.PathLike, output: Path, metadata: dict[str, Any], *,
             audio_rate_hz: float | None, overwrite: bool, strict: bool, progress: bool, dandi: bool,
             dandiset_id: str | None) -> ConversionResult:
    from .dandi import write_dandi_folder

    release = read_raw_tree(raw_folder, strict=strict, progress=progress)
    defaulted: dict[str, list[str]] = {}
    if dandi:
        plan = plan_sessions(release, synthetic_clock_start(metadata))
        paths, defaulted = write_dandi_folder(release, output, metadata=metadata, audio_rate_hz=audio_rate_hz,
                                              overwrite=overwrite, dandiset_id=dandiset_id, progress=progress,
                                              plan=plan)
        clock, n_sessions = plan.clock, len(plan.blocks)
        n_trials = sum(len(b.presentations) for b in plan.blocks)
    else:
        nwbfile = build_nwbfile(release, metadata=metadata, audio_rate_hz=audio_rate_hz)
        write_nwbfile(nwbfile, output, overwrite=overwrite)
        paths = [output]
        clock = json.loads(nwbfile.source_script)["clock"]
        n_sessions = len({*nwbfile.units["session_id"].data})
        n_trials = len(nwbfile.trials)
    return ConversionResult(
        output_paths=paths,
        n_units=len(release.units),
        n_spikes=release.n_spikes,
        n_trials=n_trials,
        n_sessions=n_sessions,
        clock=clock,
        warnings=release.warnings,
        skipped_units=[s.path for s in release.skipped_units],
        defaulted_subject_fields=defaulted,
    )
