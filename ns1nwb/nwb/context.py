"""What every ``add_*_to_nwbfile`` step needs: the release, its recording blocks and the options."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..release import BlockPlan, RawRelease, RecordingBlock
from .naming import session_id_of

__all__ = ["BuildContext", "source_checksums", "file_identifier"]


def source_checksums(release: RawRelease) -> list[tuple[str, int, str]]:
    """(path relative to the raw folder, size, SHA-256) of every file read, hashed by the reader."""
    root = release.root.resolve()
    return [(Path(os.path.relpath(f.path.resolve(), root)).as_posix(), f.size_bytes, f.sha256)
            for f in release.source_files]


@dataclass
class BuildContext:
    """The release, its plan, the blocks of the file being built and the options."""

    release: RawRelease
    plan: BlockPlan
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
        return {"audio_rate_hz": self.audio_rate_hz or "native",
                "sessions": [session_id_of(b, self.plan.clock) for b in self.blocks],
                "all_clusters": any(not u.in_metadata for u in self.release.units)}


def file_identifier(ctx: BuildContext) -> str:
    """A UUID derived from everything that decides the file's content: the SHA-256 of every source file
    read, the options (audio rate, the blocks, all clusters or not), the metadata and the ns1nwb version.
    The same inputs give the same identifier (a re-run does not make a "new" DANDI asset); a change in any
    of them, a new ns1nwb version included, gives another."""
    content = json.dumps({"sources": ctx.checksums, "options": ctx.options, "metadata": ctx.metadata,
                          "ns1nwb": __version__}, sort_keys=True, default=str)
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "ns1nwb:" + hashlib.sha256(content.encode()).hexdigest()))
