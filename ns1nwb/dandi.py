"""DANDI-ready output: one NWB file per recording block, in DANDI's folder layout, and inspection.

``sub-<subject>/sub-<subject>_ses-<session>_ecephys.nwb`` per block: subject = the
experiment folder's ferret (``dataAC``, ``exp42``, ...), session = the block's
``session_id`` (subject, penetration and start time; letters, digits and ``-`` only).
The folder is written under a temporary name beside the output and renamed into
place at the end, so an error leaves nothing half-written. As for one file
(:mod:`ns1nwb.output_guard`), the folder is locked for the whole conversion
(``.<folder>.ns1nwb.lock`` beside it), and only regular session files are replaced.
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .exceptions import Ns1Error, OutputError
from .output_guard import check_replaceable, output_lock, place, temporary_name
from .workers import defer_stops, stop_deferral_scope

__all__ = ["dandi_file_path", "check_output_folder", "write_dandi_folder", "inspect_path", "InspectionSummary"]


def dandi_file_path(subject_id: str, session_id: str) -> Path:
    """``sub-<subject>/sub-<subject>_ses-<session>_ecephys.nwb`` (labels already DANDI-safe)."""
    return Path(f"sub-{subject_id}") / f"sub-{subject_id}_ses-{session_id}_ecephys.nwb"


def check_output_folder(folder: Path, *, overwrite: bool) -> None:
    """Refuse a --dandi output whose parent is missing, that is a symbolic link or not a folder, or that is
    a folder of other things: neither empty (hidden entries aside), nor a dandiset (``dandiset.yaml``), nor
    an earlier ``--dandi`` output (``sub-*/``). ns1nwb does not scatter session folders among unrelated
    files."""
    if not folder.parent.is_dir():
        raise OutputError(f"{folder}: parent folder {folder.parent} does not exist; create it first")
    if folder.is_symlink():
        raise OutputError(f"{folder}: is a symbolic link; ns1nwb does not write through links, give the real "
                          "folder")
    if not folder.exists():
        return
    if not folder.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder; --dandi writes into a (dandiset) folder")
    entries = [e for e in folder.iterdir() if not e.name.startswith(".")]
    if entries and not (folder / "dandiset.yaml").is_file() and \
            not any(e.name.startswith("sub-") and e.is_dir() for e in entries):
        raise OutputError(f"{folder}: holds other files and is neither a dandiset (no dandiset.yaml) nor an "
                          "earlier --dandi output (no sub-*/); give a new or empty folder, or a dandiset "
                          "from `dandi download`")


def _existing_session_file(folder: Path, relative: Path) -> bool:
    """Whether ``folder / relative`` exists; refuse a session file or a ``sub-*`` folder that is not ours to
    replace or write into (a symbolic link, a device, a folder where a file goes...)."""
    subject_folder = folder / relative.parent
    if subject_folder.is_symlink() or (subject_folder.exists() and not subject_folder.is_dir()):
        raise OutputError(f"{subject_folder}: is not a plain folder (a symbolic link or a file); ns1nwb writes "
                          "session files only into folders of its own")
    return check_replaceable(folder / relative, overwrite=True, what="session file")


def _guarded(write: Callable[..., Any]) -> Callable[..., Any]:
    """Around ``write``: the output folder's lock and a stop-deferral scope (as in ``write_nwbfile``)."""

    signature = inspect.signature(write)

    @functools.wraps(write)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        folder = Path(bound.arguments["folder_path"])
        check_output_folder(folder, overwrite=bound.arguments.get("overwrite", False))  # before locking
        with stop_deferral_scope(), output_lock(folder):
            return write(*args, **kwargs)

    return guarded


