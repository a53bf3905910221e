"""InferenceService over the models this process serves.

Engines (vLLM, transformers+PEFT) arrive with the inference issue; until then the table of
served models is empty, so ListModels answers an empty list and the other RPCs answer
UNIMPLEMENTED through the generated base class.
"""

from __future__ import annotations

from typing import Any

import grpc

from tuneloop.inference.v1 import inference_pb2, inference_pb2_grpc


class InferenceServicer(inference_pb2_grpc.InferenceServiceServicer):
    def __init__(self) -> None:
        # Model name → what ListModels reports; filled by engines once they exist.
        self.models: dict[str, inference_pb2.ModelInfo] = {}

    async def ListModels(
        self,
        request: inference_pb2.ListModelsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> inference_pb2.ListModelsResponse:
        """Base models, then the asking tenant's adapters."""
        visible = [
            m
            for m in self.models.values()
            if m.kind == inference_pb2.MODEL_KIND_BASE or m.tenant_id == request.tenant_id
        ]
        visible.sort(key=lambda m: (m.kind, m.name))
        return inference_pb2.ListModelsResponse(models=visible)
