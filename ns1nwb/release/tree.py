"""Read a raw NS1 release folder into the in-memory model (:mod:`ns1nwb.release.model`).

Finds the files (metadata, spike files, wavs, ``test_data_5ms.mat``), refuses paths that
leave ``spikesandwav/``, reads each file once (parsed and hashed from the same bytes)
and collects what was tolerated as warnings (``strict`` makes them errors).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..constants import METADATA_FILE, N_NATURAL, SPECTROGRAM_FILE, SPIKES_DIR, STIMULI, WAV_DIR
from ..exceptions import Ns1Warning, RawFileNotFoundError, RawFormatError, StrictModeError
from .cluster_files import (CLUSTER_QUALITY_FILE, DUPLICATE_NUMBER, NOT_A_CLUSTER_NAME, UnreadFile, classify_folder,
                            cluster_number)
from .matfile import load_mat, plain_value, read_source
from .model import RawRelease, RawUnit, RawWav, SkippedUnit, SourceFile
from .spike_files import check_spike_values, read_spike_file
from .validate import check_cluster_quality, check_metadata_row, check_spectrogram, check_unit_path, check_wav

__all__ = ["read_raw_tree"]


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
    try:
        full = (root / SPIKES_DIR / pure).resolve()
    except RuntimeError as err:  # pathlib's "Symlink loop from ..."
        raise RawFormatError(f"{metadata_file}: unit path {rel_path!r} runs into a symlink loop ({err})") from err
    if spikes_root not in full.parents:
        raise RawFormatError(f"{metadata_file}: unit path {rel_path!r} resolves outside {spikes_root}")
    return full



def _mat_files(root: Path) -> dict[Path, list[str]]:
    """The ``.mat`` names (any case of the suffix) of every folder under ``spikesandwav/`` that has any,
    ``clusterquality.mat`` aside; links to folders are not followed, so a link loop cannot trap the walk."""
    found = {}
    for folder, _, names in os.walk(root / SPIKES_DIR, followlinks=False):
        mats = sorted(n for n in names if n.lower().endswith(".mat") and n != CLUSTER_QUALITY_FILE)
        if mats:
            found[Path(folder)] = mats
    return found


def _other_clusters(root: Path, read_files: set[Path]) -> tuple[list[Path], list[UnreadFile], dict[Path, int]]:
    """The cluster files under ``spikesandwav/`` besides ``read_files`` (resolved paths), one per number and
    folder, in path order; the ``.mat`` files that are not read and why; each folder's (resolved) highest
    cluster number."""
    spikes_root = root / SPIKES_DIR
    others: list[Path] = []
    unread: list[UnreadFile] = []
    highest: dict[Path, int] = {}
    for folder, names in _mat_files(root).items():
        rel_folder = folder.relative_to(spikes_root)
        files = classify_folder(names, [n for n in names if _resolved_or_as_is(folder / n) in read_files])
        others += [folder / name for name in files.clusters]
        unread += [UnreadFile((rel_folder / name).as_posix(), DUPLICATE_NUMBER, (rel_folder / holder).as_posix())
                   for name, holder in files.duplicates]
        unread += [UnreadFile((rel_folder / name).as_posix(), NOT_A_CLUSTER_NAME) for name in files.not_clusters]
        highest[_resolved_or_as_is(folder)] = max((n for n in map(cluster_number, names) if n is not None), default=0)
    others.sort(key=lambda p: p.relative_to(spikes_root).as_posix())
    unread.sort(key=lambda u: (u.reason, u.path))
    return others, unread, highest


def _resolved_or_as_is(path: Path) -> Path:
    """``path`` resolved; as it is when it is a symlink loop (reading it then fails with a clear error)."""
    try:
        return path.resolve()
    except RuntimeError:  # pathlib's "Symlink loop from ..."
        return path


def _cluster_quality(folder: Path, highest_cluster: int, sources: list[SourceFile]) -> np.ndarray | None:
    """The codes of ``folder/clusterquality.mat`` (element NN-1 for ``cluster.NN``), or None without the file.

    Raises
    ------
    RawFormatError
        The file is unreadable, holds no code vector, codes outside 1-3, or fewer codes than the folder's
        highest cluster number ``highest_cluster``.
    """
    path = folder / CLUSTER_QUALITY_FILE
    if not path.is_file():
        return None
    data, source = read_source(path)
    codes = check_cluster_quality(path, load_mat(path, data).get("clusterquality"), highest_cluster)
    sources.append(source)
    return codes


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
    data, source = read_source(meta_path)
    mat = load_mat(meta_path, data)
    if "neuron" not in mat:
        raise RawFormatError(f"{meta_path}: no variable 'neuron' (found {sorted(k for k in mat if not k.startswith('__'))})")
    neuron = mat["neuron"]
    if not isinstance(neuron, np.ndarray) or not neuron.dtype.names:
        raise RawFormatError(f"{meta_path}: 'neuron' is not a struct array")
    fields = list(neuron.dtype.names)
    path_field = "path" if "path" in fields else fields[0]
    rows = []
    for i, record in enumerate(neuron.ravel()):
        row = {name: plain_value(record[name]) for name in fields}
        if not isinstance(row[path_field], str) or not row[path_field]:
            raise RawFormatError(
                f"{meta_path}: unit {i} has no spike-file path (field {path_field!r} is {row[path_field]!r})"
            )
        check_metadata_row(meta_path, i, row)
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
        _, source = read_source(path)
        try:
            # From the path, not from the bytes in memory: libsndfile then reads in C, where a Ctrl-C waits
            # for the read, instead of calling back into Python, where it is lost with a traceback.
            samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
        except Exception as err:
            raise RawFormatError(f"{path}: not a readable wav ({err})") from err
        check_wav(path, samples, rate)
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
    data, source = read_source(path)
    mat = load_mat(path, data)
    x_nfht = check_spectrogram(path, mat.get("X_nfht"))
    sources.append(source)
    return x_nfht, path



def read_raw_tree(folder_path: str | os.PathLike, *, strict: bool = False, progress: bool = False,
                  all_clusters: bool = False) -> RawRelease:
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
    all_clusters : bool, default False
        Also read every cluster file under ``spikesandwav/`` that the metadata does not name (the release's
        477 other clusters): they follow the metadata's units, in path order, with no metadata. Without it
        they are only counted (:attr:`RawRelease.unread_clusters`). A cluster file is ``cluster.NN.data.mat``
        or ``cluster.NN.data_1.mat``, one per number and folder (:mod:`ns1nwb.release.cluster_files`); a
        second file with a taken number is not read (a warning names them with ``all_clusters``), and
        neither is any other ``.mat`` name: both are counted (:attr:`RawRelease.unread_files`).

    Returns
    -------
    RawRelease
        Units in metadata order (then the other clusters), with every spike as stored, each with the code of
        its folder's ``clusterquality.mat``.

    Raises
    ------
    RawFileNotFoundError
        The folder or the metadata file does not exist.
    RawFormatError
        A file is unreadable or not in the NS1 layout, a unit path leaves ``spikesandwav/``, two units share
        a path, or a raw value is out of what the release can hold (:mod:`ns1nwb.release.validate`).
    """
    root = Path(folder_path)
    if not root.is_dir():
        raise RawFileNotFoundError(f"{root}: raw folder not found (expected MetadataSHEnCneurons.mat and spikesandwav/)")
    warn = _Warner(strict)
    fields, rows, meta_source = _read_metadata(root)
    meta_path = meta_source.path
    # Validate every path before reading any file, so a bad path reads nothing.
    spike_paths = [_checked_spike_path(root, row["__path__"], meta_path) for row in rows]
    folder_less = [check_unit_path(meta_path, i, row["__path__"]) for i, row in enumerate(rows)]
    for problem in filter(None, folder_less):  # after the escape check: a path leaving spikesandwav/ is said so
        warn(problem)
    _reject_duplicates(spike_paths, rows, meta_path)
    named = set(spike_paths)

    units: list[RawUnit] = []
    skipped: list[SkippedUnit] = []
    found_files: list[tuple[int | None, str, dict[str, Any], Path]] = []
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

    # The clusters the metadata does not name: read with all_clusters, else only counted.
    spikes_root = root / SPIKES_DIR
    others, unread, highest = _other_clusters(root, {found.resolve() for *_, found in found_files})
    other_paths = [f.relative_to(spikes_root).as_posix() for f in others]
    duplicates = [u for u in unread if u.reason == DUPLICATE_NUMBER]
    if all_clusters and duplicates:  # one line for all of them (the summary counts them with or without)
        named = ", ".join(f"{u.path} (cluster {cluster_number(PurePosixPath(u.path).name)} is "
                          f"{PurePosixPath(u.holder).name})" for u in duplicates[:5])
        warn(f"{spikes_root}: not reading {len(duplicates)} file(s) whose cluster number another file of their "
             f"folder has (one file per cluster): {named}{', ...' if len(duplicates) > 5 else ''}")
    if all_clusters:
        for path, rel_path in zip(others, other_paths):
            if len(PurePosixPath(rel_path).parts) != 3:
                raise RawFormatError(f"{path}: a cluster file outside an <experiment>/<penetration>/ folder of "
                                     f"{SPIKES_DIR}/; its probe and ferret cannot be known")
        found_files += [(None, rel_path, {}, path) for path, rel_path in zip(others, other_paths)]

    sources = [meta_source]
    all_contents = map(read_spike_file, [found for *_, found in found_files])
    if progress:  # (a tqdm made disabled still starts its monitor thread: made only when shown)
        from tqdm import tqdm

        all_contents = tqdm(all_contents, total=len(found_files), desc="reading spike files", unit="file")
    # The results first: zip asks them once more after the last file, which lets the bar count that file
    # and close at 100 % (with found_files first the bar stopped one short, at 118/119).
    for (content, source), (index, rel_path, row, found) in zip(all_contents, found_files):
        check_spike_values(found, content.times, warn)
        units.append(RawUnit(index, rel_path, row, found, content.raw_sets()))
        sources.append(source)

    if not units:
        raise RawFormatError(f"{meta_path}: none of the {len(rows)} units has a spike file under {root / SPIKES_DIR}")
    qualities: dict[Path, np.ndarray | None] = {}
    for unit in units:
        folder = _resolved_or_as_is(unit.spike_file.parent)  # one key however the folder was reached
        if folder not in qualities:
            folder_highest = highest.get(folder, unit.cluster_number or 0)
            qualities[folder] = _cluster_quality(folder, folder_highest, sources)
        codes, number = qualities[folder], unit.cluster_number
        if codes is not None and number is not None and 1 <= number <= codes.size:
            unit.cluster_quality = int(codes[number - 1])
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
        unread_clusters=[] if all_clusters else other_paths,
        unread_files=unread,
    )
