"""A raw tree the size of the whole NS1 release, made from a smaller copy, to benchmark at full scale.

The OSF release holds 596 cluster files (14,391,484 spikes); the shared copy holds 279. This script copies
RAW to OUT and adds copies of its cluster files under new cluster numbers until OUT holds ``--clusters``
of them (default 596): every cluster file once (``cluster.NN`` -> ``cluster.<NN + step>``), then, in path
order, as many as are still needed a second time (``<NN + 2 step>``); ``step`` is the power of ten above the
tree's highest cluster number, so no copy takes a number already used. Each folder's ``clusterquality.mat``
is extended so that a copy has its original's code. The copies are clusters the metadata does not name, in
the folders and recording blocks of their originals: ``convert --all-clusters`` reads them as it would the
release's own, and the default conversion is unchanged.

    python benchmarks/make_release_sized_tree.py OUT [--raw RAW] [--clusters N]
    python benchmarks/bench_convert.py --all-clusters --raw OUT
    python benchmarks/bench_grid.py --raw OUT

OUT must not exist. The files are real copies (about 400 MB from the shared tree), not links: a link to a
metadata unit's file would be that unit, not a new cluster.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import scipy.io as sio

from _common import CLUSTER_QUALITY_FILE, DEFAULT_RAW, SPIKES_DIR, release_mat_files, resolve_raw

#: Cluster files in the OSF release (``spikesandwav.zip``).
RELEASE_CLUSTERS = 596


def cluster_number(path: Path) -> int:
    """NN of ``cluster.NN.data*.mat``."""
    return int(path.name.split(".")[1])


def copy_name(path: Path, number: int) -> Path:
    """``path`` renamed to cluster ``number`` (the rest of the name kept: ``.data.mat``, ``.data_1.mat``)."""
    return path.with_name(f"cluster.{number:02d}.{path.name.split('.', 2)[2]}")


def make_tree(raw: Path, out: Path, n_clusters: int) -> int:
    """Copy ``raw`` to ``out`` and add copies of its cluster files up to ``n_clusters``; the copies made.

    ``n_clusters`` lies between the tree's cluster files and three times as many (checked by the caller).
    """
    originals = release_mat_files(raw)[0]
    step = 10 ** len(str(max(cluster_number(p) for p in originals)))
    needed = n_clusters - len(originals)
    copies = [(p, cluster_number(p) + step) for p in originals][:needed]
    copies += [(p, cluster_number(p) + 2 * step) for p in originals][:needed - len(copies)]
    shutil.copytree(raw, out)
    for original, number in copies:
        target = out / original.relative_to(raw)
        shutil.copyfile(target, copy_name(target, number))
    for quality in (out / SPIKES_DIR).rglob(CLUSTER_QUALITY_FILE):
        codes = sio.loadmat(quality)["clusterquality"].ravel()
        # Element NN-1 is cluster NN's code: a copy's element gets its original's; the numbers between
        # (no file) get 3, a valid code.
        extended = np.full(2 * step + codes.size, 3, dtype=codes.dtype)
        for start in (0, step, 2 * step):
            extended[start:start + codes.size] = codes
        sio.savemat(quality, {"clusterquality": extended.reshape(1, -1)})
    return len(copies)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder to write (must not exist)")
    parser.add_argument("--raw", type=Path, default=DEFAULT_RAW, help=f"the tree to copy (default: {DEFAULT_RAW})")
    parser.add_argument("--clusters", type=int, default=RELEASE_CLUSTERS,
                        help=f"cluster files wanted in OUT (default: {RELEASE_CLUSTERS}, the release's)")
    args = parser.parse_args(argv)
    raw = resolve_raw(args.raw)
    if args.out.exists():
        print(f"error: {args.out} exists; give a new folder", file=sys.stderr)
        return 2
    n_originals = len(release_mat_files(raw)[0])
    if not n_originals or not n_originals <= args.clusters <= 3 * n_originals:
        print(f"error: {raw / SPIKES_DIR} holds {n_originals} cluster files; --clusters must lie in "
              f"{n_originals}-{3 * n_originals}", file=sys.stderr)
        return 2
    made = make_tree(raw, args.out, args.clusters)
    print(f"wrote {args.out}: {n_originals + made} cluster files ({made} copies under new cluster numbers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
