"""The export job handler, run by the trainer processes (it needs the same libraries as
training): runs the pipeline, streams each step as an event, and lists the GGUF, the
Modelfile and the report as result files the gateway registers for the tenant."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from nats.js import JetStreamContext

from services.trainer.export.pipeline import STEPS, run_export
from services.trainer.export.settings import ExportSettings
from services.trainer.export.spec import from_pb
from tuneloop.common.v1 import common_pb2
from tuneloop.events.v1 import events_pb2
from tuneloop.gateway.v1 import gateway_pb2_grpc
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core import layout, uploads
from tuneloop_core.artifacts import ArtifactStore
from tuneloop_core.bus.jobrun import JobRun, JobWorker
from tuneloop_core.errors import NotFoundError

KIND = common_pb2.JOB_KIND_EXPORT


class ExportWorker(JobWorker):
    kind = KIND
    title = "export"

    def __init__(
        self,
        data_dir: Path,
        settings: ExportSettings,
        js: JetStreamContext,
        gateway: gateway_pb2_grpc.GatewayServiceAsyncStub,
        control_poll_s: float = 2.0,
    ):
        super().__init__(js, gateway, control_poll_s)
        self.data_dir = data_dir
        self.store = ArtifactStore(layout.store_root(data_dir))
        self.settings = settings

    def _local(self, path: str) -> str:
        """Paths in the spec may be relative to the data directory (adapters, datasets); a
        base model given as a hub id stays as it is."""
        if not path or Path(path).is_absolute() or not (self.data_dir / path).exists():
            return path
        return str(self.data_dir / path)

    async def _dataset(self, run: JobRun, tenant_id: str, file_id: str) -> str:
        """Where the drift check's dataset is; none when the job names none, or when the
        file was deleted since (the export goes on without its prompts)."""
        if not file_id:
            return ""
        try:
            return str((await uploads.resolve(self.gateway, self.store, tenant_id, file_id)).path)
        except NotFoundError:
            await run.note(
                f"The dataset {file_id} is gone; the drift check uses no prompts from it.",
                level="warning",
            )
            return ""

    async def work(self, run: JobRun, status: int, request: events_pb2.JobRequested) -> None:
        spec = from_pb(request.export)
        spec = dataclasses.replace(
            spec,
            base_path=self._local(spec.base_path),
            adapter_path=self._local(spec.adapter_path),
            dataset_path=await self._dataset(run, request.tenant_id, spec.dataset_file),
        )
        if status != common_pb2.JOB_STATUS_RUNNING:
            await run.running(f"Exporting {spec.model} to GGUF ({spec.quantization}).")
        relative = Path(layout.in_data_dir(layout.export_dir(request.job_id)))

        async def progress(step: str, message: str) -> None:
            await run.check_cancelled()
            await run.progress(step, STEPS.index(step) + 1, len(STEPS), message)

        out = await run_export(spec, self.settings, self.data_dir / relative, progress)
        result = trainer_pb2.ExportResult(
            **out.result,
            files=[
                common_pb2.ResultFile(
                    path=str(relative / p.name), filename=p.name, purpose="export"
                )
                for p in (out.gguf, out.modelfile, out.report)
            ],
        )
        drift = out.result.get("drift") or {}
        level = "warning" if drift.get("flagged") else "info"
        await run.note(drift.get("advice") or "Drift report ready.", level=level, drift=drift)
        await run.succeed(
            f"Exported {spec.model} to {out.gguf.name}; import it with: "
            f"{result.ollama_create_command}",
            result=result,
        )
