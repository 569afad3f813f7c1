"""Stimulus templates (waveforms and spectrograms of the natural sounds) and the 32-row stimuli table."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from ..cochleagram import COCHLEAGRAM_RECIPE, DEFAULT_FLOOR_DB, cochleagram, cochleagram_bands, resample_waveform
from ..constants import (N_NATURAL, SPECTROGRAM_RATE_HZ, STIMULI, TEST_STIMULI, WAV_HEADER_RATE_HZ,
                         WAV_TRUE_RATE_HZ)
from .columns import STIMULI_MODULE, STIMULI_TABLE, column_data, compressed, described, specs_of, vector
from .context import BuildContext

if TYPE_CHECKING:
    from pynwb import NWBFile

__all__ = ["add_stimuli_to_nwbfile"]

#: Frame step of the stored spectrograms (the published 5-ms grid).
SPECTROGRAM_DT_MS = 5.0


def _computed_source() -> str:
    """What a computed spectrogram's description says about where its numbers come from."""
    hop = round(SPECTROGRAM_DT_MS / 1000.0 * WAV_HEADER_RATE_HZ)
    return (f"computed from the wav's native samples, as the authors read it: "
            f"{COCHLEAGRAM_RECIPE} Values in dB re 1: 20*log10 of the filter-bank-weighted FFT magnitude of "
            f"the samples in pascals, floored at {DEFAULT_FLOOR_DB:g} dB. Frame n covers samples "
            f"[n*h, n*h+2h) with h={hop} at {WAV_HEADER_RATE_HZ} Hz, so frames are "
            f"{hop / WAV_TRUE_RATE_HZ * 1000:.3f} ms apart on the true {WAV_TRUE_RATE_HZ} Hz clock "
            f"(the series' rate, {SPECTROGRAM_RATE_HZ:g} Hz, is the nominal step); frame n is aligned to response "
            f"bin n")