@_guarded
def write_dandi_folder(release: Any, folder_path: str | os.PathLike, *, metadata: dict[str, Any],
                       audio_rate_hz: float | None = 48000.0, overwrite: bool = False,
                       dandiset_id: str | None = None,
                       progress: bool = False, plan: Any = None) -> tuple[list[Path], dict[str, list[str]]]:
    """Write one NWB file per recording block of ``release`` into ``folder_path``.

    The folder may be a dandiset downloaded with ``dandi download`` (its
    ``dandiset.yaml`` and other files are left alone). All files are written to a
    hidden staging folder first and moved into place only when every one is done.

    Parameters
    ----------
    dandiset_id : str, optional
        Write a minimal ``dandiset.yaml`` with this identifier when the folder has none.
    plan : SessionPlan, optional
        The recording blocks, when the caller has them already.

    Returns
    -------
    paths : list of Path
        The files written, in block order.
    defaulted : dict
        subject id -> subject fields that kept their default value (fill them in the metadata file).
    """
    from .metadata import subject_metadata, synthetic_clock_start
    from .nwb.file import assemble_nwbfile
    from .release import plan_sessions
    from .trial_references import finisher
    from .write import write_nwbfile

    folder = Path(folder_path)
    check_output_folder(folder, overwrite=overwrite)
    plan = plan or plan_sessions(release, synthetic_clock_start(metadata))
    targets = [dandi_file_path(b.subject_id, b.session_id) for b in plan.blocks]
    existing = [t for t in targets if _existing_session_file(folder, t)]
    if existing and not overwrite:
        raise OutputError(f"{folder / existing[0]}: already exists ({len(existing)} of {len(targets)} session files "
                          "do); pass --overwrite to replace them")
    created = not folder.exists()
    folder.mkdir(exist_ok=True)
    staging = temporary_name(folder / "staging")
    staging.mkdir()
    defaulted: dict[str, list[str]] = {}
    stimulus_cache: dict[tuple[str, int], Any] = {}
    blocks = plan.blocks
    if progress:
        from .workers import progress_bar

        blocks = progress_bar(blocks, desc="writing sessions", unit="file")
    try:
        for block, relative in zip(blocks, targets):
            (staging / relative.parent).mkdir(parents=True, exist_ok=True)
            nwbfile, references = assemble_nwbfile(release, metadata=metadata, audio_rate_hz=audio_rate_hz,
                                                   session_ids=[block.session_id], plan=plan,
                                                   stimulus_cache=stimulus_cache, defer_trial_references=True)
            try:
                write_nwbfile(nwbfile, staging / relative, finish=finisher(references), final=False)
            except OutputError as err:  # name the file the user asked for, not the staging copy
                raise OutputError(str(err).replace(str(staging / relative), str(folder / relative))) from err
            defaulted[block.subject_id] = subject_metadata(metadata, block.subject_id)[1]
        defer_stops()  # every file is complete: a stop from now on waits for the end
        for relative in targets:  # move them in (a rename each; never over a file that appeared meanwhile)
            (folder / relative.parent).mkdir(exist_ok=True)
            place(staging / relative, folder / relative, overwrite=overwrite)
        if dandiset_id and not (folder / "dandiset.yaml").exists():
            (folder / "dandiset.yaml").write_text(
                f"identifier: DANDI:{dandiset_id.removeprefix('DANDI:')}\nname: NS1 ferret auditory cortex\n")
    except BaseException:
        if created:  # leave no trace of a folder this run made
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [folder / t for t in targets], defaulted


@dataclass
class InspectionSummary:
    """What the NWB Inspector (DANDI configuration) found in one file or a folder."""

    n_files: int
    counts: dict[str, int]
    messages: list[str]

    @property
    def n_critical(self) -> int:
        return self.counts.get("CRITICAL", 0) + self.counts.get("PYNWB_VALIDATION", 0) + self.counts.get("ERROR", 0)

    def report(self, max_messages: int = 20) -> str:
        order = ["ERROR", "PYNWB_VALIDATION", "CRITICAL", "BEST_PRACTICE_VIOLATION", "BEST_PRACTICE_SUGGESTION"]
        found = ", ".join(f"{self.counts[k]} {k}" for k in order if self.counts.get(k)) or "no issues"
        lines = [f"inspected {self.n_files} file(s) with the DANDI configuration: {found}"]
        lines += self.messages[:max_messages]
        if len(self.messages) > max_messages:
            lines.append(f"... and {len(self.messages) - max_messages} more")
        return "\n".join(lines)


def _check_nwb_file(file: Path) -> None:
    """Refuse, in one line naming it, a file the NWB Inspector could only answer with a traceback."""
    import h5py

    from .exceptions import NwbContentError

    try:
        with h5py.File(file, "r") as h5:
            version = h5.attrs.get("nwb_version")
    except OSError as err:  # empty, truncated, text...
        raise NwbContentError(f"{file}: not an HDF5/NWB file ({err})") from None
    if version is None:
        raise NwbContentError(f"{file}: an HDF5 file but not an NWB file (no nwb_version attribute)")


def _one_line(text: str) -> str:
    """The last line of a traceback the Inspector puts in a message (the exception itself)."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def inspect_path(path: str | os.PathLike) -> InspectionSummary:
    """Run the NWB Inspector with DANDI's configuration on a file or every ``.nwb`` under a folder.

    Raises
    ------
    NwbContentError
        A file is not an NWB file (not HDF5, truncated, no ``nwb_version``) or pynwb cannot read it:
        one line naming the file, before or instead of the Inspector's traceback.
    Ns1Error
        ``path`` does not exist or the folder has no ``.nwb`` file.
    """
    import warnings

    from nwbinspector import inspect_nwbfile, load_config

    from .exceptions import NwbContentError

    target = Path(path)
    if target.is_dir():
        files = sorted(target.rglob("*.nwb"))
    elif target.is_file():
        files = [target]
    else:
        raise Ns1Error(f"{target}: no such file or folder")
    if not files:
        raise Ns1Error(f"{target}: no .nwb files to inspect")
    for file in files:  # every file first: a bad one stops the run before minutes of inspection
        _check_nwb_file(file)
    config = load_config("dandi")
    counts: dict[str, int] = {}
    messages: list[str] = []
    for file in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found = list(inspect_nwbfile(nwbfile_path=str(file), config=config))
        except (ImportError, OSError, ValueError) as err:  # e.g. a Zarr store without hdmf-zarr
            raise NwbContentError(f"{file}: the NWB Inspector cannot read it ({_one_line(str(err))})") from None
        for message in found:
            level = message.importance.name
            if level == "ERROR" and str(message.check_function_name).startswith("During io.read()"):
                raise NwbContentError(f"{file}: pynwb cannot read it ({_one_line(message.message)})")
            counts[level] = counts.get(level, 0) + 1
            text = _one_line(message.message) if level == "ERROR" else message.message  # no tracebacks
            messages.append(f"  {level} {file.name} {message.location or ''}: {text}")
    return InspectionSummary(n_files=len(files), counts=counts, messages=messages)
