"""The in-memory model of a raw NS1 release: plain dataclasses, no NWB types, no file access.

The model keeps everything the release holds that is not redundant: every
metadata field with its value, every spike time exactly as stored (unsorted
repeats stay unsorted, spikes after 4995 ms stay), each repeat's timestamp,
each set's ``stim_params`` and ``length_signal_ms``, the wavs and, when present,
the precomputed spectrogram ``X_nfht``. The pooled ``spikes`` field and the
per-spike ``repeat_id`` of the spike files repeat what ``repeats(r).t`` already
says and are not carried.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..constants import SPECTROGRAM_FILE, WAV_TRUE_RATE_HZ
from .cluster_files import UnreadFile, cluster_number, describe_unread

__all__ = ["RawRepeat", "RawSet", "RawUnit", "RawWav", "SkippedUnit", "RawRelease", "SourceFile", "UNKNOWN"]

#: The ferret and probe of a spike file whose path has no ``<experiment>/<penetration>/`` folders.
UNKNOWN = "unknown"


@dataclass(slots=True)
class RawRepeat:
    """One presentation of one sound to one unit."""

    #: Spike times in ms after sound onset, float64, in the stored order (may be unsorted).
    spike_times_ms: np.ndarray
    #: Wall-clock onset as stored, ``'YYYYMMDD-HHMMSSmmm'`` local time; None when absent.
    timestamp: str | None = None
    #: The latest of ``spike_times_ms`` (0 without spikes), computed by the reader for a whole file at once.
    latest_spike_ms: float = 0.0


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
    """One unit (a sorted cluster): its metadata row, if the metadata names it, and its spike file."""

    #: Row of the unit in ``MetadataSHEnCneurons.mat`` (0-based); None for a cluster the metadata does not name.
    metadata_row: int | None
    #: Spike file relative to ``spikesandwav/``: as written in the metadata, else as found on disk.
    path: str
    #: Every metadata field, in file order, as Python scalars / strings (empty when not in the metadata).
    metadata: dict[str, Any]
    #: The spike file actually read (the ``_1`` fallback when that was used).
    spike_file: Path
    sets: list[RawSet]
    #: The folder's ``clusterquality.mat`` code of this cluster (1, 2, 3); None without that file.
    cluster_quality: int | None = None

    @property
    def in_metadata(self) -> bool:
        """Whether ``MetadataSHEnCneurons.mat`` names this cluster (one of the 119 curated units)."""
        return self.metadata_row is not None

    @property
    def unit_name(self) -> str:
        """The seed's unit id: the metadata path without ``.mat``."""
        return self.path[:-4] if self.path.endswith(".mat") else self.path

    @property
    def in_folders(self) -> bool:
        """Whether the path is ``<experiment>/<penetration>/<file>`` (or deeper), as in the release."""
        return len(PurePosixPath(self.path).parts) >= 3

    @property
    def experiment(self) -> str:
        """First folder of the path, e.g. ``exp57_B4x8``; ``unknown`` for a path not in such folders."""
        return PurePosixPath(self.path).parts[0] if self.in_folders else UNKNOWN

    @property
    def ferret(self) -> str:
        """The ferret: the experiment folder without its probe suffix (``exp57_B4x8`` -> ``exp57``)."""
        return self.experiment.split("_")[0] or "unknown"

    @property
    def penetration(self) -> str:
        """The folder the spike file is in, e.g. ``P03-SH_En_C.Lsh2``; ``unknown`` for a path not in
        ``<experiment>/<penetration>/`` folders."""
        return PurePosixPath(self.path).parts[-2] if self.in_folders else UNKNOWN

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

    @property
    def cluster_number(self) -> int | None:
        """NN of the file name ``cluster.NN.data.mat`` (its element of ``clusterquality``), or None."""
        return cluster_number(self.spike_file.name)


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
    metadata_row: int
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
    #: Every file read (metadata, spike files in unit order, clusterquality files, wavs, spectrogram file),
    #: with its SHA-256.
    source_files: list[SourceFile] = field(default_factory=list)
    #: Cluster files under ``spikesandwav/`` that the metadata does not name and that were not read
    #: (``all_clusters=False``), relative to ``spikesandwav/``.
    unread_clusters: list[str] = field(default_factory=list)
    #: The other ``.mat`` files under ``spikesandwav/`` that were not read, each with why: a cluster number
    #: another file of its folder holds, or a name that is not a cluster file's (``clusterquality.mat`` aside).
    unread_files: list[UnreadFile] = field(default_factory=list)

    @property
    def n_spikes(self) -> int:
        return sum(u.n_spikes for u in self.units)

    @property
    def n_repeats(self) -> int:
        return sum(len(s.repeats) for u in self.units for s in u.sets)

    @property
    def recording_blocks(self) -> dict[str, list[int]]:
        """Unit indices (into ``units``) grouped by recording block, keyed by the block's earliest timestamp.

        Units recorded together heard the same presentations at the same wall-clock times, so two units
        that share any presentation timestamp are in one block (a cluster that lost some presentations,
        say 16 of 20 repeats, still joins its block). Units without timestamps are grouped by their
        spike-file folder.
        """
        parent = list(range(len(self.units)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        first_unit: dict[str, int] = {}
        for i, unit in enumerate(self.units):
            for stamp in unit.timestamps:
                j = first_unit.setdefault(stamp, i)
                if j != i:
                    parent[root(i)] = root(j)
        members: dict[int, list[int]] = {}
        for i in range(len(self.units)):
            members.setdefault(root(i), []).append(i)
        blocks: dict[str, list[int]] = {}
        for indices in members.values():
            stamps = [s for i in indices for s in self.units[i].timestamps]
            unit = self.units[indices[0]]
            key = min(stamps) if stamps else f"{unit.experiment}/{unit.penetration}"
            blocks.setdefault(key, []).extend(indices)
        return {key: sorted(indices) for key, indices in sorted(blocks.items())}

    def summary(self) -> str:
        """A few lines saying what was read."""
        lines = [
            f"{self.root}: {len(self.units)} units read, {len(self.skipped_units)} skipped, "
            f"{self.n_spikes:,} spikes in {self.n_repeats:,} repeats, "
            f"{len(self.recording_blocks)} recording blocks, {len(self.wavs)} wavs, "
            f"spectrogram {'from ' + SPECTROGRAM_FILE if self.spectrogram_x_nfht is not None else 'absent'}"
        ]
        lines += [f"  skipped {s.path}: {s.reason}" for s in self.skipped_units]
        if self.unread_clusters:
            lines.append(f"  {len(self.unread_clusters)} cluster files under spikesandwav/ are not in the metadata "
                         "and were not read (all_clusters=True reads them)")
        if self.unread_files:
            lines.append("  " + describe_unread(self.unread_files))
        return "\n".join(lines)

