"""What is DANDI's alone: the per-session file names, the rules for a ``--dandi`` output folder,
``dandiset.yaml``, and inspection with the NWB Inspector's DANDI configuration.

``sub-<subject>/sub-<subject>_ses-<session>_ecephys.nwb`` per recording block: subject = the experiment
folder's ferret (``dataAC``, ``exp42``, ...), session = the block's ``session_id`` (subject, penetration and
start time; letters, digits and ``-`` only). Writing the folder is :func:`ns1nwb.convert`'s (all files or none).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .exceptions import Ns1Error, OutputError
from .write import check_replaceable

__all__ = ["dandi_file_path", "check_output_folder", "check_session_files", "check_dandiset_id", "dandiset_yaml",
           "inspect_path", "InspectionSummary"]

#: A DANDI identifier: six digits, optionally prefixed ``DANDI:``.
_DANDISET_ID = re.compile(r"(?:DANDI:)?(\d{6})", re.ASCII)


def dandi_file_path(subject_id: str, session_id: str) -> Path:
    """``sub-<subject>/sub-<subject>_ses-<session>_ecephys.nwb`` (labels already DANDI-safe)."""
    return Path(f"sub-{subject_id}") / f"sub-{subject_id}_ses-{session_id}_ecephys.nwb"


def check_output_folder(folder: Path) -> None:
    """Refuse a ``--dandi`` output that is a symbolic link or not a folder, or a folder of other things:
    neither empty (hidden entries aside), nor a dandiset (``dandiset.yaml``), nor an earlier ``--dandi`` output
    (``sub-*/``). ns1nwb does not scatter session folders among unrelated files."""
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


def check_session_files(targets: list[Path], *, overwrite: bool) -> None:
    """Refuse session files that exist (without ``overwrite``), or that are not ours to replace or write into
    (a symbolic link, a device, a ``sub-*`` that is a link or a file)."""
    existing = []
    for target in targets:
        subject_folder = target.parent
        if subject_folder.is_symlink() or (subject_folder.exists() and not subject_folder.is_dir()):
            raise OutputError(f"{subject_folder}: is not a plain folder (a symbolic link or a file); ns1nwb writes "
                              "session files only into folders of its own")
        if check_replaceable(target, overwrite=True):
            existing.append(target)
    if existing and not overwrite:
        raise OutputError(f"{existing[0]}: already exists ({len(existing)} of {len(targets)} session files do); "
                          "pass --overwrite to replace them")


def check_dandiset_id(dandiset_id: str) -> str:
    """The six digits of a DANDI identifier (``123456`` or ``DANDI:123456``).

    Raises
    ------
    OutputError
        Anything else (a newline, letters, another length).
    """
    match = _DANDISET_ID.fullmatch(str(dandiset_id).strip())
    if not match:
        raise OutputError(f"--dandiset-id {dandiset_id!r}: a DANDI identifier is six digits, e.g. 000123 or "
                          "DANDI:000123")
    return match.group(1)


def dandiset_yaml(folder: Path, dandiset_id: str | None) -> tuple[Path, str] | None:
    """(path, text) of a minimal ``dandiset.yaml`` to write, when an identifier is given and the folder has none."""
    path = folder / "dandiset.yaml"
    if dandiset_id is None or path.exists():
        return None
    return path, f"identifier: DANDI:{dandiset_id}\nname: NS1 ferret auditory cortex\n"


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


def inspect_path(path: str | os.PathLike, progress: bool = False) -> InspectionSummary:
    """Run the NWB Inspector with DANDI's configuration on a file or every ``.nwb`` under a folder.

    ``progress``: a bar (stderr) over the files, when there are several.

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
    from .read.files import nwb_files_in

    target = Path(path)
    if target.is_dir():
        files = nwb_files_in(target)  # hidden entries left out (._x.nwb, temporaries), as ns1nwb.open does
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
    if progress and len(files) > 1:
        from tqdm import tqdm

        files = tqdm(files, desc="inspecting", unit="file")
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
