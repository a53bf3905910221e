"""TrainerService: the recipes on offer and what "auto" would choose for a dataset."""

from __future__ import annotations

from typing import Any

import grpc

from services.trainer import hparams
from services.trainer.recipes.config import load_recipe, recipe_names
from tuneloop.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from tuneloop_core.errors import InvalidRequestError

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

    async def EstimateHyperparameters(
        self, request: trainer_pb2.EstimateHyperparametersRequest, context: Context
    ) -> trainer_pb2.EstimateHyperparametersResponse:
        if request.n_examples <= 0:
            raise InvalidRequestError("n_examples must be positive", param="n_examples")
        chosen = hparams.choose(
            trainer_pb2.Hyperparameters(), request.n_examples, hparams.AUTO_MAX_EPOCHS
        )
        return trainer_pb2.EstimateHyperparametersResponse(
            n_epochs=chosen.n_epochs,
            batch_size=chosen.batch_size,
            learning_rate_multiplier=chosen.learning_rate_multiplier,
            explanation=chosen.explanation,
        )
