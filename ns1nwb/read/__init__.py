"""Reading ns1nwb files back with h5py (a local file, a folder of per-session files or a URL).

- :mod:`.files`: one file, opened lazily and checked (old and new column names);
- :mod:`.sources`: what :func:`open` takes -> files (a folder must hold each recording once);
- :mod:`.remote`: a URL, with timeouts and one-line HTTP errors (remfile);
- :mod:`.selection`: checking the arguments (units, stimuli, windows);
- :mod:`.grid` and :mod:`.binning`: the seed's response-grid algorithm (binning and smoothing), in threads;
- :mod:`.recording`: :class:`Recording` and :func:`open`;
- :mod:`.stimuli`: the authors' cochleagram of a stored waveform, on the response grid.

Depends only on :mod:`ns1nwb.constants`, :mod:`ns1nwb.exceptions`, :mod:`ns1nwb.workers` and
:mod:`ns1nwb.cochleagram` (numpy only): a file is its own contract, so nothing of the writer is imported here.
"""

from .files import NwbFileHandle
from .grid import bin_spike_times, hanning_kernel
from .recording import Recording, open

__all__ = ["open", "Recording", "NwbFileHandle", "bin_spike_times", "hanning_kernel"]
