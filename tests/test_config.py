from __future__ import annotations

import pytest

from pathogan_bench.config import PRESETS, RunConfig, build_config, load_toml, to_toml
from pathogan_bench.errors import UserError


def test_defaults_then_preset():
    config = build_config()
    assert isinstance(config, RunConfig)
    assert config.preset == "quick" and config.device == "cpu"  # auto on this CPU-only machine
    assert config.train.steps == PRESETS["quick"]["train"]["steps"]
    assert config.model == "pathogan" and config.loss_set == "full"


def test_auto_preset_is_paper_on_cuda(monkeypatch):
    import pathogan_bench.config.resolve as resolve

    monkeypatch.setattr(resolve, "resolve_device", lambda name: "cuda")
    config = build_config()
    assert config.preset == "paper" and config.train.epochs == 119 and config.model_options["width"] == 1.0
    assert config.device == "cuda"  # a resolved config names the device actually used


def test_file_overrides_preset_and_cli_overrides_file():
    file_values = {"seed": 3, "train": {"steps": 7, "batch_size": 2}, "model_options": {"width": 0.5}}
    cli = {"seed": 5, "train": {"steps": 9}}
    config = build_config(file_values, cli)
    assert config.seed == 5
    assert config.train.steps == 9
    assert config.train.batch_size == 2  # from the file, untouched by the CLI
    assert config.train.log_every == PRESETS["quick"]["train"]["log_every"]  # from the preset
    assert config.model_options == {"width": 0.5}


def test_preset_named_in_file():
    config = build_config({"preset": "paper"})
    assert config.preset == "paper" and config.train.steps == 0


def test_unknown_key_is_a_user_error_naming_the_source(tmp_path):
    with pytest.raises(UserError, match=r"cfg.toml: unknown key\(s\) stepz"):
        build_config({"train": {"stepz": 3}}, source="cfg.toml")


def test_wrong_type_is_a_user_error():
    with pytest.raises(UserError, match="seed: expected int"):
        build_config({"seed": "three"})


def test_resolved_config_round_trips(tmp_path):
    config = build_config(
        {"loss_sets": {"mine": [["gan", 1.0], ["cycle", 10.0]]}},
        {"loss": {"kl": 0.2}},
    )
    path = tmp_path / "config.toml"
    path.write_text(to_toml(config))
    again = build_config(load_toml(path))
    assert again == config


def test_bad_toml_is_a_one_line_user_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("model = [unclosed")
    with pytest.raises(UserError, match="bad.toml: not valid TOML"):
        load_toml(path)
    with pytest.raises(UserError, match="missing.toml: config file not found"):
        load_toml(tmp_path / "missing.toml")


def test_command_line_options_map_onto_the_config():
    from pathogan_bench.config import overrides_from_options as cli_overrides

    values = cli_overrides(
        model="unet",
        loss=("tv=0.2",),
        without=("kl",),
        model_option=("width=0.25",),
        steps=5,
        compile_mode="default",
        modalities=["flair", "t1c"],
    )
    config = build_config(None, values)
    assert config.model == "unet" and config.loss == {"tv": 0.2} and config.without == ["kl"]
    assert config.model_options["width"] == 0.25 and config.train.steps == 5
    assert config.train.compile and config.train.compile_mode == "default"
    assert config.data.modalities == ["flair", "t1c"]
    assert not build_config(None, cli_overrides()).train.compile