def add_stimuli_to_nwbfile(nwbfile: "NWBFile", ctx: BuildContext) -> dict[int, Any]:
    """Waveform and spectrogram templates of the natural sounds, and the 32-row stimuli table.

    Returns
    -------
    dict
        stimulus index -> the template a trial of that sound references.
    """
    from hdmf.common import DynamicTable, ElementIdentifiers
    from ndx_sound import AcousticWaveformSeries
    from pynwb.misc import DecompositionSeries, FrequencyBandsTable

    release, cache = ctx.release, ctx.stimulus_cache  # derived arrays: once per run (shared by a --dandi run's files)
    # The published recipe's bands, also for a verbatim X_nfht (the authors made it with this filter bank).
    centres, edges = cochleagram_bands()
    templates: dict[int, Any] = {}
    waveform_names: dict[int, str] = {}
    spectrogram_names: dict[int, str] = {}
    for info in STIMULI[:N_NATURAL]:
        wav = release.wavs.get(info.index)
        waveform = None
        if wav is not None:
            if ctx.audio_rate_hz is None:
                samples, rate, how = wav.samples, WAV_TRUE_RATE_HZ, "the original float32 samples, bit-exact"
            else:
                if ("waveform", info.index) not in cache:
                    cache[("waveform", info.index)] = resample_waveform(wav.samples, ctx.audio_rate_hz)
                samples = cache[("waveform", info.index)]
                rate = ctx.audio_rate_hz
                how = (f"resampled from the true 48828.125 Hz to {rate:g} Hz with scipy.signal.resample_poly")
            waveform = AcousticWaveformSeries(
                name=f"{info.name}_waveform",
                data=compressed(samples, chunks=(min(samples.size, 65536),)),
                rate=float(rate),
                starting_time=0.0,
                description=(f"Natural sound {info.name} ({info.category}), wav {info.wav_name}: {how}. "
                             "Amplitude inferred to be in pascals, as the release does not state the unit: "
                             f"94 + 20 log10(rms) gives the nominal level, {info.nominal_level_db_spl:g} dB SPL, "
                             "within 0.0001 dB for every wav of the release; t = 0 is sound onset."),
            )
            nwbfile.add_stimulus_template(waveform)
            waveform_names[info.index] = waveform.name
            templates[info.index] = waveform
        if release.spectrogram_x_nfht is not None:
            spectrogram = release.spectrogram_x_nfht[info.index, :, 0, :].T  # (time, band), stored verbatim
            file_name = release.spectrogram_file.name  # type: ignore[union-attr]
            source = (f"X_nfht of {file_name}, verbatim (float64): the authors' published 'spec-log' cochleagram "
                      "(Rahman et al., PLoS Comput Biol 2019; PNAS 2020), dB re 1, frame n aligned to response "
                      "bin n")
        elif wav is not None:
            if ("spectrogram", info.index) not in cache:
                # Native samples at the header rate MATLAB's audioread reports: the published numbers.
                cache[("spectrogram", info.index)] = cochleagram(wav.samples, WAV_HEADER_RATE_HZ, SPECTROGRAM_DT_MS).T
            spectrogram = cache[("spectrogram", info.index)]
            source = _computed_source()
        else:
            continue
        bands = FrequencyBandsTable(
            id=ElementIdentifiers(name="id", data=np.arange(len(centres))),
            columns=[vector("band_name", "Band centre as text.", [f"{c:.0f} Hz" for c in centres]),
                     vector("band_limits", "Lower and upper foot of the band's triangular filter (in log10 "
                            "frequency; the neighbouring band centres), Hz. The top band's upper foot lies above "
                            "the Nyquist frequency and is cut there.", edges),
                     vector("band_mean", "Centre frequency of the band (the filter's peak), Hz.", centres)])
        with warnings.catch_warnings():
            # A resampled file's spectrogram has no source series on purpose (see source_timeseries below).
            warnings.filterwarnings("ignore", message="Neither source_timeseries nor source_channels")
            series = DecompositionSeries(
                name=f"{info.name}_spectrogram",
                bands=bands,
                data=compressed(np.ascontiguousarray(spectrogram[:, None, :])),
                metric="amplitude",  # 20*log10 of a weighted FFT magnitude, not of power
                unit="dB",
                rate=SPECTROGRAM_RATE_HZ,
                starting_time=0.0,
                # Linked only to the samples it was computed from: the native ones (X_nfht too: the recipe on
                # them reproduces it), not a resampled series.
                source_timeseries=waveform if ctx.audio_rate_hz is None else None,
                description=(f"34-band cochleagram of {info.name} in dB, 5-ms frames (frame n goes with response "
                             f"bin n, [5n, 5n+5) ms after onset), triangular bands with centres 1/6 octave apart from "
                             f"500 Hz (see the bands table); source: {source}."),
            )
        nwbfile.add_stimulus_template(series)
        spectrogram_names[info.index] = series.name
        templates.setdefault(info.index, series)

    specs = specs_of("stimuli")
    table = DynamicTable(name=STIMULI_TABLE, description=(
        "The 32 NS1 sounds in the set order of the raw spike files (row = stimulus index): 0-19 natural sounds "
        "(20 repeats per block), 20-31 dynamic random chords (5 repeats, no released wav)."))
    values = {
        "stimulus_name": [s.name for s in STIMULI],
        "stimulus_type": [s.stimulus_type for s in STIMULI],
        "sound_category": [s.category for s in STIMULI],
        "wav_name": [s.wav_name for s in STIMULI],
        "n_repeats": [s.n_repeats for s in STIMULI],
        "nominal_level_db_spl": [s.nominal_level_db_spl for s in STIMULI],
        "has_waveform": [s.index in waveform_names for s in STIMULI],
        "is_test_stimulus": [s.index in TEST_STIMULI for s in STIMULI],
        "waveform_series": [waveform_names.get(s.index, "") for s in STIMULI],
        "spectrogram_series": [spectrogram_names.get(s.index, "") for s in STIMULI],
    }
    table.id.extend(range(len(STIMULI)))
    for name, column in values.items():
        table.add_column(name=name, description=described(specs[name]),
                         data=column_data(column, specs[name]["dtype"]))
    module = nwbfile.create_processing_module(STIMULI_MODULE, "Facts about the 32 NS1 stimuli.")
    module.add(table)
    return templates

