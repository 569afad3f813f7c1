"""``ns1nwb.deepstrf.NS1Dataset`` against the real deepSTRF package: its own ``NS1Dataset``, methods and collate.

Runs only where deepSTRF is importable (it pulls torch: keep it in its own virtualenv, see the README's "For
deepSTRF users"); skipped with the reason elsewhere. The rows on the real release need ../shared/ns1-raw (or
NS1_RAW); that tree has no ``test_data_5ms.mat``, so the seed reads a zero stand-in there and spectrogram values
are compared on the generated tree, which has the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

try:
    import torch
    from deepSTRF.datasets.audio.audio_dataset import AudioNeuralDataset
    from deepSTRF.datasets.audio.ns1 import NS1Dataset as SeedDataset
    from deepSTRF.utils.data import neural_collate
except ImportError as err:
    pytest.skip(f"deepSTRF is not importable here ({err}); run this module in the virtualenv that has it "
                "(README: For deepSTRF users)", allow_module_level=True)

import ns1nwb
from ns1nwb import NwbContentError
from ns1nwb.deepstrf import NS1Dataset
from test_deepstrf_lists import sparse_nwb  # noqa: F401  (a fixture)

SEED_FILES = ("MetadataSHEnCneurons.mat", "spikesandwav")


def _seed_folder(raw: Path, folder: Path) -> Path:
    """What the seed reads: the raw tree's files, and a zero ``test_data_5ms.mat`` where the tree has none."""
    import scipy.io as sio

    folder.mkdir()
    for name in SEED_FILES:
        (folder / name).symlink_to(raw / name)
    spectrogram = raw / "test_data_5ms.mat"
    if spectrogram.is_file():
        (folder / spectrogram.name).symlink_to(spectrogram)
    else:
        sio.savemat(folder / spectrogram.name, {"X_nfht": np.zeros((20, 34, 1, 999))})
    return folder


def _max_response_difference(ours, seed) -> float:
    """Largest |ours - seed| over every (stimulus, unit); shapes and dtypes must agree first."""
    worst = 0.0
    assert len(ours.responses) == len(seed.responses) == 20
    for row_ours, row_seed in zip(ours.responses, seed.responses):
        assert len(row_ours) == len(row_seed) == seed.N_neurons
        for a, b in zip(row_ours, row_seed):
            assert a.dtype == b.dtype == torch.float32 and a.shape == b.shape
            worst = max(worst, float((a - b).abs().max()))
    return worst


def _assert_same_dataset(ours, seed) -> None:
    assert isinstance(ours, AudioNeuralDataset)
    assert _max_response_difference(ours, seed) == 0.0
    assert ours.nrn_meta == seed.nrn_meta and ours.stim_meta == seed.stim_meta
    assert (ours.N_neurons, ours.F, ours.dt, ours.species, tuple(ours.hearing_range_hz)) == \
        (seed.N_neurons, seed.F, seed.dt, seed.species, tuple(seed.hearing_range_hz))
    assert (ours.return_waveform, ours.audio_fs) == (seed.return_waveform, seed.audio_fs)
    assert torch.equal(ours.nrn_masks, seed.nrn_masks)
    assert [tuple(s.shape) for s in ours.stims] == [tuple(s.shape) for s in seed.stims]


# --------------------------------------------------------------------------- the real release, both modes


@pytest.fixture(scope="module")
def real_native(real_nwb: Path) -> Path:
    """The real release at the native rate: the default conversion, the suite's shared file."""
    return real_nwb


