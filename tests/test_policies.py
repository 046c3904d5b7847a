"""Threshold policies, post-processing steps, lesion-wise scores and map metrics, each against a hand-computed case
or scipy; a plugin of each kind appears in the run and comparison tables."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import ndimage

from pathogan_bench.comparison.runs import ComparedRun, load_run
from pathogan_bench.comparison.tables import tabulate_runs
from pathogan_bench.contracts.metric import MetricFacts
from pathogan_bench.contracts.postprocess import Volume
from pathogan_bench.contracts.threshold_policy import MapSet, PolicyData
from pathogan_bench.data.slices import HEALTHY, PATHOLOGICAL
from pathogan_bench.errors import ContractError, UserError
from pathogan_bench.evaluation import plan_scoring, score_and_report
from pathogan_bench.evaluation.scoring_plan import create_with_argument
from pathogan_bench.metrics.lesionwise import HD95_PENALTY, lesion_wise, size_stratum
from pathogan_bench.plugin import hookimpl
from pathogan_bench.record.facts import RunFacts
from pathogan_bench.record.summary import Summary
from pathogan_bench.registry import Registry, Spec, get_registry, make_plugin_manager
from pathogan_bench.utils.io import write_json
from pathogan_bench_plugins.postprocess import ErodeBrain, MedianFilter, MinComponent
from pathogan_bench_plugins.threshold_policies import (
    FalsePositiveRatePolicy,
    ModelPolicy,
    OraclePolicy,
    OtsuPolicy,
    ValidationDicePolicy,
    fpr_threshold,
    otsu_threshold,
)


def create_steps(registry, names):
    return [create_with_argument(registry, "postprocess", name) for name in names]


RNG = np.random.default_rng(0)


def map_set(prob, ref=None, domain=None, brain=None) -> MapSet:
    prob = np.asarray(prob, dtype=np.float32)
    return MapSet(
        prob,
        np.zeros(prob.shape, bool) if ref is None else ref,
        np.ones(prob.shape, bool) if brain is None else brain,
        np.full(len(prob), HEALTHY, np.int8) if domain is None else domain,
    )


# -- policies -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("percent", [1, 5, 12.5])
def test_fpr_policy_flags_exactly_the_stated_fraction_of_healthy_brain_pixels(percent):
    prob = (RNG.permutation(4000).reshape(10, 20, 20) / 4000.0).astype(np.float32)  # distinct values
    brain = np.ones(prob.shape, bool)
    brain[:, :2] = False  # 3600 brain pixels
    domain = np.array([HEALTHY] * 8 + [PATHOLOGICAL] * 2, np.int8)  # pathological slices are not looked at
    cal = map_set(prob, domain=domain, brain=brain)
    data = PolicyData(0.5, map_set(prob[:1]), cal, "validation")
    t = FalsePositiveRatePolicy(str(percent)).thresholds(data)
    healthy = prob[:8][brain[:8]]
    assert np.count_nonzero(healthy >= t) == math.floor(percent / 100 * healthy.size)
    assert "validation" in FalsePositiveRatePolicy(str(percent)).looks_at(data)


def test_fpr_threshold_never_flags_more_than_the_fraction_with_ties():
    values = np.array([0.9, 0.5, 0.5, 0.5, 0.1] * 20)
    for fraction in (0.01, 0.2, 0.5, 0.99):
        assert np.count_nonzero(values >= fpr_threshold(values, fraction)) <= fraction * len(values)


def test_fpr_policy_without_calibration_maps_is_nan_and_refuses_bad_rates():
    assert math.isnan(FalsePositiveRatePolicy("1").thresholds(PolicyData(0.5, map_set(np.zeros((1, 2, 2))))))
    for bad in ("150", "0", "high", "nan"):
        with pytest.raises(ValueError, match="fpr|false-positive"):
            FalsePositiveRatePolicy(bad)


def brute_force_otsu(values: np.ndarray) -> float:
    best, best_t = -1.0, math.nan
    for t in np.unique(values)[1:]:
        low, high = values[values < t], values[values >= t]
        between = len(low) * len(high) * (low.mean() - high.mean()) ** 2
        if between > best:
            best, best_t = between, t
    return float(best_t)


@pytest.mark.parametrize("seed", range(5))
def test_otsu_equals_a_brute_force_otsu(seed):
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.normal(0.2, 0.05, 300), rng.normal(0.7, 0.1, 80)]).clip(0, 1).round(3)
    assert otsu_threshold(values) == brute_force_otsu(values)


def test_otsu_policy_thresholds_each_slice_over_its_brain_pixels():
    prob = np.zeros((2, 4, 4), np.float32)
    prob[0, :2] = 0.8
    prob[1, 0, 0] = 0.3
    brain = np.ones(prob.shape, bool)
    brain[1, 0, 0] = False  # slice 1 has one value in the brain: no threshold, nothing flagged
    t = OtsuPolicy().thresholds(PolicyData(0.5, map_set(prob, brain=brain)))
    assert t[0] == pytest.approx(0.8) and np.isinf(t[1])


def test_model_val_dice_and_oracle_policies_read_what_they_state():
    ref = np.zeros((1, 4, 4), bool)
    ref[0, 0] = True
    prob = np.where(ref, 0.7, 0.2).astype(np.float32)
    prob[0, 1, 0] = 0.9  # one false positive above every lesion pixel
    scored = map_set(prob, ref, np.array([PATHOLOGICAL], np.int8))
    cal_prob = np.where(ref, 0.4, 0.1).astype(np.float32)
    data = PolicyData(0.5, scored, map_set(cal_prob, ref, np.array([PATHOLOGICAL], np.int8)))
    assert ModelPolicy().thresholds(data) == 0.5
    assert ValidationDicePolicy().thresholds(data) == pytest.approx(0.4)  # separates the validation lesion
    assert OraclePolicy().thresholds(data) == pytest.approx(0.7)  # 2·4/(5+4) beats 2·1/(1+4)
    assert OraclePolicy.optimistic and not ValidationDicePolicy.optimistic


# -- post-processing ------------------------------------------------------------------------------------------------
def volume(shape=(6, 16, 16)) -> Volume:
    brain = np.zeros(shape, bool)
    brain[:, 2:14, 3:13] = True
    return Volume(brain, (1.0, 1.0, 2.0))


def test_median_step_is_scipys_median_filter_inside_the_brain():
    vol = volume()
    prob = RNG.random(vol.brain.shape).astype(np.float32) * vol.brain
    expected = np.where(vol.brain, ndimage.median_filter(prob, size=5, mode="reflect"), 0)
    assert np.array_equal(MedianFilter("5")(prob, vol), expected)


def test_erode_step_keeps_the_map_inside_scipys_in_plane_erosion():
    vol = volume()
    prob = np.ones(vol.brain.shape, np.float32)
    out = ErodeBrain("2")(prob, vol)
    expected = np.stack(
        [ndimage.binary_erosion(b, ndimage.generate_binary_structure(2, 1), iterations=2) for b in vol.brain]
    )
    assert np.array_equal(out > 0, expected)


@pytest.mark.parametrize("size", ["4", "0.008ml"])  # 0.008 ml = 4 voxels of 2 mm³
def test_min_component_step_removes_scipys_26_connected_components_below_the_size(size):
    vol = volume()
    mask = RNG.random(vol.brain.shape) > 0.8
    labels, n = ndimage.label(mask, ndimage.generate_binary_structure(3, 3))
    sizes = np.bincount(labels.ravel())
    expected = np.isin(labels, [k for k in range(1, n + 1) if sizes[k] >= 4])
    assert np.array_equal(MinComponent(size)(mask, vol), expected)


def test_steps_compose_by_name_and_bad_ones_fail_early():
    steps = create_steps(get_registry(), ["median:3", "min-component:0.1ml", "erode-brain"])
    assert [s.label for s in steps] == ["median:3", "min-component:0.1ml", "erode-brain:3"]
    for bad in ("median:x", "min-component:-1", "no-such-step"):
        with pytest.raises(UserError):
            create_steps(get_registry(), [bad])


# -- lesion-wise --------------------------------------------------------------------------------------------------
def cube(shape, z, y, x, side) -> np.ndarray:
    out = np.zeros(shape, bool)
    out[z : z + side, y : y + side, x : x + side] = True
    return out


def test_lesion_wise_scores_a_hand_computed_case():
    shape = (30, 40, 40)
    big = cube(shape, 2, 2, 2, 5)  # 125 voxels
    near = cube(shape, 2, 9, 2, 2)  # 2 voxels from big: merged with it by the 3-voxel dilation
    small = cube(shape, 20, 30, 30, 3)  # 27 voxels: at most 50 mm³, left out of the averages
    ref = big | near | small
    pred = cube(shape, 2, 2, 2, 5) | cube(shape, 20, 2, 30, 2)  # big found exactly; one false positive
    scores = lesion_wise(pred, ref, (1.0, 1.0, 1.0))
    merged = big | near
    dice = 2 * 125 / (125 + merged.sum())
    assert (scores.tp, scores.fn, scores.fp) == (1, 0, 1)
    assert scores.dice == pytest.approx(dice / 2)
    assert scores.hd95 == pytest.approx((scores.lesions[0].hd95 + HD95_PENALTY) / 2)
    assert [round(lesion.volume_ml, 3) for lesion in scores.lesions] == [0.133, 0.027]
    assert not scores.lesions[1].counted and scores.sensitivity == 1 and scores.precision == 0.5


def test_lesion_wise_empty_cases_follow_the_challenge():
    empty = np.zeros((5, 8, 8), bool)
    assert (lesion_wise(empty, empty).dice, lesion_wise(empty, empty).hd95) == (1.0, 0.0)
    fp = lesion_wise(cube(empty.shape, 0, 0, 0, 2), empty)
    assert (fp.dice, fp.hd95, fp.fp) == (0.0, HD95_PENALTY, 1)
    missed = lesion_wise(empty, cube(empty.shape, 0, 0, 0, 4))
    assert (missed.dice, missed.hd95, missed.fn) == (0.0, HD95_PENALTY, 1)


def test_lesion_wise_matches_panoptica_on_separated_lesions():
    """Values of panoptica 2.1.7 (the BraTS evaluation's GLI configuration) on this case: per matched lesion, Dice
    0.6052631578947368 and HD95 2.0; 1 true positive, 2 false positives, 1 missed lesion."""
    shape = (24, 48, 48)
    ref = cube(shape, 2, 2, 2, 6) | cube(shape, 14, 30, 30, 5)
    pred = cube(shape, 3, 3, 2, 6) | cube(shape, 14, 2, 30, 4) | cube(shape, 2, 30, 2, 4)
    scores = lesion_wise(pred, ref, (1.0, 1.0, 1.0))
    matched = scores.lesions[0]
    expected_dice = 2 * 5 * 5 * 6 / (216 + 216)
    assert (scores.tp, scores.fp, scores.fn) == (1, 2, 1)
    assert matched.dice == pytest.approx(expected_dice)
    assert size_stratum(0.216) == "< 1 ml" and size_stratum(5) == "1-10 ml" and size_stratum(50) == ">= 10 ml"


# -- map metrics and plugins in the tables ------------------------------------------------------------------------
class TablePlugin:
    """A policy, a post-processing step and a map metric from outside the package."""

    class Half:
        label, optimistic, needs_calibration = "half", False, False

        def looks_at(self, data):
            return "nothing: a fixed 0.25"

        def thresholds(self, data):
            return 0.25

    class Zero:
        stage, label = "map", "zero-edges"

        def __call__(self, array, volume):
            out = array.copy()
            out[..., :1] = 0
            return out

    class MeanProb:
        name, input, level, unit, label, higher_is_better = "mean_prob", "map", "split", "ml", "mean map", False
        description, note = "the mean of the map inside the brain", ""

        def __call__(self, prob, ref, valid=None):
            return float(np.asarray(prob, np.float64)[valid].mean())

    @staticmethod
    @hookimpl
    def register_threshold_policies():
        return [Spec("half", TablePlugin.Half)]

    @staticmethod
    @hookimpl
    def register_postprocess_steps():
        return [Spec("zero-edges", TablePlugin.Zero)]

    @staticmethod
    @hookimpl
    def register_metrics():
        return [Spec("mean_prob", TablePlugin.MeanProb)]


@pytest.fixture
def plugin_registry():
    pm, broken = make_plugin_manager(extra_plugins=[TablePlugin])
    return Registry(pm, broken)


def small_run(tmp_path, model: str, shift: int, registry: Registry):
    n, size = 8, 16
    mask = np.zeros((n, size, size), bool)
    mask[2:6, 5:10, 5:10] = True
    prob = np.roll(mask, shift, axis=2).astype(np.float16) * np.float16(0.9)
    domain = np.where(mask.reshape(n, -1).any(axis=1), PATHOLOGICAL, HEALTHY).astype(np.int8)
    arrays = {
        "prob": prob,
        "mask": mask,
        "patient": np.array(["p1"] * 4 + ["p2"] * 4),
        "z": np.array([0, 1, 2, 3] * 2),
        "split": np.array(["test"] * n),
        "threshold": np.asarray(0.5, np.float32),
        "domain": domain,
        "brain": np.ones(mask.shape, bool),
        "affine": np.repeat(np.diag([1.0, 1.0, 2.0, 1.0])[None], n, axis=0),
    }
    run_dir = tmp_path / model
    run_dir.mkdir()
    info = RunFacts(model=model, supervision="none", spacing=[1.0, 1.0])
    write_json(run_dir / "run.json", info.to_dict())
    np.savez(run_dir / "predictions.npz", **arrays)
    scoring = plan_scoring(
        registry,
        ["dice", "hd95", "mean_prob", "auroc"],
        policies=["model", "half", "otsu", "oracle"],
        postprocess=["zero-edges", "min-component:2"],
    )
    summary = score_and_report(arrays, info, scoring, run_dir)
    return run_dir, summary


def test_a_plugin_policy_step_and_map_metric_appear_in_run_and_comparison_tables(tmp_path, plugin_registry):
    run_dir, summary = small_run(tmp_path, "threshold", 0, plugin_registry)
    other, _ = small_run(tmp_path, "dae", 1, plugin_registry)
    facts = summary.metric_facts["mean_prob"]
    assert (facts.input, facts.unit, facts.higher_is_better) == ("map", "ml", False)
    assert summary.metrics == ["dice", "hd95"] and summary.map_metrics == ["mean_prob", "auroc"]
    report = (run_dir / "report.md").read_text()
    assert "mean map (ml)" in report and "AUROC (%)" in report
    assert "| half | zero-edges + min-component:2 |" in report and "nothing: a fixed 0.25" in report
    assert "oracle (optimistic)" in report
    rows = summary.policies["test"]
    assert len(rows) == 8 and rows[0]["slice_dice"]["mean"] == pytest.approx(1.0)
    runs = [load_run(ComparedRun(d.name, 0, 1.0, d, "none"), get_registry()) for d in (run_dir, other)]
    table = tabulate_runs(runs)
    markdown = table.markdown()
    assert "mean map (ml)" in table.header and "AUROC (%)" in table.header
    assert "| half |" in markdown and "3D Dice over threshold (points)" in markdown
    assert "mean_prob" in table.table.columns


def test_unknown_policy_or_bad_argument_fails_with_a_user_error():
    for bad in ("fpr:abc", "otsu:3", "no-such-policy"):
        with pytest.raises(UserError):
            plan_scoring(get_registry(), ["dice"], policies=[bad])


def test_a_policy_that_falls_short_of_its_contract_is_refused_naming_its_plugin():
    class NoCalibrationFact:
        label, optimistic = "lazy", False

        def looks_at(self, data):
            return ""

        def thresholds(self, data):
            return 0.5

    class Plugin:
        @staticmethod
        @hookimpl
        def register_threshold_policies():
            return [Spec("lazy", NoCalibrationFact)]

    registry = Registry(*make_plugin_manager(extra_plugins=[Plugin]))
    with pytest.raises(ContractError, match="threshold-policy 'lazy' from plugin .*no attribute 'needs_calibration'"):
        plan_scoring(registry, [], policies=["lazy"])


def test_metric_facts_travel_with_the_summary(tmp_path, plugin_registry):
    run_dir, summary = small_run(tmp_path, "threshold", 0, plugin_registry)
    stored = Summary.load(run_dir / "summary.json")  # read without the plugin's registry
    assert stored.metric_facts["mean_prob"] == MetricFacts("mean_prob", "map", False, "ml", "split", "mean map")
    assert stored.facts("mean_prob").column("mm") == "mean map (ml)"


def test_a_models_margin_is_over_the_threshold_scored_on_the_same_test_patients():
    from pathogan_bench.comparison.policy_tables import policy_frame

    def summary(model: str, fold: int, dice: float) -> Summary:
        run = RunFacts(model=model, data="/data", split_protocol=f"fold {fold} of 2", seeds={"split": 0})
        found = Summary(run, [], "default", "mm")
        found.policies = {"test": [{"policy": "model", "postprocess": "none", "dice_3d": dice, "slice_dice": dice}]}
        return found

    runs = [summary("threshold", 1, 0.50), summary("threshold", 2, 0.80), summary("pathogan", 2, 0.30)]
    frame = policy_frame(["t1", "t2", "p2"], runs, [r.model for r in runs])
    margins = dict(zip(frame["run"], frame["dice_3d_margin"]))
    assert margins["t1"] == pytest.approx(0) and margins["t2"] == pytest.approx(0)
    assert margins["p2"] == pytest.approx(-0.5)  # against fold 2's threshold, not fold 1's


def test_the_pooled_policy_table_averages_a_models_runs_and_their_paired_margins():
    from pathogan_bench.comparison.policy_tables import policy_comparison_markdown

    def summary(model: str, fold: int, seed: int, dice: float, fraction: float = 1.0) -> Summary:
        run = RunFacts(
            model=model,
            data="/data",
            split_protocol=f"fold {fold} of 2",
            seeds={"split": 0, "training": seed},
            label_fraction=fraction,
        )
        found = Summary(run, [], "default", "mm")
        found.policies = {
            "test": [
                {"policy": "model", "postprocess": "none", "dice_3d": dice, "slice_dice": dice},
                {"policy": "otsu", "postprocess": "none", "dice_3d": dice / 2, "slice_dice": dice / 2},
            ]
        }
        return found

    runs = [
        summary("threshold", 1, 0, 0.50),
        summary("threshold", 2, 0, 0.70),
        summary("dae", 1, 0, 0.60),  # +10 over fold 1's threshold
        summary("dae", 1, 1, 0.40),  # -10
        summary("dae", 2, 0, 0.90),  # +20 over fold 2's
        summary("unet", 1, 0, 0.20, fraction=0.5),
    ]
    groups = [r.model + (" (50% labels)" if r.run.label_fraction < 1 else "") for r in runs]
    text = policy_comparison_markdown([f"r{i}" for i in range(len(runs))], runs, groups)
    pooled = text.split("every run")[0]
    rows = {line.split(" | ")[0].strip("| "): line for line in pooled.splitlines() if line.startswith("| ")}
    assert "| threshold (reference) | 2 | 60.0 ± 14.1 | 30.0 ± 7.1 |" in pooled
    # dae: mean of 60, 40, 90; std over the three runs; margins +10, -10, +20 -> mean +6.7, ahead in 2 of 3
    assert "| dae | 3 | 63.3 ± 25.2 (+6.7, 2/3) | 31.7 ± 12.6 (+3.3, 2/3) |" in pooled
    assert "unet (50% labels)" in rows and "20.0 (-30.0, 0/1)" in rows["unet (50% labels)"]
    assert pooled.count("post-processing: none") == 2  # 3D Dice and slice Dice


def test_a_fixed_threshold_flags_the_same_pixels_whatever_the_data():
    from pathogan_bench_plugins.threshold_policies import FixedPolicy

    policy = FixedPolicy("0.3")
    assert policy.label == "fixed:0.3" and not policy.needs_calibration and not policy.optimistic
    assert policy.thresholds(None) == 0.3 and FixedPolicy().thresholds(None) == 0.5
    for bad in ("high", "nan", "inf"):
        with pytest.raises(ValueError, match="fixed"):
            FixedPolicy(bad)
    with pytest.raises(UserError):
        plan_scoring(get_registry(), ["dice"], policies=["fixed:x"])


def test_evaluate_rescores_a_finished_run_under_other_policies_without_touching_it(tmp_path):
    from conftest import invoke_cli
    from test_report import make_run

    run_dir = make_run(tmp_path / "run", model="threshold")
    first = invoke_cli("evaluate", str(run_dir))
    assert first.code == 0, first.output
    before = (run_dir / "summary.json").read_bytes()
    result = invoke_cli(
        "evaluate",
        str(run_dir),
        "--policies",
        "model,fixed:0.95",
        "--postprocess",
        "min-component:2",
        "--out",
        str(tmp_path / "again"),
    )
    assert result.code == 0, result.output
    rows = json.loads((tmp_path / "again" / "summary.json").read_text())["policies"]["test"]
    by_policy = {r["policy"]: r for r in rows if r["postprocess"] == "none"}
    assert set(by_policy) == {"model", "fixed:0.95"}
    assert {r["postprocess"] for r in rows} == {"none", "min-component:2"}
    assert by_policy["fixed:0.95"]["threshold"] == 0.95
    assert by_policy["fixed:0.95"]["dice_3d"]["mean"] == 0.0  # the maps hold 0.9: nothing reaches 0.95
    assert by_policy["model"]["dice_3d"]["mean"] > 0.5
    assert (run_dir / "summary.json").read_bytes() == before  # --out leaves the run's own scores alone
    bad = invoke_cli("evaluate", str(run_dir), "--policies", "no-such-rule", "--out", str(tmp_path / "bad"))
    assert bad.code != 0 and "no-such-rule" in bad.err and bad.err.count("\n") == 1
