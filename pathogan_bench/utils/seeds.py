"""Independent random streams from one seed.

A run has one seed. Each random draw that must not shift when another one
changes (the order of each training set, each step's augmentation, ...)
mixes that seed with a stream id of its own, listed here.
"""

from __future__ import annotations

import numpy as np

#: the per-epoch order of the healthy training images
HEALTHY_ORDER_STREAM = 0
#: the per-epoch order of the pathological training images
PATHOLOGICAL_ORDER_STREAM = 1
#: the per-epoch order of the labelled training images (full supervision)
LABELLED_ORDER_STREAM = 2
#: the augmentation of each step's batch
AUGMENTATION_STREAM = 3
#: torch's global generator at each training step (dropout and noise drawn inside a model's train_step)
TRAIN_STEP_STREAM = 4
#: a synthetic subject's confounders, apart from its anatomy, tumour and noise (``default_rng([seed, subject, id])``)
SYNTHETIC_CONFOUNDER_STREAM = 1
#: the run's seed is multiplied by this before a process's rank is added, so that ranks draw different batches
RANK_SEED_STRIDE = 1009


def derive_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers, the same in every process."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] >> np.uint64(1))
