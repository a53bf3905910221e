"""A gateway app over a real registry and a real in-process inference service; and, for the
modules that ask, a whole stack serving SmolLM2 on each engine."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import openai
import pytest
import pytest_asyncio

from services.gateway.app import create_app
from services.gateway.clients import ServiceClients
from services.gateway.registry.aio import AsyncRegistry
from services.gateway.settings import GatewaySettings
from services.gateway.state import GatewayState
from services.inference.server import serve as serve_inference
from services.inference.settings import InferenceSettings
from support.gateway import Gateway
from support.inprocess import running
from support.smollm2 import ENGINES, SERVED_AS, pulled_smollm2
from support.stack import ApiStack, api_stack
from tuneloop_core.artifacts import ArtifactStore
from tuneloop_core.settings import CommonSettings


@pytest.fixture
async def gateway(common: CommonSettings) -> AsyncIterator[Gateway]:
    inference_settings = InferenceSettings(grpc_port=0, shutdown_grace_s=1, common=common)
    async with running(serve_inference, inference_settings) as inference:
        assert inference.grpc is not None
        registry = AsyncRegistry.connect(common.database_url)
        clients = ServiceClients({"inference": f"127.0.0.1:{inference.grpc.port}"})
        state = GatewayState(
            settings=GatewaySettings(common=common),
            registry=registry,
            artifacts=ArtifactStore(common.data_dir / "artifacts"),
            clients=clients,
        )
        app = create_app(state)
        key, _ = registry.sync.create_api_key("acme")
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            yield Gateway(app=app, state=state, http=http, key=key)
        await clients.close()
        registry.close()


@pytest.fixture
async def sdk(gateway: Gateway) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official SDK, in-process against `gateway`."""
    transport = httpx.ASGITransport(app=gateway.app)
    async with httpx.AsyncClient(transport=transport) as http:
        yield openai.AsyncOpenAI(
            base_url="http://gw/v1", api_key=gateway.key, http_client=http, max_retries=0
        )


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=ENGINES)
async def smollm2_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ApiStack]:
    """The stack serving SmolLM2-135M on one engine (each module gets its own)."""
    engine = request.param
    async with api_stack(
        tmp_path_factory.mktemp(f"smollm2-{engine}"),
        models={SERVED_AS: pulled_smollm2()},
        engine=engine,
        base_models=[SERVED_AS],
        dtype="float32" if engine == "transformers" else "auto",
    ) as running_stack:
        yield running_stack


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def smollm2(smollm2_stack: ApiStack) -> openai.AsyncOpenAI:
    """The official SDK against `smollm2_stack` over real HTTP."""
    return openai.AsyncOpenAI(
        base_url=f"{smollm2_stack.url}/v1", api_key=smollm2_stack.key("acme"), max_retries=0
    )
