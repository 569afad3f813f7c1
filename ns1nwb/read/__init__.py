"""Reading ns1nwb files back with h5py (a local file, a folder of per-session files or a URL).

- :mod:`.files`: what :func:`open` takes -> open, checked files (a folder must hold each recording once,
  hidden entries ignored); each file read lazily, every read turning what HDF5 raises into the damaged-file error;
- :mod:`.checks`: what opening checks (shapes before reading, ragged indices, each trial's key unique);
- :mod:`.remote`: a URL, read by range requests with a deadline each, in few round trips;
- :mod:`.selection`: checking the arguments (units, stimuli, windows; the grid's size against the memory);
- :mod:`.grid`: the seed's response-grid algorithm (binning and smoothing), in numpy;
- :mod:`.sounds`: the stimuli's stored spectrograms and waveforms, and cochleagrams on the grid;
- :mod:`.recording`: :class:`Recording` and :func:`open`.

Depends only on :mod:`ns1nwb.constants`, :mod:`ns1nwb.exceptions` and :mod:`ns1nwb.cochleagram` (numpy
only): a file is its own contract, so nothing of the writer is imported here.
"""

from .files import NwbFileHandle
from .grid import bin_spike_times, hanning_kernel
from .recording import Recording, open

__all__ = ["open", "Recording", "NwbFileHandle", "bin_spike_times", "hanning_kernel"]
