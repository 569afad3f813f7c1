"""Reading ns1nwb files back with h5py (a local file, a folder of per-session files or a URL).

- :mod:`.files`: what :func:`open` takes -> open, checked files (a folder must hold each recording once);
  each file read lazily;
- :mod:`.remote`: a URL, read by range requests with a deadline each, in few round trips;
- :mod:`.selection`: checking the arguments (units, stimuli, windows);
- :mod:`.grid`: the seed's response-grid algorithm (binning and smoothing), in numpy;
- :mod:`.recording`: :class:`Recording` and :func:`open`.

Depends only on :mod:`ns1nwb.constants`, :mod:`ns1nwb.exceptions` and :mod:`ns1nwb.cochleagram` (numpy
only): a file is its own contract, so nothing of the writer is imported here.
"""

from .files import NwbFileHandle
from .grid import bin_spike_times, hanning_kernel
from .recording import Recording, open

__all__ = ["open", "Recording", "NwbFileHandle", "bin_spike_times", "hanning_kernel"]
