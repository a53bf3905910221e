"""The bounds and defaults of an evaluation job (`tuneloop.evaluator.v1.EvaluationJobSpec`),
defined once: the gateway's request model is built on them, and the evaluator checks the
spec it takes from the queue with them."""

from __future__ import annotations

from tuneloop.evaluator.v1 import evaluator_pb2
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.jobspecs import sampling

MAX_MODELS = 32  # rows of the matrix named in a request (a fine-tuning job adds its own)
# Greedy by default (sampling.DEFAULT_TEMPERATURE): a re-run gives the same numbers, and
# checkpoints differ only by their weights. 192 tokens fits a 公文 answer of a few sentences.
DEFAULT_MAX_TOKENS = 192
DEFAULT_HEADLINE_METRIC = "rouge-l"  # the metric that picks the best model
LANGUAGES = ("auto", "zh", "en")
# How BLEU-4 and ROUGE-1/2/L are computed: "llamafactory" (as LLaMA-Factory's
# ComputeSimilarity does for every pair; the language-aware values become extra columns),
# "language_aware" (each pair by its language), or "auto": llamafactory for a predictions
# file in LLaMA-Factory's format (predict/label), language_aware for everything else.
SCORINGS = ("auto", "llamafactory", "language_aware")
DEFAULT_SCORING = "auto"


def check(spec: evaluator_pb2.EvaluationJobSpec) -> None:
    """What the evaluator checks of a spec it took from the queue: a publish that bypassed
    the gateway fails the job with the error the API would have given."""
    if not spec.models and not spec.predictions:
        raise InvalidRequestError("the evaluation names no models", param="models")
    if not (spec.predictions_file if spec.predictions else spec.dataset_file):
        raise InvalidRequestError("the evaluation names no dataset", param="dataset_file")
    sampling.check(spec.max_tokens, spec.temperature, spec.top_p)
    if spec.max_examples < 0:
        raise InvalidRequestError("max_examples must be at least 1", param="max_examples")
    if spec.language not in LANGUAGES:
        raise InvalidRequestError(f"language must be one of {LANGUAGES}", param="language")
    if spec.scoring and spec.scoring not in SCORINGS:  # empty: queued before the field
        raise InvalidRequestError(f"scoring must be one of {SCORINGS}", param="scoring")
