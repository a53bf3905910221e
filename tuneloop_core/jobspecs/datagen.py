"""The bounds and defaults of a datagen job (`tuneloop.datagen.v1.DatagenJobSpec`), defined
once: the gateway's request model and the datagen worker's spec are both built on them, so
a spec the worker takes from the queue is checked with the rules the API applied."""

from __future__ import annotations

from typing import Literal

Language = Literal["zh-TW", "en"]
# grounded: answers are sentences of the chunk, the teacher writes questions for them under
# a grammar of the chunk's words (works with small teachers); free: the teacher writes
# whole pairs.
Mode = Literal["grounded", "free"]
# How a pair is scored 0–5: judge: the teacher rates it under a rubric (needs a capable
# model); likelihood: whether the question makes its own answer likelier than the other
# answers of its document (any model that scores text); auto: likelihood for the served
# teacher (the bundled models rate every pair alike), judge for an external endpoint.
Scorer = Literal["auto", "judge", "likelihood"]
ExportFormat = Literal["alpaca", "sharegpt", "openai"]
ChunkUnit = Literal["chars", "tokens"]

MAX_FILES = 200  # documents per job
TIMEOUT_S, MAX_TIMEOUT_S = 120.0, 3600  # per teacher call
MIN_TEACHER_TOKENS, MAX_TEACHER_TOKENS = 16, 32_768  # per answer, when given
QUESTIONS_PER_CHUNK, MAX_QUESTIONS_PER_CHUNK = 3, 20  # free mode
# grounded mode: questions per answer sentence (many phrasings per fact is what makes
# tuning generalise; ones the near-duplicate filter finds too alike are dropped)
PHRASINGS_PER_ANSWER, MAX_PHRASINGS_PER_ANSWER = 3, 10
CHUNK_SIZE, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE = 600, 50, 20_000  # in the chunking unit
CHUNK_OVERLAP = 80  # shared with the previous chunk; below the size
MIN_SCORE, MAX_SCORE = 3.0, 5  # a pair scored below min_score is dropped
DEDUPE_THRESHOLD = 0.8  # MinHash Jaccard of near-duplicates, in (0, 1]
EVAL_FRACTION = 0.1  # in [0, 1)
CONCURRENCY, MAX_CONCURRENCY = 4, 64  # teacher calls in flight
