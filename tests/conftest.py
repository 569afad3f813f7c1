"""Shared fixtures: generated raw trees (fast, seeded) and the real release when it is there."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

#: The real NS1 release sits beside the checkout (../shared/ns1-raw); CI has it.
REAL_RAW = Path(os.environ.get("NS1_RAW", Path(__file__).resolve().parents[2] / "shared" / "ns1-raw"))


@pytest.fixture(scope="session")
def real_raw() -> Path:
    """The real release folder, or a skip saying where it was looked for."""
    if not (REAL_RAW / "MetadataSHEnCneurons.mat").is_file():
        pytest.skip(f"real NS1 release not found at {REAL_RAW} (set NS1_RAW to its folder)")
    return REAL_RAW


@pytest.fixture(scope="session")
def sample_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 8-unit raw tree with test_data_5ms.mat (seed 0). Treat as read-only."""
    from ns1nwb.sample_data import write_sample_tree

    return write_sample_tree(tmp_path_factory.mktemp("raw") / "ns1", n_units=8, seed=0)


@pytest.fixture(scope="session")
def sample_nwb(sample_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sample_raw`` converted with the defaults. Treat as read-only."""
    from ns1nwb import convert

    out = tmp_path_factory.mktemp("nwb") / "sample.nwb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # third-party deprecation noise only; ns1nwb warnings are asserted elsewhere
        convert(sample_raw, out)
    return out


@pytest.fixture(scope="session")
def real_nwb(real_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real release converted with the defaults (about 10 s)."""
    from ns1nwb import convert

    out = tmp_path_factory.mktemp("real") / "ns1.nwb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        convert(real_raw, out)
    return out
