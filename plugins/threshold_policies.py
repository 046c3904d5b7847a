"""Built-in threshold policies (pathogan_bench.contracts.threshold_policy), registered like any plugin's.

- ``model``: the model's own label-free rule (its calibrated map at its
  threshold: 0.5, or fitted after training by its ``threshold_rule``): the
  default, what Table 1 reports;
- ``fpr:Q``: the threshold at which Q % of the healthy brain pixels of the
  validation patients (of the training patients when there is no validation
  split) are flagged; healthy pixels are the brain pixels of their healthy
  slices, so only slice labels are read (Behrendt et al. 2023, Frotscher et
  al. 2025);
- ``fixed:T``: the same threshold T for every map (``fixed:0.5``: a
  probability map's natural cut, the rule of most supervised segmenters);
- ``val-dice``: the threshold of the best pooled Dice on the brain pixels of
  the validation patients: it reads their pixel labels;
- ``slice-labels``: the threshold whose masks (more than the paper's 20 of
  240 x 240 pixels) best tell the validation patients' pathological slices
  from their healthy ones: only slice labels are read, as weak supervision
  allows; PathoGAN's own rule;
- ``otsu``: per slice, Otsu's threshold of the map over that slice's brain
  pixels (Wolleb et al. 2022), exact on the distinct values (no 256-bin
  histogram);
- ``oracle``: the best pooled Dice on the scored patients themselves,
  optimistic by construction (Meissen et al. 2021, Lagogiannis et al. 2024).
"""

from __future__ import annotations

import math

import numpy as np

from pathogan_bench.plugin import HEALTHY, PATHOLOGICAL, PolicyData, Spec, hookimpl, threshold_free


class ModelPolicy:
    """The model's own label-free rule: its calibrated probability map at its threshold (0.5)."""

    label = "model"
    optimistic = False
    #: whether it reads maps of the validation (or training) patients
    needs_calibration = False

    def looks_at(self, data: PolicyData) -> str:
        return "the model's own rule, fitted without pixel labels (how: the report's first lines)"

    def thresholds(self, data: PolicyData) -> float:
        return float(data.model_threshold)


def fpr_threshold(values: np.ndarray, fraction: float) -> float:
    """The lowest threshold t with at most ``fraction`` of ``values`` >= t (exactly that fraction without ties).

    With n values, at most floor(fraction n) are flagged; above the largest value nothing is (t = +inf).
    """
    values = np.sort(np.asarray(values, dtype=np.float64).ravel())[::-1]
    if not len(values):
        return math.nan
    k = int(math.floor(fraction * len(values) + 1e-9))
    if k <= 0:
        return float(np.nextafter(values[0], np.inf))
    if k >= len(values):
        return float(values[-1])
    # flag the k largest: the threshold is the k-th largest unless ties with the (k+1)-th would flag more
    t = values[k - 1]
    if values[k] == t:
        return float(np.nextafter(t, np.inf))  # flag only what is strictly above the tie
    return float(t)


def _argument(text: str | None, default: float, expected: str) -> float:
    """The finite number after a policy's colon (``default`` without one)."""
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected {expected}, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"expected {expected}, got {text!r}")
    return value


class FalsePositiveRatePolicy:
    """The threshold flagging a stated fraction of the healthy brain pixels of the validation patients."""

    optimistic = False
    #: whether it reads maps of the validation (or training) patients
    needs_calibration = True

    def __init__(self, percent: str | None = None):
        self.percent = _argument(percent, 5.0, "a percentage, e.g. fpr:1")
        if not 0 < self.percent < 100:
            raise ValueError(f"the false-positive rate must lie in (0, 100) %, got {self.percent:g}")
        self.label = f"fpr:{self.percent:g}"

    def looks_at(self, data: PolicyData) -> str:
        return (
            f"{self.percent:g} % of the healthy-slice brain pixels of the {data.calibration_patients} patients "
            "flagged (slice labels only)"
        )

    def thresholds(self, data: PolicyData) -> float:
        cal = data.calibration
        if cal is None:
            return math.nan
        healthy = cal.brain & (cal.domain == HEALTHY)[:, None, None]
        return fpr_threshold(cal.prob[healthy], self.percent / 100.0)


class FixedPolicy:
    """One stated threshold for every map (no data read)."""

    optimistic = False
    #: whether it reads maps of the validation (or training) patients
    needs_calibration = False

    def __init__(self, value: str | None = None):
        self.value = _argument(value, 0.5, "a threshold, e.g. fixed:0.5")
        self.label = f"fixed:{self.value:g}"

    def looks_at(self, data: PolicyData) -> str:
        return f"nothing: the same threshold {self.value:g} for every map"

    def thresholds(self, data: PolicyData) -> float:
        return self.value


class ValidationDicePolicy:
    """The threshold of the best pooled Dice on the validation patients' brain pixels (reads their pixel labels)."""

    label = "val-dice"
    optimistic = False
    #: whether it reads maps of the validation (or training) patients
    needs_calibration = True

    def looks_at(self, data: PolicyData) -> str:
        return f"best Dice on the {data.calibration_patients} patients: their pixel labels"

    def thresholds(self, data: PolicyData) -> float:
        cal = data.calibration
        if cal is None or not cal.ref.any():
            return math.nan
        return float(threshold_free(cal.prob, cal.ref, cal.brain).best_threshold)


#: the paper's rule for a pathological slice (more than 20 lesion pixels of a 240 x 240 slice), as an area fraction
PATHOLOGICAL_AREA = 20 / 240**2


