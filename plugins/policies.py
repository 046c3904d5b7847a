"""Built-in threshold policies and post-processing steps (:mod:`pathogan_bench.evaluation.policies`,
:mod:`pathogan_bench.evaluation.postprocess`), registered like any plugin's."""

from __future__ import annotations

from pathogan_bench.evaluation.policies import (
    FalsePositiveRatePolicy,
    ModelPolicy,
    OraclePolicy,
    OtsuPolicy,
    ValidationDicePolicy,
)
from pathogan_bench.evaluation.postprocess import ErodeBrain, MedianFilter, MinComponent
from pathogan_bench.hookspecs import hookimpl
from pathogan_bench.registry import Spec


@hookimpl
def register_threshold_policies():
    return [
        Spec("model", ModelPolicy, "the model's own label-free rule: its calibrated map at 0.5"),
        Spec(
            "fpr",
            FalsePositiveRatePolicy,
            "fpr:Q: the threshold flagging Q % of the validation patients' healthy-slice brain pixels",
        ),
        Spec("val-dice", ValidationDicePolicy, "best pooled Dice on the validation patients (reads their labels)"),
        Spec("otsu", OtsuPolicy, "per slice, Otsu's threshold of the map over the brain"),
        Spec("oracle", OraclePolicy, "best pooled Dice on the scored patients themselves (optimistic)"),
    ]


@hookimpl
def register_postprocess_steps():
    return [
        Spec("median", MedianFilter, "median:K: 3D median filter of the map, K x K x K voxels (default 5)"),
        Spec("erode-brain", ErodeBrain, "erode-brain:R: map set to 0 outside the brain eroded R pixels in-plane"),
        Spec(
            "min-component",
            MinComponent,
            "min-component:N or :Xml: remove 3D connected components below N voxels or X ml",
        ),
    ]
