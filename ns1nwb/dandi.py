"""DANDI-ready output: one NWB file per recording block, in DANDI's folder layout, and inspection.

``sub-<subject>/sub-<subject>_ses-<session>_ecephys.nwb`` per block: subject = the
experiment folder's ferret (``dataAC``, ``exp42``, ...), session = the block's
``session_id`` (subject, penetration and start time; letters, digits and ``-`` only).
The folder is written under a temporary name beside the output and renamed into
place at the end, so an error leaves nothing half-written.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exceptions import Ns1Error, OutputError

__all__ = ["dandi_file_path", "check_output_folder", "write_dandi_folder", "inspect_path", "InspectionSummary"]


def dandi_file_path(subject_id: str, session_id: str) -> Path:
    """``sub-<subject>/sub-<subject>_ses-<session>_ecephys.nwb`` (labels already DANDI-safe)."""
    return Path(f"sub-{subject_id}") / f"sub-{subject_id}_ses-{session_id}_ecephys.nwb"


def check_output_folder(folder: Path, *, overwrite: bool) -> None:
    """Refuse a --dandi output whose parent is missing or that exists and is not a folder."""
    if not folder.parent.is_dir():
        raise OutputError(f"{folder}: parent folder {folder.parent} does not exist; create it first")
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder; --dandi writes into a (dandiset) folder")


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
    from .nwb import build_nwbfile
    from .release import plan_sessions
    from .write import write_nwbfile

    folder = Path(folder_path)
    check_output_folder(folder, overwrite=overwrite)
    plan = plan or plan_sessions(release, synthetic_clock_start(metadata))
    targets = [dandi_file_path(b.subject_id, b.session_id) for b in plan.blocks]
    existing = [t for t in targets if (folder / t).exists()]
    if existing and not overwrite:
        raise OutputError(f"{folder / existing[0]}: already exists ({len(existing)} of {len(targets)} session files "
                          "do); pass --overwrite to replace them")
    created = not folder.exists()
    folder.mkdir(exist_ok=True)
    staging = folder / f".ns1nwb-{os.getpid()}-{uuid.uuid4().hex[:8]}.partial"
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
            nwbfile = build_nwbfile(release, metadata=metadata, audio_rate_hz=audio_rate_hz,
                                    session_ids=[block.session_id], plan=plan,
                                    stimulus_cache=stimulus_cache)
            try:
                write_nwbfile(nwbfile, staging / relative)
            except OutputError as err:  # name the file the user asked for, not the staging copy
                raise OutputError(str(err).replace(str(staging / relative), str(folder / relative))) from err
            defaulted[block.subject_id] = subject_metadata(metadata, block.subject_id)[1]
        for relative in targets:  # every file is complete: move them in (a rename each)
            (folder / relative.parent).mkdir(exist_ok=True)
            os.replace(staging / relative, folder / relative)
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


def inspect_path(path: str | os.PathLike) -> InspectionSummary:
    """Run the NWB Inspector with DANDI's configuration on a file or every ``.nwb`` under a folder."""
    import warnings

    from nwbinspector import inspect_nwbfile, load_config

    target = Path(path)
    if target.is_dir():
        files = sorted(target.rglob("*.nwb"))
    elif target.is_file():
        files = [target]
    else:
        raise Ns1Error(f"{target}: no such file or folder")
    if not files:
        raise Ns1Error(f"{target}: no .nwb files to inspect")
    config = load_config("dandi")
    counts: dict[str, int] = {}
    messages: list[str] = []
    for file in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = list(inspect_nwbfile(nwbfile_path=str(file), config=config))
        for message in found:
            level = message.importance.name
            counts[level] = counts.get(level, 0) + 1
            messages.append(f"  {level} {file.name} {message.location or ''}: {message.message}")
    return InspectionSummary(n_files=len(files), counts=counts, messages=messages)
