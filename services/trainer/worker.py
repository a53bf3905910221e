"""The fine-tuning job handler: takes a job from the JOBS work queue, trains it, and
reports everything as events (the gateway turns them into job state).

Training runs in a thread; this coroutine keeps the event loop free for the JetStream
heartbeat. Between steps the recipe asks `stop_requested()`, which checks the job's status
with the gateway every few seconds: "paused" saves the state and lets go of the job,
"cancelled" stops. A worker that dies simply stops heart-beating; JetStream redelivers
the job and the next worker resumes from the last saved state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Literal

from services.trainer import checkpoints, results
from services.trainer.dpo import DpoRecipe
from services.trainer.prepare import InputPaths, PreparedJob, from_pb, job_spec
from services.trainer.run import SftRecipe, TrainingRecipe
from services.trainer.settings import TrainerSettings
from services.trainer.spec import is_dpo, model_name
from services.trainer.verdict import judge, judge_preference
from tuneloop.common.v1 import common_pb2
from tuneloop.events.v1 import events_pb2
from tuneloop.gateway.v1 import gateway_pb2_grpc
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core import layout, uploads
from tuneloop_core.artifacts import ArtifactStore
from tuneloop_core.bus.jobrun import JobRun, JobWorker, note

log = logging.getLogger(__name__)
KIND = common_pb2.JOB_KIND_FINE_TUNE
STOPPING = {common_pb2.JOB_STATUS_PAUSED: "pause", common_pb2.JOB_STATUS_CANCELLED: "cancel"}


class FineTuneWorker(JobWorker):
    kind = KIND
    title = "training"  # a crash fails the job as training_failed

    def __init__(
        self, settings: TrainerSettings, js: Any, gateway: gateway_pb2_grpc.GatewayServiceAsyncStub
    ):
        super().__init__(js, gateway)
        self.settings = settings
        self.data_dir = settings.common.data_dir
        self.store = ArtifactStore(layout.store_root(self.data_dir))

    async def work(self, run: JobRun, status: int, request: events_pb2.JobRequested) -> None:
        events = run.events
        output = self.data_dir / layout.in_data_dir(layout.fine_tune_dir(request.job_id))
        spec = job_spec(request)
        files = await self._inputs(request.tenant_id, spec)
        prepared = await asyncio.to_thread(from_pb, spec, self.data_dir, output, files)
        hp = prepared.hyperparameters
        values = {
            k: v for k, v in dataclasses.asdict(hp).items() if k != "explanation" and v is not None
        }
        chosen = trainer_pb2.Hyperparameters(**values)
        if status != common_pb2.JOB_STATUS_RUNNING:
            await events.status(
                common_pb2.JOB_STATUS_RUNNING,
                f"{_what(spec)} on {len(prepared.train)} {_items(spec)}; {prepared.split_note}.",
                result=trainer_pb2.FineTuneResult(hyperparameters=chosen),
            )
            await events.publish(hp.explanation, note=note({"hyperparameters": values}))
        await self._train(run, request, prepared)

    async def _inputs(self, tenant_id: str, spec: trainer_pb2.FineTuneJobSpec) -> InputPaths:
        """The job's training and validation files, resolved by id."""

        async def path(file_id: str) -> Path:
            return (await uploads.resolve(self.gateway, self.store, tenant_id, file_id)).path

        validation = await path(spec.validation_file) if spec.validation_file else None
        return InputPaths(await path(spec.training_file), validation)

    async def _train(
        self, run: JobRun, request: events_pb2.JobRequested, prepared: PreparedJob
    ) -> None:
        events = run.events
        output = prepared.settings.output
        resumed = checkpoints.load_progress(output)
        hooks = _Hooks(self, run, prepared.spec, request, asyncio.get_running_loop())
        if resumed is not None:
            await events.publish(
                f"Resuming from epoch {resumed.epoch}, step {resumed.step_in_epoch} "
                f"(attempt {request.attempt}, delivery {run.delivery}).",
                note=note({"resumed_epoch": resumed.epoch, "resumed_step": resumed.step_in_epoch}),
            )
            await hooks.announce_missed(resumed, output)
        recipe = _recipe(prepared, hooks)
        outcome = await asyncio.to_thread(_run, recipe)
        if outcome == "paused":
            await events.publish(
                f"Paused at epoch {recipe.progress.epoch}, step {recipe.progress.step_in_epoch}; "
                "resume to continue from here."
            )
            return
        if outcome == "cancelled":
            await events.publish("Cancelled; the checkpoints saved so far are kept.")
            return
        await self._finish(hooks, recipe, output)
        # Only now: a worker killed before the job's end was published resumes from here.
        checkpoints.discard_state(output)

    async def _finish(self, hooks: _Hooks, recipe: TrainingRecipe, output: Path) -> None:
        events, spec, job_id = hooks.events, hooks.spec, hooks.job_id
        final_name = model_name(spec, job_id, None)
        last = recipe.progress.history[-1] if recipe.progress.history else {}
        await events.publish(
            f"Final model saved as {final_name}.",
            dedup_key="ckpt-final",
            checkpoint_saved=events_pb2.CheckpointSaved(
                checkpoint_id=f"ckpt-{job_id}-final",
                model_name=final_name,
                base_model=spec.base_model,
                path=str((output / "final").relative_to(self.data_dir)),
                epoch=0,
                step=recipe.progress.global_step,
                tenant_id=hooks.tenant_id,
                is_final=True,
                metrics={k: v for k, v in last.items() if k != "epoch"},
            ),
        )
        dpo = isinstance(recipe, DpoRecipe)
        verdict = (judge_preference if dpo else judge)(recipe.progress.history)
        columns = results.DPO_COLUMNS if dpo else results.COLUMNS
        csv_path = results.write_metrics_csv(output, recipe.progress.rows, columns)
        await events.status(
            common_pb2.JOB_STATUS_SUCCEEDED,
            verdict.message,
            result=trainer_pb2.FineTuneResult(
                fine_tuned_model=final_name,
                trained_tokens=recipe.progress.trained_tokens,
                hyperparameters=trainer_pb2.Hyperparameters(
                    n_epochs=recipe.settings.n_epochs,
                    batch_size=recipe.settings.batch_size,
                    learning_rate_multiplier=recipe.settings.learning_rate
                    / recipe.settings.recipe.optim.learning_rate,
                    beta=recipe.beta if isinstance(recipe, DpoRecipe) else None,
                ),
                verdict=trainer_pb2.FineTuneVerdict(
                    kind=verdict.kind,
                    best_epoch=verdict.best_epoch,
                    best_checkpoint=model_name(spec, job_id, verdict.best_epoch)
                    if verdict.best_epoch
                    else final_name,
                    message=verdict.message,
                ),
                epochs=[_epoch_summary(h) for h in recipe.progress.history],
                files=[
                    common_pb2.ResultFile(
                        path=str(csv_path.relative_to(self.data_dir)),
                        filename=layout.STEP_METRICS,
                        purpose="fine-tune-results",
                    )
                ],
            ),
        )


