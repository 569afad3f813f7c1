"""Facts about the NS1 release that every part of ns1nwb shares.

Everything here is read off the real release (see ``ns1_raw_format.md`` in the
project's reference material) or taken from the papers; nothing is computed.
"""

from __future__ import annotations

from dataclasses import dataclass

#: TDT acquisition rate; every raw spike time is a multiple of 1/SPIKE_CLOCK_HZ s.
SPIKE_CLOCK_HZ = 24414.0625
#: The true sample rate of the wavs (their RIFF header rounds it to 48828).
WAV_TRUE_RATE_HZ = 48828.125
WAV_HEADER_RATE_HZ = 48828

#: The response window of the published grids: 999 bins of 5 ms.
RESPONSE_WINDOW_MS = 4995
DEFAULT_DT_MS = 5.0
DEFAULT_WINDOW_MS = 21.0

#: The time axis of a file of several recording blocks (the pooled file): the blocks, recorded months apart,
#: laid end to end 60 s apart on one made-up axis, each keeping its exact internal timing. Its one name, in
#: ``convert``'s and ``info``'s output, the file's own descriptions and the docs.
POOLED_TIMELINE = "pooled timeline, not a real clock"

#: A sweep length to assume when a spike file does not carry ``length_signal_ms``.
DEFAULT_SWEEP_MS = 5200.0

N_NATURAL = 20
N_DRC = 12
N_STIMULI = N_NATURAL + N_DRC

METADATA_FILE = "MetadataSHEnCneurons.mat"
SPIKES_DIR = "spikesandwav"
WAV_DIR = "SH.En.C"
SPECTROGRAM_FILE = "test_data_5ms.mat"

#: Spectrogram recipe of Rahman et al. (2019): 34 bands at 1/6 octave from 500 Hz.
N_BANDS = 34
SPECTROGRAM_RATE_HZ = 200.0

#: The published train/test split (Rahman et al. 2020).
TEST_STIMULI = (3, 6, 9, 19)

# Sound categories the seed loader assigns; every other natural sound is "unknown".
_CATEGORIES = {0: "water_sounds", 3: "ferret_vocalization", 6: "insects_buzzing", 19: "water_sounds",
               8: "human_speech", 9: "human_speech", 10: "human_speech", 11: "human_speech"}


@dataclass(frozen=True)
class StimulusInfo:
    """One of the 32 sounds of the NS1 protocol, in the set order of every spike file."""

    index: int
    source: int
    fw_set: int
    stim_id: int
    token: int
    nominal_level_db_spl: float
    n_repeats: int

    @property
    def is_natural(self) -> bool:
        return self.index < N_NATURAL

    @property
    def stimulus_type(self) -> str:
        return "natural" if self.is_natural else "drc"

    @property
    def name(self) -> str:
        """``nat01``..``nat20`` (the seed's names) and ``drc01``..``drc12``."""
        if self.is_natural:
            return f"nat{self.index + 1:02d}"
        return f"drc{self.index - N_NATURAL + 1:02d}"

    @property
    def category(self) -> str:
        if not self.is_natural:
            return "dynamic_random_chord"
        return _CATEGORIES.get(self.index, "unknown")

    @property
    def wav_name(self) -> str:
        """File name of the sound under ``spikesandwav/SH.En.C/`` (DRC wavs are not released)."""
        return (f"source.{self.source}.sound.0.snr.0.token.{self.token}"
                f".fw.{self.fw_set}.frozen.{self.stim_id}")

    @property
    def key(self) -> tuple[int, int, int, int]:
        """What identifies the sound in a set's ``stim_params``."""
        return (self.source, self.fw_set, self.stim_id, self.token)


def _build_stimuli() -> tuple[StimulusInfo, ...]:
    stimuli = []
    for i in range(12):
        stimuli.append(StimulusInfo(i, 1, 2, i + 1, 0, 80.0, 20))
    for i in range(8):
        level = {0: 82.0, 6: 75.0}.get(i, 80.0)
        stimuli.append(StimulusInfo(12 + i, 2, 1, i + 1, 0, level, 20))
    for i in range(N_DRC):
        token, fw_set = divmod(i, 4)
        stimuli.append(StimulusInfo(20 + i, 9, 10 * (fw_set + 1), 0, token, 75.0, 5))
    return tuple(stimuli)


#: The 32 stimuli, indexed by set position (0-19 natural, 20-31 DRC).
STIMULI: tuple[StimulusInfo, ...] = _build_stimuli()
STIMULUS_BY_KEY = {s.key: s for s in STIMULI}
