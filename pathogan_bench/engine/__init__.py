"""The engine: plans, prepares, trains, segments, scores and reports a run.

One job per module: :mod:`.plan` (names, options, device, supervision and
loss set decided once), :mod:`.prepare` (data and splits), :mod:`.batches`
(training batches by supervision kind), :mod:`.build` (the model),
:mod:`.trainer` with :mod:`.loss_log`, :mod:`.training_bar` and
:mod:`.interrupts` (the loop), :mod:`.checkpoint`, :mod:`.infer`
(calibration and probability maps), :mod:`.run_figures` (the run's
Fig. 2 slices), :mod:`.segment_volumes` (whole NIfTI volumes for
``segment``), :mod:`.facts` and :mod:`.rundir` (what a run directory
holds), :mod:`.reload` (a trained model back from disk) and :mod:`.run`
(orchestration only).
"""

from .infer import Predictions, predict
from .plan import RunPlan, plan_run
from .prepare import PreparedData, prepare_data, split_indices
from .reload import load_trained_model
from .run import RunResult, run

__all__ = [
    "PreparedData",
    "Predictions",
    "RunPlan",
    "RunResult",
    "load_trained_model",
    "plan_run",
    "predict",
    "prepare_data",
    "run",
    "split_indices",
]
