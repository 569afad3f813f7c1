"""TEMPORARY (merge aid): the old name of :mod:`ns1nwb.user_metadata`, for nwb/file.py, dandi.py and
conversion.py until they import from there; then delete this file."""

from .user_metadata import load_metadata, parse_datetime, subject_metadata, synthetic_clock_start  # noqa: F401
