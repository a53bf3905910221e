"""TrainerService: the recipes on offer (the gateway checks a job's recipe name with it)."""

from __future__ import annotations

from typing import Any

import grpc

from services.trainer.recipes.config import load_recipe, recipe_names
from tuneloop.trainer.v1 import trainer_pb2, trainer_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class TrainerServicer(trainer_pb2_grpc.TrainerServiceServicer):
    async def ListRecipes(
        self, request: trainer_pb2.ListRecipesRequest, context: Context
    ) -> trainer_pb2.ListRecipesResponse:
        recipes = [load_recipe(name) for name in recipe_names()]
        return trainer_pb2.ListRecipesResponse(
            recipes=[
                trainer_pb2.Recipe(name=r.name, version=r.version, description=r.description)
                for r in recipes
            ]
        )
