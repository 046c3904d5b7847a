"""The built-in experiment loggers (``[train] loggers``): TensorBoard and MLflow (:mod:`pathogan_bench.engine.loggers`)."""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path
from typing import Any

from pathogan_bench.contracts.hookspecs import hookimpl
from pathogan_bench.contracts.logger import LoggerContext
from pathogan_bench.engine.loggers import flat_config
from pathogan_bench.errors import UserError
from pathogan_bench.registry import Spec

#: HTTP requests to a tracking server: seconds each, and no retries, so a server that is down costs one timeout
MLFLOW_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "10", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
#: where a run's MLflow run id is kept, so that a resumed run continues the same MLflow run
MLFLOW_RUN_FILE = "mlflow-run.json"


class TensorBoardLogger:
    """Loss curves and final scores in ``RUN_DIR/tensorboard`` when ``tensorboard`` is installed, else nothing."""

    def __init__(self) -> None:
        self.writer: Any = None
        self.step = 0

    def start(self, context: LoggerContext) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except Exception:  # the optional extra is not installed: losses.csv has the same numbers
            return
        self.writer = SummaryWriter(str(context.run_dir / "tensorboard"))

    def log_losses(self, step: int, values: dict[str, float]) -> None:
        self.step = step
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)

    def log_scores(self, scores: dict[str, float]) -> None:
        if self.writer is not None:
            for key, value in scores.items():
                self.writer.add_scalar(f"scores/{key}", value, self.step)

    def log_artifacts(self, paths: list[Path]) -> None:
        pass  # the run directory already holds them

    def close(self, status: str) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class MlflowLogger:
    """Params, loss and score metrics, tags and the report's files in an MLflow tracking store.

    The store is ``[train] tracking_uri`` (``--tracking-uri``; e.g. a server's
    ``http://HOST:5000``), by default the local file store ``mlruns`` next to
    the run directory (``RUN_DIR/../mlruns``: one store per study or runs
    folder). The experiment is the study folder's name (``compare --models``,
    ``run --folds``: every run of a grid in one experiment), else the name of
    the folder holding the run.
    """

    def __init__(self) -> None:
        if importlib.util.find_spec("mlflow") is None:
            raise UserError('the mlflow logger needs MLflow: pip install -e ".[mlflow]" (or mlflow-skinny)')
        self.client: Any = None
        self.run_id = ""
        self.step = 0

    def start(self, context: LoggerContext) -> None:
        for key, value in MLFLOW_HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
        uri = context.tracking_uri or (context.run_dir.resolve().parent / "mlruns").as_uri()
        if uri.startswith("file:") or "://" not in uri:
            # MLflow 3 asks file-store users to opt in; the store stays readable with `mlflow ui --backend-store-uri`
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=uri)
        kept = context.run_dir / MLFLOW_RUN_FILE
        if context.resuming and kept.is_file():
            stored = json.loads(kept.read_text(encoding="utf-8"))
            if stored.get("tracking_uri") == uri:
                self.run_id = stored["run_id"]
                self.client.update_run(self.run_id, status="RUNNING")
                return
        study = context.tags.get("study")
        experiment = Path(study).name if study else context.run_dir.resolve().parent.name
        self.run_id = self.client.create_run(
            self._experiment_id(experiment),
            run_name=context.run_dir.name,
            tags={f"pathogan_bench.{k}": v for k, v in context.tags.items()} | {"run_dir": str(context.run_dir)},
        ).info.run_id
        kept.write_text(json.dumps({"tracking_uri": uri, "run_id": self.run_id}) + "\n", encoding="utf-8")
        from mlflow.entities import Param

        params = [Param(k, v[:6000]) for k, v in flat_config(context.config).items()]
        for i in range(0, len(params), 100):  # the tracking API takes at most 100 params per request
            self.client.log_batch(self.run_id, params=params[i : i + 100])

    def _experiment_id(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(self.client.create_experiment(name))
        except Exception:  # another run of the study created it meanwhile
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return str(found.experiment_id)

    def _metrics(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in values.items()]
        for i in range(0, len(metrics), 1000):  # at most 1000 metrics per request
            self.client.log_batch(self.run_id, metrics=metrics[i : i + 1000])

    def log_losses(self, step: int, values: dict[str, float]) -> None:
        self.step = step
        self._metrics(values, step)

    def log_scores(self, scores: dict[str, float]) -> None:
        self._metrics(scores, self.step)

    def log_artifacts(self, paths: list[Path]) -> None:
        for path in paths:
            folder = path.parent.name if path.parent.name == "figures" else None
            self.client.log_artifact(self.run_id, str(path), artifact_path=folder)

    def close(self, status: str) -> None:
        if self.client is not None and self.run_id:
            mlflow_status = {"done": "FINISHED", "failed": "FAILED"}.get(status, "KILLED")  # stopped: resumable
            self.client.set_terminated(self.run_id, status=mlflow_status)
            self.client = None


@hookimpl
def register_loggers() -> list[Spec]:
    return [Spec("tensorboard", TensorBoardLogger), Spec("mlflow", MlflowLogger)]