@pytest.fixture(scope="module")
def real_seed_folder(real_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _seed_folder(real_raw, tmp_path_factory.mktemp("deepstrf_seed") / "NS1")


def test_real_spectrogram_mode_equals_the_seed(real_native, real_seed_folder):
    seed = SeedDataset(str(real_seed_folder))
    ours = NS1Dataset(real_native)
    _assert_same_dataset(ours, seed)  # every response of the 119 units x 20 sounds, value for value
    assert seed.N_neurons == 119
    with ns1nwb.open(real_native) as rec:  # no X_nfht in this tree: the authors' cochleagram, stored
        for s in (0, 19):
            np.testing.assert_array_equal(ours.stims[s][0].numpy(), rec.spectrogram(s))


def test_real_waveform_mode_equals_the_seed(real_native, real_seed_folder):
    seed = SeedDataset(str(real_seed_folder), return_waveform=True)
    ours = NS1Dataset(real_native, return_waveform=True)
    _assert_same_dataset(ours, seed)
    worst = max(float((a - b).abs().max()) for a, b in zip(ours.stims, seed.stims))
    assert worst <= 1e-5, worst
    assert ours.stims[0].shape == (1, 999 * 240) and ours.hop == 240


def test_one_batch_through_deepstrfs_collate(real_all_nwb):
    """A few units and sounds through DataLoader + neural_collate, ragged repeats included (--all-clusters)."""
    from torch.utils.data import DataLoader

    with ns1nwb.open(real_all_nwb) as rec:
        names = list(rec.units.unit_name)
    dataset = NS1Dataset(real_all_nwb)
    short = next(n for n in range(dataset.N_neurons)
                 if any(dataset.responses[s][n].shape[0] < 20 for s in range(20)))
    chosen = [0, 7, short]
    dataset.select_population(chosen)
    dataset.select_stims([0, 3, 9])
    batch = next(iter(DataLoader(dataset, batch_size=3, collate_fn=neural_collate)))
    assert batch["stims"].shape == (3, 1, 34, 999) and batch["responses"].shape == (3, 3, 20, 999)
    assert [m["name"] for m in batch["stim_meta"]] == ["nat01", "nat04", "nat10"]
    for b, s in enumerate((0, 3, 9)):
        for i, n in enumerate(chosen):
            r = dataset.responses[s][n]
            assert torch.equal(batch["responses"][b, i, :r.shape[0]], r)
            assert torch.isnan(batch["responses"][b, i, r.shape[0]:]).all()
    assert dataset.nrn_meta[short]["cell_id"] == names[short]


# --------------------------------------------------------------------------- the generated tree (published X_nfht)


@pytest.fixture(scope="module")
def sample_native(sample_nwb: Path) -> Path:
    """The sample tree at the native rate: the default conversion, the suite's shared file."""
    return sample_nwb


@pytest.mark.parametrize("return_waveform", [False, True])
def test_sample_tree_equals_the_seed_spectrograms_and_raw_counts(sample_raw, sample_native, tmp_path,
                                                                 return_waveform):
    seed = SeedDataset(str(_seed_folder(sample_raw, tmp_path / "NS1")), smooth=False, return_waveform=return_waveform)
    ours = NS1Dataset(sample_native, smooth=False, return_waveform=return_waveform)
    _assert_same_dataset(ours, seed)
    for a, b in zip(ours.stims, seed.stims):  # the published X_nfht, or the resampled wavs
        assert float((a - b).abs().max()) <= (1e-5 if return_waveform else 0.0)


# --------------------------------------------------------------------------- beyond the seed


def test_deepstrf_methods_on_sparse_clusters(sparse_nwb):  # noqa: F811
    """Every cluster of an --all-clusters file: NaN sentinels that deepSTRF's own methods respect."""
    _, path = sparse_nwb
    dataset = NS1Dataset(path)
    extra = next(n for n, m in enumerate(dataset.nrn_meta) if m["single_t"] == "")
    assert not dataset.nrn_masks[2, extra] and int(dataset.nrn_masks.sum()) == 3 * 20 - 1
    assert dataset.responses[5][extra].shape == (2, 999)
    before = [r.clone() for r in (dataset.responses[2][extra], dataset.responses[5][extra])]
    dataset.smooth_responses(window_ms=21.0)  # sentinels stay; the rest is smoothed (again)
    assert torch.isnan(dataset.responses[2][extra]).all() and not torch.equal(dataset.responses[5][extra], before[1])
    quality = dataset.compute_neuron_quality(max_ccmax_iters=4)
    assert quality["snr"].shape == (3,) and "ccmax" in dataset.nrn_meta[0]
    dataset.select_pop_by_nrn_attr("cell_id", dataset.nrn_meta[extra]["cell_id"])
    dataset.select_stims([2, 5])
    assert len(dataset) == 1 and dataset[0]["stim_meta"]["name"] == "nat06"
    both = NS1Dataset(path, units=[0]) + NS1Dataset(path, units=[extra])
    assert both.N_neurons == 2 and len(both.stims) == 40 and both.F == 34


@pytest.mark.parametrize("return_waveform", [False, True])
def test_another_step(sample_native, return_waveform):
    dataset = NS1Dataset(sample_native, dt_ms=10, return_waveform=return_waveform, units=[1, 2])
    assert dataset.dt == 10.0 and dataset.responses[0][0].shape == (20, 499)
    expected = (1, 499 * 480) if return_waveform else (1, 34, 499)
    assert all(tuple(s.shape) == expected for s in dataset.stims)


def test_bad_input_names_the_file(sample_48k_nwb, sample_native):
    with pytest.raises(NwbContentError, match="without --audio-rate"):
        NS1Dataset(sample_48k_nwb, return_waveform=True)
    with pytest.raises(ValueError, match="220.5 samples") as caught:
        NS1Dataset(sample_native, return_waveform=True, audio_fs=44100)
    assert str(caught.value).startswith(str(sample_native))
    with pytest.raises(KeyError, match="no unit named"):
        NS1Dataset(sample_native, units=["nope"])
    with pytest.raises(ValueError, match="dt_ms=2.5"):
        NS1Dataset(sample_native, dt_ms=2.5)