def slice_label_threshold(prob: np.ndarray, brain: np.ndarray, domain: np.ndarray) -> tuple[float, float]:
    """The threshold whose masks best tell pathological slices from healthy ones, and its balanced accuracy.

    A slice is flagged when its mask (``prob >= t`` in the brain) has more pixels than the paper's
    pathological-slice rule (20 of 240 x 240, scaled to the slice's area): flagged iff its (m+1)-th largest brain
    probability is >= t. Of those per-slice scores, the one maximising balanced accuracy (Youden's J) over the
    healthy and pathological slices is the threshold (among equals, the middle of their range). NaN without both
    kinds of slices.
    """
    healthy, pathological = domain == HEALTHY, domain == PATHOLOGICAL
    if not healthy.any() or not pathological.any():
        return math.nan, math.nan
    m = max(1, round(PATHOLOGICAL_AREA * prob.shape[-2] * prob.shape[-1]))
    inside = np.where(brain, prob, -np.inf).reshape(len(prob), -1)
    scores = -np.partition(-inside, m, axis=1)[:, m] if inside.shape[1] > m else np.full(len(prob), -np.inf)
    keep = healthy | pathological
    scores, positive = scores[keep], pathological[keep]
    candidates = np.unique(scores[np.isfinite(scores)])[::-1]
    if not len(candidates):
        return math.nan, math.nan
    flagged = scores[None, :] >= candidates[:, None]
    tpr = (flagged & positive).sum(1) / positive.sum()
    tnr = (~flagged & ~positive).sum(1) / (~positive).sum()
    balanced = (tpr + tnr) / 2
    tied = candidates[np.isclose(balanced, balanced.max(), rtol=0, atol=1e-12)]
    # every threshold between the lowest and the highest tied score flags the same slices: the middle of that range
    # moves least with the next patient
    return float((tied.min() + tied.max()) / 2), float(balanced.max())


class SliceLabelPolicy:
    """The threshold whose masks best separate the validation patients' pathological slices from their healthy ones:
    what weak supervision may read (slice labels, no pixel label)."""

    label = "slice-labels"
    optimistic = False
    #: whether it reads maps of the validation (or training) patients
    needs_calibration = True

    def looks_at(self, data: PolicyData) -> str:
        return (
            f"the slice labels of the {data.calibration_patients} patients: masks flag their pathological slices and "
            "leave their healthy ones empty (best balanced accuracy)"
        )

    def thresholds(self, data: PolicyData) -> float:
        cal = data.calibration
        if cal is None:
            return math.nan
        return slice_label_threshold(cal.prob, cal.brain, cal.domain)[0]


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold of ``values``: the t maximising the between-class variance of {v < t} and {v >= t}.

    Exact over the distinct values (t is one of them; the first maximum, i.e. the lowest t among equals).
    NaN with fewer than two distinct values.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    distinct, counts = np.unique(values, return_counts=True)
    if len(distinct) < 2:
        return math.nan
    weights = counts.astype(np.float64)
    below_n = np.cumsum(weights)[:-1]  # classes {v < distinct[i+1]}
    below_sum = np.cumsum(weights * distinct)[:-1]
    total_n, total_sum = weights.sum(), float(np.dot(weights, distinct))
    above_n = total_n - below_n
    mean_below = below_sum / below_n
    mean_above = (total_sum - below_sum) / above_n
    between = below_n * above_n * (mean_below - mean_above) ** 2
    return float(distinct[int(np.argmax(between)) + 1])


class OtsuPolicy:
    """Per slice, Otsu's threshold of the map over the slice's brain pixels (no label read)."""

    label = "otsu"
    optimistic = False
    #: whether it reads maps of the validation (or training) patients
    needs_calibration = False

    def looks_at(self, data: PolicyData) -> str:
        return "each scored slice's own map (no labels)"

    def thresholds(self, data: PolicyData) -> np.ndarray:
        scored = data.scored
        out = np.full(len(scored), np.inf)
        for i in range(len(scored)):
            t = otsu_threshold(scored.prob[i][scored.brain[i]])
            if not math.isnan(t):
                out[i] = t
        return out


class OraclePolicy:
    """The best pooled Dice on the scored patients themselves: optimistic, an upper bound."""

    label = "oracle"
    optimistic = True
    #: whether it reads maps of the validation (or training) patients
    needs_calibration = False

    def looks_at(self, data: PolicyData) -> str:
        return "best Dice on the scored patients: their pixel labels (optimistic)"

    def thresholds(self, data: PolicyData) -> float:
        scored = data.scored
        return float(threshold_free(scored.prob, scored.ref, scored.brain).best_threshold)


@hookimpl
def register_threshold_policies() -> list[Spec]:
    return [
        Spec("model", ModelPolicy, "the model's own label-free rule: its calibrated map at its threshold"),
        Spec(
            "fpr",
            FalsePositiveRatePolicy,
            "fpr:Q: the threshold flagging Q % of the validation patients' healthy-slice brain pixels",
        ),
        Spec("fixed", FixedPolicy, "fixed:T: the same threshold T for every map (default 0.5)"),
        Spec("val-dice", ValidationDicePolicy, "best pooled Dice on the validation patients (reads their labels)"),
        Spec(
            "slice-labels",
            SliceLabelPolicy,
            "the threshold whose masks best separate the validation patients' pathological and healthy slices",
        ),
        Spec("otsu", OtsuPolicy, "per slice, Otsu's threshold of the map over the brain"),
        Spec("oracle", OraclePolicy, "best pooled Dice on the scored patients themselves (optimistic)"),
    ]
