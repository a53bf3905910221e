"""The FastAPI application: routers, auth on every /v1 route, one error envelope."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from services.gateway.adapters.router import router as adapters_router
from services.gateway.batches.router import router as batches_router
from services.gateway.body_limit import BodyLimitMiddleware
from services.gateway.chat.router import router as chat_router
from services.gateway.comparisons.router import router as comparisons_router
from services.gateway.completions.router import router as completions_router
from services.gateway.console.router import install_console
from services.gateway.datagen.router import router as datagen_router
from services.gateway.datasets.router import router as datasets_router
from services.gateway.deps import authenticate
from services.gateway.embeddings.router import router as embeddings_router
from services.gateway.errors import install_error_handlers
from services.gateway.evals.router import graders_router
from services.gateway.evals.router import router as evals_router
from services.gateway.evaluations.router import router as evaluations_router
from services.gateway.exports.router import router as exports_router
from services.gateway.files.router import router as files_router
from services.gateway.fine_tuning.router import router as fine_tuning_router
from services.gateway.health.router import router as health_router
from services.gateway.knowledge_bases.router import router as knowledge_bases_router
from services.gateway.metrics import install_metrics
from services.gateway.models.router import router as models_router
from services.gateway.ollama.router import router as ollama_router
from services.gateway.responses.router import router as responses_router
from services.gateway.state import GatewayState


def create_app(state: GatewayState) -> FastAPI:
    app = FastAPI(
        title="Tuneloop",
        version="0.1.0",
        summary="Documents to a fine-tuned, evaluated LLM behind an OpenAI-compatible API.",
    )
    app.state.gateway = state
    install_error_handlers(app)
    app.include_router(health_router)
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(authenticate)])
    routers = (
        models_router,
        adapters_router,
        chat_router,
        responses_router,
        completions_router,
        embeddings_router,
        files_router,
        fine_tuning_router,
        knowledge_bases_router,
        comparisons_router,
        exports_router,
        evaluations_router,
        evals_router,
        batches_router,
        graders_router,
        datasets_router,
        datagen_router,
    )
    for router in routers:
        v1.include_router(router)
    app.include_router(v1)
    # Ollama's native API at /api/*, with the same keys and tenants as /v1.
    app.include_router(ollama_router, dependencies=[Depends(authenticate)])
    install_console(app)  # `/` and `/console/*`, outside the /v1 auth
    install_metrics(app)  # `/metrics` for Prometheus, outside the /v1 auth too
    app.add_middleware(BodyLimitMiddleware, limit_bytes=state.settings.max_request_mb << 20)
    return app
