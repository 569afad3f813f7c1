"""Build the parts of the whole release that a generated tree lacks: clusters the metadata does not name (in
the metadata units' folders or in new ones, in new recording blocks), 31-set files whose DRC order shifts,
few repeats, and ``clusterquality.mat`` files. Shared by the all-clusters tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import scipy.io as sio

from rawedit import load_spikes, save


def _shifted(stamp: str, hours: float) -> str:
    moment = dt.datetime.strptime(stamp[:15], "%Y%m%d-%H%M%S") + dt.timedelta(milliseconds=int(stamp[15:]))
    moment += dt.timedelta(hours=hours)
    return moment.strftime("%Y%m%d-%H%M%S") + f"{moment.microsecond // 1000:03d}"


def add_cluster(source: Path, target: Path, *, hours: float = 0.0, drop_sets: tuple[int, ...] = (),
                repeats: dict[int, int] | None = None) -> Path:
    """Write ``target`` (a ``cluster.NN.data.mat``) from the spike file ``source``.

    hours : shift every timestamp (a later recording of the same penetration: a new block).
    drop_sets : set positions to remove (the sets after them move one position earlier).
    repeats : set position (in ``source``) -> how many of its first repeats to keep.
    """
    mat, sets = load_spikes(source)
    for s in range(sets.shape[1]):
        reps = sets[0, s]["repeats"]
        keep = (repeats or {}).get(s)
        if keep is not None:
            reps = reps[:, :keep] if keep else np.empty((0, 0), dtype=reps.dtype)
            sets[0, s]["repeats"] = reps
        if hours and reps.size:
            for r in range(reps.shape[1]):
                stamp = str(reps[0, r]["timestamp"].item())
                reps[0, r]["timestamp"] = np.array([_shifted(stamp, hours)])
    kept = [s for s in range(sets.shape[1]) if s not in drop_sets]
    mat["data"][0, 0]["set"] = sets[:, kept]
    target.parent.mkdir(parents=True, exist_ok=True)
    save(target, mat)
    return target


def write_quality(folder: Path, codes: list[int]) -> Path:
    """``folder/clusterquality.mat`` with one uint8 code per cluster (element NN-1 for ``cluster.NN``)."""
    path = folder / "clusterquality.mat"
    sio.savemat(path, {"clusterquality": np.array([codes], dtype=np.uint8)})
    return path
