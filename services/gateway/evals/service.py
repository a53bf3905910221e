"""Evals (OpenAI's Evals API): create, read, update, list and delete them. Runs are in
runs.py. No FastAPI here."""

from __future__ import annotations

from typing import Any

from services.gateway.evals import protocol as p
from services.gateway.evals.graders import checked_criteria
from services.gateway.ids import PREFIXES, new_id
from services.gateway.registry.evals import Order
from services.gateway.registry.models import Eval, Tenant
from services.gateway.state import GatewayState
from tuneloop_core.errors import InvalidRequestError

# What `sample` holds for a grader's templates: the model's answer.
SAMPLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "choices": {"type": "array"},
        "output_text": {"type": "string"},
        "output_json": {"type": "object"},
    },
    "required": ["output_text"],
}


def data_source_schema(config: p.CustomDataSourceConfig) -> dict[str, Any]:
    """The `schema` OpenAI shows for a custom data source: item (and sample)."""
    properties: dict[str, Any] = {"item": config.item_schema}
    if config.include_sample_schema:
        properties["sample"] = SAMPLE_SCHEMA
    return {"type": "object", "properties": properties, "required": list(properties)}


def custom_config(raw: dict[str, Any]) -> p.CustomDataSourceConfig:
    kind = raw.get("type")
    if kind != "custom":
        raise InvalidRequestError(
            f"data_source_config of type {kind!r} is not supported: Tuneloop keeps no "
            "completions logs to select from; use type 'custom' with an item_schema",
            param="data_source_config.type",
        )
    config = p.CustomDataSourceConfig.model_validate(raw)
    if config.item_schema.get("type", "object") != "object":
        raise InvalidRequestError(
            "item_schema must describe an object", param="data_source_config.item_schema"
        )
    return config


def view(record: Eval) -> p.EvalObject:
    config = p.CustomDataSourceConfig.model_validate(record.data_source_config)
    return p.EvalObject(
        id=record.id,
        created_at=record.created_at,
        name=record.name,
        data_source_config={"type": "custom", "schema": data_source_schema(config)},
        testing_criteria=record.testing_criteria["criteria"],
        metadata=record.meta,
    )


async def create(state: GatewayState, tenant: Tenant, req: p.CreateEvalRequest) -> p.EvalObject:
    config = custom_config(req.data_source_config)
    await checked_criteria(
        state, tenant, req.testing_criteria, config.item_schema, config.include_sample_schema
    )
    record = Eval(
        id=new_id(PREFIXES["eval"]),
        tenant_id=tenant.id,
        name=req.name or "",
        data_source_config=config.model_dump(mode="json"),
        testing_criteria={
            "criteria": [g.model_dump(mode="json", exclude_none=True) for g in req.testing_criteria]
        },
        meta=req.metadata,
    )
    return view(await state.registry.evals.add(record))


async def get(state: GatewayState, tenant: Tenant, eval_id: str) -> p.EvalObject:
    return view(await state.registry.evals.get(tenant.id, eval_id))


async def update(
    state: GatewayState, tenant: Tenant, eval_id: str, req: p.UpdateEvalRequest
) -> p.EvalObject:
    return view(await state.registry.evals.update(tenant.id, eval_id, req.name, req.metadata))


async def page(
    state: GatewayState, tenant: Tenant, limit: int, after: str | None, order: Order
) -> p.Page:
    rows, more = await state.registry.evals.page(tenant.id, limit, after, order)
    data = [view(r) for r in rows]
    return p.Page(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=more,
    )


async def delete(state: GatewayState, tenant: Tenant, eval_id: str) -> p.EvalDeleted:
    await state.registry.evals.delete(tenant.id, eval_id)
    return p.EvalDeleted(eval_id=eval_id)
