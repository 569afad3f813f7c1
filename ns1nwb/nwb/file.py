"""The NWB file itself (session, subject, notes, identifier) and :func:`build_nwbfile`, which assembles
every area of the file in memory; it never touches disk (see :mod:`ns1nwb.write`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from .._version import __version__
from ..constants import POOLED_TIMELINE
from ..release import BlockPlan, RawRelease, RecordingBlock, plan_blocks
from ..user_metadata import load_metadata, parse_datetime, subject_metadata, synthetic_clock_start
from .context import BuildContext, file_identifier, source_checksums
from .recording_blocks import add_recording_blocks_to_nwbfile
from .naming import check_nwb_names, session_id_of, subject_id_of
from .electrodes import add_electrodes_to_nwbfile
from .provenance import add_provenance_to_nwbfile
from .stimuli import add_stimuli_to_nwbfile
from .trials import add_trials_to_nwbfile
from .units import add_units_to_nwbfile

if TYPE_CHECKING:
    from pynwb import NWBFile

__all__ = ["build_nwbfile"]


def new_nwbfile(ctx: BuildContext) -> "NWBFile":
    from pynwb import NWBFile
    from pynwb.file import Subject

    md = ctx.metadata
    subjects = sorted({subject_id_of(b) for b in ctx.blocks})
    n_units, n_blocks = len(ctx.unit_indices), len(ctx.blocks)
    n_other = sum(not ctx.release.units[i].in_metadata for i in ctx.unit_indices)
    units_text = f"{n_units} units" + (f" ({n_units - n_other} of the metadata, {n_other} other clusters)"
                                       if n_other else "")
    blocks_text = f"{n_blocks} recording block" + ("s" if n_blocks != 1 else "")
    notes = [f"Converted by ns1nwb {__version__} from the raw NS1 release ({units_text}, {blocks_text})."]
    if ctx.plan.clock == "wall-clock":
        notes.append("Time base: presentation onsets come from the raw wall-clock timestamps (Europe/London, "
                     "computed in UTC); the session starts at the earliest onset.")
    else:
        notes.append("Time base: SYNTHETIC. The raw files carry no timestamps, so presentations are laid out 10 s "
                     "apart in stimulus/repeat order; only times relative to each trial's start_time are real.")
    if n_blocks > 1:
        notes.append("This is a POOLED CONVENIENCE FILE for analysis, not one to archive: its recording blocks, "
                     "recorded months apart, sit end to end 60 s apart, each keeping its own internal timing, on a "
                     f"{POOLED_TIMELINE} (wall-clock starts in intervals/recording_blocks, wall-clock onsets in "
                     "trials.onset_wall_clock), and its subject is a group of ferrets. The per-session files "
                     "written by `ns1nwb convert --dandi` (one block, one ferret, true clock) are the ones to "
                     "archive on DANDI.")
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
    subject_fields = {k: v for k, v in subject_fields.items() if v is not None}
    if isinstance(subject_fields.get("date_of_birth"), str):  # the schema's "date": pynwb wants a datetime
        subject_fields["date_of_birth"] = parse_datetime(subject_fields["date_of_birth"], "subject.date_of_birth")
    subject = Subject(subject_id=subject_id, **subject_fields)

    session_id = session_id_of(ctx.blocks[0], ctx.plan.clock) if len(ctx.blocks) == 1 else "NS1-pooled"
    start = ctx.blocks[0].start
    if n_blocks == 1:
        block = ctx.blocks[0]
        this_file = (f"This file: recording block {session_id} of ferret {subject_id} (penetration "
                     f"{'+'.join(block.penetrations)}), {units_text}, {len(block.presentations)} presentations.")
    else:
        this_file = (f"This pooled convenience file: {units_text} of {len(subjects)} ferrets from {blocks_text} "
                     "(see notes).")
    return NWBFile(
        session_description=f"{this_file} {md['session_description'].strip()}",
        identifier=file_identifier(ctx),
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


def build_nwbfile(release: RawRelease, *, metadata: dict[str, Any] | None = None,
                  audio_rate_hz: float | None = None, plan: BlockPlan | None = None,
                  blocks: Iterable[RecordingBlock] | None = None,
                  stimulus_cache: dict[tuple[str, int], np.ndarray] | None = None) -> "NWBFile":
    """An in-memory NWB file of a release: all its recording blocks, or ``blocks`` (a per-session file).

    To disk with :func:`ns1nwb.write_nwbfile` (or pynwb's ``NWBHDF5IO``).

    Parameters
    ----------
    release : RawRelease
        From :func:`ns1nwb.read_raw_tree`.
    metadata : dict, optional
        From :func:`ns1nwb.user_metadata.load_metadata`; defaults when None.
    audio_rate_hz : float or None, default None
        None stores the sounds as played: the original float32 samples at 48828.125 Hz. A rate in Hz stores
        them resampled (smaller files); the spectrograms then link to no waveform.
    plan : BlockPlan, optional
        The release's recording blocks (:func:`ns1nwb.release.plan_blocks`), planned and name-checked
        (:func:`ns1nwb.nwb.naming.check_nwb_names`) once by a caller that builds several files.
    blocks : iterable of RecordingBlock, optional
        Blocks of ``plan`` to include; all when None.
    stimulus_cache : dict, optional
        Derived stimulus arrays, shared by the files of one run.
    """
    import ndx_sound  # noqa: F401  (registers AcousticWaveformSeries)

    metadata = metadata if metadata is not None else load_metadata(None)
    if plan is None:
        plan = plan_blocks(release, synthetic_clock_start(metadata))
        check_nwb_names(release, plan)
    blocks = list(plan.blocks if blocks is None else blocks)
    if not blocks:
        raise ValueError("no recording block to build a file of")
    cache = stimulus_cache if stimulus_cache is not None else {}
    ctx = BuildContext(release, plan, metadata, audio_rate_hz, source_checksums(release), blocks, cache)
    nwbfile = new_nwbfile(ctx)
    electrode_rows = add_electrodes_to_nwbfile(nwbfile, ctx)
    templates = add_stimuli_to_nwbfile(nwbfile, ctx)
    layout = add_trials_to_nwbfile(nwbfile, ctx, templates)
    add_units_to_nwbfile(nwbfile, ctx, layout, electrode_rows)
    add_recording_blocks_to_nwbfile(nwbfile, ctx, layout)
    add_provenance_to_nwbfile(nwbfile, ctx)
    return nwbfile
