"""TEMPORARY (merge aid): the old name of :mod:`ns1nwb.nwb.recording_blocks`, for nwb/file.py until it
imports from there; then delete this file."""

from .recording_blocks import add_recording_blocks_to_nwbfile  # noqa: F401