def _what(spec: trainer_pb2.FineTuneJobSpec) -> str:
    what = "Preference-tuning (DPO)" if is_dpo(spec) else "Training"
    if spec.start_model:
        return f"{what} {spec.start_model} (an adapter on {spec.base_model}) further"
    return f"{what} {spec.base_model}"


def _items(spec: trainer_pb2.FineTuneJobSpec) -> str:
    return "preference pairs" if is_dpo(spec) else "examples"


def _recipe(prepared: PreparedJob, hooks: _Hooks) -> TrainingRecipe:
    if is_dpo(prepared.spec):
        beta = prepared.hyperparameters.beta
        assert beta is not None  # hparams.choose_dpo always sets it
        return DpoRecipe(prepared.settings, prepared.train, prepared.validation, hooks, beta)
    train = [c.turns for c in prepared.train]
    validation = [c.turns for c in prepared.validation]
    return SftRecipe(prepared.settings, train, validation, hooks)


def _epoch_summary(history: dict[str, float]) -> trainer_pb2.EpochSummary:
    """One entry of the run's per-epoch history (train loss, and validation metrics when
    there is validation data; for DPO, the reward margin and accuracy on the validation
    pairs, or on the epoch's training pairs without validation)."""
    return trainer_pb2.EpochSummary(
        epoch=int(history["epoch"]),
        train_loss=history.get("train_loss"),
        valid_loss=history.get("valid_loss"),
        valid_perplexity=history.get("valid_perplexity"),
        valid_token_accuracy=history.get("valid_token_accuracy"),
        reward_margin=history.get("valid_reward_margin", history.get("train_reward_margin")),
        reward_accuracy=history.get("valid_reward_accuracy", history.get("train_reward_accuracy")),
    )


