"""Independent random streams of one run, all derived from its seed.

``numpy.random.SeedSequence`` hashes (seed, stream index) into unrelated states, so no
stream of seed s equals any stream of seed s' (the old ``seed + k`` offsets made seed
s's noise equal seed s+1's initialisation). Metric sampling is not among them: every
trial is scored on the same evaluation sample (``TrainConfig.eval_seed``, common random
numbers), so differences between trials are not confounded by which images were drawn.
"""

from __future__ import annotations

import numpy as np

#: the run's streams, in spawn order (append only: reordering changes every run's numbers)
STREAMS = ("init", "data", "noise", "display")


def stream_seeds(seed: int) -> dict[str, int]:
    """A 63-bit seed per stream (fits ``torch.manual_seed`` and numpy generators)."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {
        name: int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
        for name, child in zip(STREAMS, children, strict=True)
    }
