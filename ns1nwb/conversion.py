"""The one conversion: a raw NS1 release -> one pooled NWB file, or a folder of per-session (DANDI) files.

Data flow: :func:`ns1nwb.release.read_raw_tree` (raw files -> model) -> :func:`ns1nwb.release.plan_blocks`
(recording blocks, planned and their NWB names checked once) -> :func:`ns1nwb.nwb.build_nwbfile` per output file (model -> NWB, in memory) ->
:mod:`ns1nwb.write` (temporaries, then every file placed at once). Pooled and ``--dandi`` differ only in
which blocks go to which file (:mod:`ns1nwb.dandi` names them).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .constants import METADATA_FILE, POOLED_TIMELINE, SPECTROGRAM_FILE, SPIKES_DIR
from .exceptions import OutputComplete
from .nwb import build_nwbfile
from .nwb.naming import check_nwb_names, session_id_of, subject_id_of
from .release import BlockPlan, RawRelease, RecordingBlock, plan_blocks, read_raw_tree
from .release.cluster_files import UnreadFile, describe_unread
from .user_metadata import check_subject_ids, load_metadata, subject_metadata, synthetic_clock_start
from .write import check_replaceable, output_lock, refuse_inputs, staged_files, temporary_name, write_to

__all__ = ["ConversionResult", "convert", "parse_audio_rate", "AUDIO_RATE_RANGE_HZ"]

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
    #: The other ``.mat`` files under spikesandwav/ that were not read, and why (:class:`RawRelease.unread_files`).
    unread_files: list[UnreadFile] = field(default_factory=list)
    #: subject id -> subject fields left at their defaults (per-session output only).
    defaulted_subject_fields: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> str:
        if len(self.output_paths) == 1:
            where = str(self.output_paths[0])
        else:
            where = f"{len(self.output_paths)} files under {Path(os.path.commonpath(self.output_paths))}"
        text = (f"wrote {where}: {self.n_units} units, {self.n_spikes:,} spikes, {self.n_trials:,} trials, "
                f"{self.n_sessions} recording block{'s' * (self.n_sessions != 1)} {self.time_axis()}")
        if self.skipped_units:
            text += f"; {len(self.skipped_units)} units skipped (spike file missing)"
        if self.unread_clusters:
            text += (f"\n{len(self.unread_clusters)} cluster files under spikesandwav/ are not in the metadata and "
                     "were not converted (--all-clusters converts them)")
        if self.unread_files:
            text += "\n" + describe_unread(self.unread_files)
        defaulted = {s: f for s, f in self.defaulted_subject_fields.items() if f}
        if defaulted:  # a line per ferret, its fields in a column
            width = max(map(len, defaulted))
            text += "\nsubject fields left at their defaults (set them under `subjects:` in --metadata):" + \
                "".join(f"\n  {s:<{width}}  {', '.join(f)}" for s, f in sorted(defaulted.items()))
        return text

    def time_axis(self) -> str:
        """Where the written times sit: a pooled file of several blocks is on a pooled timeline."""
        if self.clock == "synthetic":
            return "on a synthetic clock (the raw files carry no timestamps)"
        if len(self.output_paths) == 1 and self.n_sessions > 1:
            return f"on a {POOLED_TIMELINE}"
        return "on the wall clock" if self.n_sessions == 1 else "on their own wall clocks"


def convert(raw_folder: str | os.PathLike, output_path: str | os.PathLike, *,
            metadata_path: str | os.PathLike | None = None, audio_rate_hz: float | None = None,
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
    audio_rate_hz : float or None, default None
        None stores each sound as played, its original float32 samples at 48828.125 Hz; a rate in Hz stores
        it resampled (a smaller file; ``Recording.waveform(s, rate_hz=...)`` resamples on reading instead).
    overwrite, strict, progress : bool
        Replace existing output files; turn warnings into errors; show progress bars.
    dandi : bool, default False
        One file per recording block in DANDI's layout (:mod:`ns1nwb.dandi`).
    dandiset_id : str, optional
        With ``dandi``: write a minimal ``dandiset.yaml`` when the folder has none.
    all_clusters : bool, default False
        Every sorted cluster of the release (every ``cluster.NN.data.mat`` under ``spikesandwav/``, one file per
        number and folder: :func:`ns1nwb.read_raw_tree`), not only the units of the metadata: they follow them,
        in path order, with ``in_metadata`` False.

    Raises
    ------
    RawFormatError, MetadataError, OutputError
        One line naming the file and the problem; nothing is left at or beside the output.
    OutputComplete
        A stop came while the finished files were being put in place: they are all there.
    """
    from . import dandi as dandi_layout

    output = Path(output_path)
    if audio_rate_hz is not None:
        audio_rate_hz = parse_audio_rate(audio_rate_hz)
    if dandi and dandiset_id is not None:
        dandiset_id = dandi_layout.check_dandiset_id(dandiset_id)
    raw = Path(raw_folder)
    refuse_inputs(output, files=[raw / METADATA_FILE, raw / SPECTROGRAM_FILE,
                                 *([Path(metadata_path)] if metadata_path else [])],
                  folders=[raw / SPIKES_DIR])
    metadata = load_metadata(metadata_path)
    with output_lock(output):  # from here to the end no other conversion writes this output
        if dandi:
            dandi_layout.check_output_folder(output)
        else:
            check_replaceable(output, overwrite=overwrite)
        release = read_raw_tree(raw, strict=strict, progress=progress, all_clusters=all_clusters)
        plan = plan_blocks(release, synthetic_clock_start(metadata))
        check_nwb_names(release, plan)
        check_subject_ids(metadata, sorted({subject_id_of(block) for block in plan.blocks}))
        if dandi:
            files = [([block], output / dandi_layout.dandi_file_path(subject_id_of(block), session_id_of(block, plan.clock)))
                     for block in plan.blocks]
            dandi_layout.check_session_files([target for _, target in files], overwrite=overwrite)
        else:
            files = [(plan.blocks, output)]
        _write_files(release, plan, files, metadata=metadata, audio_rate_hz=audio_rate_hz, overwrite=overwrite,
                     progress=progress, folder=output if dandi else None,
                     dandiset_yaml=dandi_layout.dandiset_yaml(output, dandiset_id) if dandi else None)
    return ConversionResult(
        output_paths=[target for _, target in files],
        n_units=len(release.units),
        n_spikes=release.n_spikes,
        n_trials=sum(len(b.presentations) for b in plan.blocks),
        n_sessions=len(plan.blocks),
        clock=plan.clock,
        warnings=release.warnings,
        skipped_units=[s.path for s in release.skipped_units],
        unread_clusters=release.unread_clusters,
        unread_files=release.unread_files,
        defaulted_subject_fields=({subject_id_of(b): subject_metadata(metadata, subject_id_of(b))[1] for b in plan.blocks}
                                  if dandi else {}),
    )


