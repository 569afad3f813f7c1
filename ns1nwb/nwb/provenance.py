"""The ``provenance/source_files`` table: every raw file a file was made from."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .._version import __version__
from .columns import PROVENANCE_MODULE, vector
from .context import BuildContext

if TYPE_CHECKING:
    from pynwb import NWBFile

__all__ = ["add_provenance_to_nwbfile"]


def add_provenance_to_nwbfile(nwbfile: "NWBFile", ctx: BuildContext) -> None:
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
        columns=[vector("file_name", "Path relative to the raw release folder.", [r[0] for r in listed]),
                 vector("size_bytes", "File size in bytes.", [r[1] for r in listed]),
                 vector("sha256", "SHA-256 of the file's bytes.", [r[2] for r in listed])],
    )
    module = nwbfile.create_processing_module(PROVENANCE_MODULE, "How this file was made: the source files.")
    module.add(table)