def _run(recipe: TrainingRecipe) -> str:
    recipe.setup()
    outcome = recipe.train()
    recipe.cleanup(keep_state=outcome != "cancelled")  # see FineTuneWorker._train
    return outcome


class _Hooks:
    """RunHooks for a job: events from the training thread, pause/cancel checks."""

    def __init__(
        self,
        worker: FineTuneWorker,
        run: JobRun,
        spec: trainer_pb2.FineTuneJobSpec,
        request: events_pb2.JobRequested,
        loop: asyncio.AbstractEventLoop,
    ):
        self.worker = worker
        self.run = run
        self.events = run.events
        self.spec = spec
        self.job_id = request.job_id
        self.tenant_id = request.tenant_id
        self.loop = loop
        self.last_step = 0
        self._checked_at = 0.0
        self._stop: Literal["pause", "cancel"] | None = None

    def _wait(self, coroutine: Any) -> Any:
        # As long as a publish may retry through a NATS outage (plus a margin), so the
        # training thread does not give up on an event the loop is still delivering.
        limit_s = self.events.patience_s + 30
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=limit_s)

    def on_step(
        self, progress: checkpoints.Progress, epoch: float, metrics: dict[str, float]
    ) -> None:
        self.last_step = progress.global_step
        message = f"Step {progress.global_step}: training loss {metrics['train_loss']:.4f}"
        if "reward_margin" in metrics:
            message += (
                f", reward margin {metrics['reward_margin']:.3f}"
                f", reward accuracy {metrics['reward_accuracy']:.0%}"
            )
        self._wait(
            self.events.publish(
                message,
                metrics=events_pb2.Metrics(step=progress.global_step, epoch=epoch, values=metrics),
            )
        )

    def on_epoch(self, epoch: int, metrics: dict[str, float], checkpoint: Path) -> None:
        self._wait(self._announce(epoch, metrics, checkpoint, self.last_step))

    async def _announce(
        self, epoch: int, metrics: dict[str, float], checkpoint: Path, step: int
    ) -> None:
        name = model_name(self.spec, self.job_id, epoch)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        await self.events.publish(
            f"Epoch {epoch} saved as {name} ({shown}).",
            dedup_key=f"ckpt-{epoch}",
            checkpoint_saved=events_pb2.CheckpointSaved(
                checkpoint_id=f"ckpt-{self.job_id}-{epoch}",
                model_name=name,
                base_model=self.spec.base_model,
                path=str(checkpoint.relative_to(self.worker.data_dir)),
                epoch=epoch,
                step=step,
                tenant_id=self.tenant_id,
                metrics=metrics,
            ),
        )

    async def announce_missed(self, saved: checkpoints.Progress, output: Path) -> None:
        """Publish the last saved epoch's checkpoint if the worker that saved it died before
        announcing it (JetStream drops the event if it had been published after all)."""
        if saved.epoch <= saved.announced or not saved.history:
            return
        metrics = {k: v for k, v in saved.history[-1].items() if k != "epoch"}
        checkpoint = checkpoints.checkpoint_dir(output, saved.epoch)
        await self._announce(saved.epoch, metrics, checkpoint, saved.global_step)
        saved.announced = saved.epoch
        await asyncio.to_thread(checkpoints.write_progress, output, saved)

    def stop_requested(self) -> Literal["pause", "cancel"] | None:
        now = time.monotonic()
        if self._stop is None and now - self._checked_at >= self.worker.settings.control_poll_s:
            self._checked_at = now
            status = self._wait(self.run.status())
            self._stop = STOPPING.get(status)  # type: ignore[assignment]
        return self._stop

    def warn(self, message: str) -> None:
        self._wait(self.events.publish(message, level="warning"))