def _write_files(release: RawRelease, plan: BlockPlan, files: list[tuple[list[RecordingBlock], Path]], *,
                 metadata: dict[str, Any], audio_rate_hz: float | None, overwrite: bool, progress: bool, folder: Path | None,
                 dandiset_yaml: tuple[Path, str] | None) -> None:
    """Build and write every file to a temporary, then put them all in place (all or none).

    ``folder``: the ``--dandi`` folder, made if missing (and removed again on failure); the temporaries wait
    in a hidden staging folder beside it until they move to their ``sub-*/`` folders.
    """
    from tqdm import tqdm

    targets = [target for _, target in files] + ([dandiset_yaml[0]] if dandiset_yaml else [])
    made_folder = folder is not None and not folder.exists()
    staging = None
    try:
        if folder is not None:
            folder.mkdir(exist_ok=True)
            staging = temporary_name(folder)
            staging.mkdir()
        with staged_files(targets, overwrite=overwrite, staging=staging) as temporaries:
            if dandiset_yaml:
                temporaries[-1].write_text(dandiset_yaml[1], encoding="utf-8")
            stimulus_cache: dict[tuple[str, int], np.ndarray] = {}  # shared by the files of one run
            # The bar's label says which phase of which file is running (building a file takes seconds). No bar
            # at all without progress: a tqdm made disabled still starts a monitor thread, which outlives it.
            bar = tqdm(total=len(files), desc=f"building {files[0][1].name}", unit="file") if progress else None
            try:
                for (blocks, target), temporary in zip(files, temporaries):
                    _show(bar, f"building {target.name}")
                    nwbfile = build_nwbfile(release, metadata=metadata, audio_rate_hz=audio_rate_hz,
                                            plan=plan, blocks=blocks, stimulus_cache=stimulus_cache)
                    _show(bar, f"writing {target.name}")
                    write_to(nwbfile, temporary, target)
                    if bar is not None:
                        bar.set_description_str(f"wrote {target.name} ({temporary.stat().st_size / 1e6:,.1f} MB)",
                                                refresh=False)
                        bar.update()
            finally:
                if bar is not None:
                    bar.close()
    except BaseException as err:
        if made_folder and not isinstance(err, OutputComplete):  # complete: the files are in place
            shutil.rmtree(folder, ignore_errors=True)  # type: ignore[arg-type]
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _show(bar: Any, text: str) -> None:
    """Put ``text`` in the progress bar's label (no bar: nothing)."""
    if bar is not None:
        bar.set_description_str(text)
