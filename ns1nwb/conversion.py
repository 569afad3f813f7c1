"""The conversions: the raw release -> one pooled NWB file, or a folder of per-session (DANDI) files.

Data flow: :func:`ns1nwb.release.read_raw_tree` (raw files -> model) ->
:func:`ns1nwb.nwb.build_nwbfile` (model -> NWB, in memory) -> :func:`ns1nwb.write.write_nwbfile` (disk).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .constants import METADATA_FILE, SPECTROGRAM_FILE, SPIKES_DIR
from .dandi import check_output_folder, write_dandi_folder
from .metadata import load_metadata, synthetic_clock_start
from .nwb.file import assemble_nwbfile
from .release import plan_sessions, read_raw_tree
from .release.matfile import gc_paused
from .trial_references import finisher
from .output_guard import output_lock, refuse_inputs
from .workers import stop_deferral_scope
from .write import check_output_path, write_nwbfile

__all__ = ["ConversionResult", "convert", "parse_audio_rate"]


#: Audio rates ``convert`` takes, in Hz: below, a waveform is a few samples; above, it needs tens of GiB.
AUDIO_RATE_RANGE_HZ = (1_000.0, 192_000.0)


def parse_audio_rate(value: str | float | int) -> float | None:
    """``'native'`` -> None (keep the wav samples), else a rate in Hz within :data:`AUDIO_RATE_RANGE_HZ`.

    Raises
    ------
    ValueError
        Neither 'native' nor a number of Hz in 1 kHz..192 kHz.
    """
    if isinstance(value, str) and value.strip().lower() == "native":
        return None
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"audio rate {value!r} is neither a number of Hz nor 'native'") from None
    low, high = AUDIO_RATE_RANGE_HZ
    if not np.isfinite(rate) or not low <= rate <= high:
        raise ValueError(f"audio rate {value!r} is outside {low:g}-{high:g} Hz (give a rate in that range, "
                         "or 'native' for the original 48828.125 Hz)")
    return rate


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
    #: Cluster files under spikesandwav/ not in the metadata and not converted (without ``all_clusters``).
    unread_clusters: list[str] = field(default_factory=list)
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
        if self.unread_clusters:
            text += (f"\n{len(self.unread_clusters)} cluster files under spikesandwav/ are not in the metadata and "
                     "were not converted (--all-clusters converts them)")
        defaulted = {s: f for s, f in self.defaulted_subject_fields.items() if f}
        if defaulted:
            text += "\nsubject fields left at their defaults (set them under `subjects:` in --metadata): " + \
                "; ".join(f"{s}: {', '.join(f)}" for s, f in sorted(defaulted.items()))
        return text


def convert(raw_folder: str | os.PathLike, output_path: str | os.PathLike, *,
            metadata_path: str | os.PathLike | None = None, audio_rate_hz: float | None = 48000.0,
            overwrite: bool = False, strict: bool = False, progress: bool = False,
            dandi: bool = False, dandiset_id: str | None = None, all_clusters: bool = False) -> ConversionResult:
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
    all_clusters : bool, default False
        Every sorted cluster of the release (every ``cluster.NN.data*.mat`` under ``spikesandwav/``), not
        only the units of the metadata: they follow them, in path order, with ``in_metadata`` False.
    """
    output = Path(output_path)
    if audio_rate_hz is not None:
        audio_rate_hz = parse_audio_rate(audio_rate_hz)
    # Fail on the output before the slow part: never an input, nothing but a regular file (or a folder of
    # ours) replaced, and one conversion per output at a time (ns1nwb.output_guard).
    _refuse_inputs_as_output(raw_folder, output, metadata_path)
    check = check_output_folder if dandi else check_output_path
    check(output, overwrite=overwrite)
    metadata = load_metadata(metadata_path)
    with stop_deferral_scope(), output_lock(output):  # once the output is in place, a stop waits for the end
        check(output, overwrite=overwrite)  # again, now that no other conversion can be making it
        # hdmf builds ~10^5 long-lived objects too: collect once at the end.
        with gc_paused():
            return _convert(raw_folder, output, metadata, audio_rate_hz=audio_rate_hz, overwrite=overwrite,
                            strict=strict, progress=progress, dandi=dandi, dandiset_id=dandiset_id,
                            all_clusters=all_clusters)


def _refuse_inputs_as_output(raw_folder: str | os.PathLike, output: Path,
                             metadata_path: str | os.PathLike | None) -> None:
    """Refuse an output that is a file the conversion reads or lies inside the release's ``spikesandwav/``
    (spike files and wavs), links followed."""
    raw = Path(raw_folder)
    inputs = [raw / METADATA_FILE, raw / SPECTROGRAM_FILE, *([Path(metadata_path)] if metadata_path else [])]
    refuse_inputs(output, files=inputs, folders=[raw / SPIKES_DIR])


def _convert(raw_folder: str | os.PathLike, output: Path, metadata: dict[str, Any], *,
             audio_rate_hz: float | None, overwrite: bool, strict: bool, progress: bool, dandi: bool,
             dandiset_id: str | None, all_clusters: bool) -> ConversionResult:
    release = read_raw_tree(raw_folder, strict=strict, progress=progress, all_clusters=all_clusters)
    defaulted: dict[str, list[str]] = {}
    if dandi:
        plan = plan_sessions(release, synthetic_clock_start(metadata))
        paths, defaulted = write_dandi_folder(release, output, metadata=metadata, audio_rate_hz=audio_rate_hz,
                                              overwrite=overwrite, dandiset_id=dandiset_id, progress=progress,
                                              plan=plan)
        clock, n_sessions = plan.clock, len(plan.blocks)
        n_trials = sum(len(b.presentations) for b in plan.blocks)
    else:
        nwbfile, references = assemble_nwbfile(release, metadata=metadata, audio_rate_hz=audio_rate_hz,
                                               defer_trial_references=True)
        write_nwbfile(nwbfile, output, overwrite=overwrite, finish=finisher(references))
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
        unread_clusters=release.unread_clusters,
        defaulted_subject_fields=defaulted,
    )
