"""The datagen job handler: the job's documents → chunks → a scored, de-duplicated dataset,
registered as the tenant's files (train/eval in the asked format, dataset_info.json, the
pairs for review). A document that cannot be read is reported and skipped; a teacher that
fails is counted, and the job completes with what it has."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nats.js import JetStreamContext

from services.datagen.documents.chunk import Chunk
from services.datagen.documents.source import read_chunks
from services.datagen.generation import quality
from services.datagen.generation.export import write_outputs
from services.datagen.generation.pipeline import Pipeline
from services.datagen.generation.spec import DatagenSpec, from_pb
from services.datagen.generation.teacher import TeacherClient
from tuneloop.common.v1 import common_pb2
from tuneloop.datagen.v1 import datagen_pb2
from tuneloop.events.v1 import events_pb2
from tuneloop.gateway.v1 import gateway_pb2_grpc
from tuneloop_core import layout
from tuneloop_core.artifacts import ArtifactStore
from tuneloop_core.bus.jobrun import JobRun, JobWorker
from tuneloop_core.errors import InvalidRequestError, TuneloopError

KIND = common_pb2.JOB_KIND_DATAGEN


class DatagenWorker(JobWorker):
    kind = KIND
    title = "datagen"

    def __init__(
        self,
        js: JetStreamContext,
        gateway: gateway_pb2_grpc.GatewayServiceAsyncStub,
        data_dir: Path,
        gateway_url: str,
        control_poll_s: float = 2.0,
    ):
        super().__init__(js, gateway, control_poll_s)
        self.data_dir = data_dir
        self.artifacts = ArtifactStore(layout.store_root(data_dir))
        self.gateway_url = gateway_url.rstrip("/")

    async def work(self, run: JobRun, status: int, request: events_pb2.JobRequested) -> None:
        spec = from_pb(request.datagen)
        await run.running(f"Generating Q&A pairs from {len(spec.file_ids)} document(s).")
        chunks, documents = await self._chunks(run, request.tenant_id, spec)
        teacher = TeacherClient(spec.teacher, f"{self.gateway_url}/v1", "unused")
        try:
            result = await Pipeline(spec, teacher, self._progress(run)).run(chunks)
        finally:
            await teacher.close()
        if not teacher.constrained:
            await run.note(
                "The teacher endpoint does not take response_format; its answers were parsed "
                f"instead ({result.format_failures} format failures).",
                level="warning",
            )
        relative = Path(layout.in_data_dir(layout.datagen_dir(request.job_id)))
        written = write_outputs(request.job_id, spec, result, self.data_dir / relative)
        purposes = ["fine-tune"] * (len(written) - 2) + ["datagen-results"] * 2
        counts = result.counts()
        await run.succeed(
            f"Kept {counts['kept']} of {counts['generated']} generated pairs "
            f"({counts['train']} train, {counts['eval']} eval).",
            result=datagen_pb2.DatagenResult(
                counts=datagen_pb2.DatagenCounts(**counts),
                score_histogram=quality.score_histogram([*result.train, *result.evaluation]),
                documents=documents,
                n_chunks=len(chunks),
                files=[
                    common_pb2.ResultFile(
                        path=str(relative / p.name), filename=p.name, purpose=purpose
                    )
                    for p, purpose in zip(written, purposes, strict=True)
                ],
            ),
        )

    def _progress(self, run: JobRun) -> Any:
        async def progress(stage: str, done: int, total: int) -> None:
            await run.check_cancelled()
            await run.progress(stage, done, total)

        return progress

    async def _chunks(
        self, run: JobRun, tenant_id: str, spec: DatagenSpec
    ) -> tuple[list[Chunk], list[datagen_pb2.DocumentOutcome]]:
        chunks: list[Chunk] = []
        documents: list[datagen_pb2.DocumentOutcome] = []
        for done, file_id in enumerate(spec.file_ids, 1):
            await run.check_cancelled()
            try:
                name, found = await read_chunks(
                    self.gateway, self.artifacts, tenant_id, file_id, spec.chunking
                )
            except TuneloopError as exc:
                if exc.retryable:  # the gateway is unreachable: not this document's fault
                    raise
                documents.append(
                    datagen_pb2.DocumentOutcome(file_id=file_id, status="failed", error=exc.message)
                )
                await run.note(f"{file_id}: {exc.message}", level="warning", file_id=file_id)
                continue
            chunks.extend(found)
            documents.append(
                datagen_pb2.DocumentOutcome(file_id=file_id, document=name, n_chunks=len(found))
            )
            await run.progress(
                "documents", done, len(spec.file_ids), f"{name}: {len(found)} chunks"
            )
        if not chunks:
            raise InvalidRequestError("none of the documents could be read", param="file_ids")
        if spec.max_chunks is not None and len(chunks) > spec.max_chunks:
            await run.note(f"Using the first {spec.max_chunks} of {len(chunks)} chunks.")
            chunks = chunks[: spec.max_chunks]
        return chunks, documents
