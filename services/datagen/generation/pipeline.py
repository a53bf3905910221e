"""One datagen run over chunks: generate → rule checks → near-duplicates → score (a judge,
or by likelihood: see `likelihood`) → refine → split. Generation is answer-grounded
(answers are the chunk's sentences, the teacher writes questions for them under a grammar;
see `grounded`) or free (the teacher writes whole pairs). Teacher calls run concurrently
(bounded); results keep the chunks' order, so a run with a deterministic teacher gives the
same dataset every time."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from services.datagen.documents.chunk import Chunk
from services.datagen.generation import grounded, prompts, quality, schemas
from services.datagen.generation.likelihood import LikelihoodScorer
from services.datagen.generation.quality import Pair
from services.datagen.generation.spec import DatagenSpec
from services.datagen.generation.teacher import FORMAT_FAILURES, TeacherClient, TeacherFailed

Progress = Callable[[str, int, int], Awaitable[None]]
T = TypeVar("T")


@dataclass
class PipelineResult:
    train: list[Pair]
    evaluation: list[Pair]
    generated: int = 0
    answers: int = 0  # grounded mode: answer sentences taken from the chunks
    dropped: Counter[str] = field(default_factory=Counter)  # reason → pairs
    # teacher calls without a result, by reason ("judge_…", "refine_…" for those steps)
    failures: Counter[str] = field(default_factory=Counter)
    refined: int = 0
    leakage_moved: int = 0
    scorer: str = "judge"  # what scored the pairs: "judge" or "likelihood"

    @property
    def format_failures(self) -> int:
        """Teacher answers that stayed malformed JSON, or JSON off the schema, after the
        re-asks; always 0 for a teacher that decodes under the schema."""
        return sum(n for reason, n in self.failures.items() if reason.endswith(FORMAT_FAILURES))

    def counts(self) -> dict[str, Any]:
        kept = len(self.train) + len(self.evaluation)
        return {
            "generated": self.generated,
            "answers": self.answers,
            "kept": kept,
            "train": len(self.train),
            "eval": len(self.evaluation),
            "scorer": self.scorer,
            "refined": self.refined,
            "dropped": dict(sorted(self.dropped.items())),
            "teacher_failures": dict(sorted(self.failures.items())),
            "format_failures": self.format_failures,
            "leakage_moved_to_train": self.leakage_moved,
        }


async def _bounded(
    items: Sequence[T],
    limit: int,
    work: Callable[[int, T], Awaitable[Any]],
    progress: Progress,
    stage: str,
) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)
    done = 0

    async def one(index: int, item: T) -> Any:
        nonlocal done
        async with semaphore:
            out = await work(index, item)
        done += 1
        await progress(stage, done, len(items))
        return out

    return list(await asyncio.gather(*(one(i, item) for i, item in enumerate(items))))


@dataclass(frozen=True)
class Answer:
    """A sentence of a chunk that a grounded question is written for."""

    position: int  # the chunk's place in the run
    number: int  # the sentence's place among the chunk's answers
    chunk: Chunk
    text: str


class Pipeline:
    def __init__(self, spec: DatagenSpec, teacher: TeacherClient, progress: Progress):
        self.spec = spec
        self.teacher = teacher
        self.progress = progress
        self.result = PipelineResult([], [])
        self.texts: dict[str, str] = {}  # pair id → its chunk's text
        self.scorer: LikelihoodScorer | None = None  # set in run() when pairs score by it

    def _pair(self, pair_id: str, question: str, answer: str, chunk: Chunk) -> Pair:
        self.texts[pair_id] = chunk.text
        return Pair(
            id=pair_id,
            question=question.strip(),
            answer=answer.strip(),
            document=chunk.document,
            page=chunk.page,
            heading_path=chunk.heading_path,
            chunk_index=chunk.index,
        )

    async def _generate(self, index: int, chunk: Chunk) -> list[Pair]:
        n = self.spec.questions_per_chunk
        prompt = prompts.generate_prompt(
            self.spec.language, n, chunk.text, _source(chunk), self.spec.reasoning
        )
        schema = schemas.pairs_schema(n, self.spec.reasoning)
        try:
            answer = await self.teacher.ask_json(prompt, "qa_pairs", schema)
        except TeacherFailed as exc:
            self.result.failures[exc.reason] += 1
            return []
        pairs = []
        for k, item in enumerate(answer["pairs"][:n]):
            pair = self._pair(f"pair-{index:05d}-{k:02d}", item["question"], item["answer"], chunk)
            pair.reasoning = item.get("reasoning") or None
            pairs.append(pair)
        return pairs

    def _answers(self, chunks: Sequence[Chunk]) -> list[Answer]:
        """Every chunk's answer sentences; one repeated by an overlapping chunk counts once."""
        seen: set[str] = set()
        answers = []
        for position, chunk in enumerate(chunks):
            spans = [
                s for s in grounded.answer_spans(chunk.text, self.spec.language) if s not in seen
            ]
            seen.update(spans)
            answers += [Answer(position, k, chunk, span) for k, span in enumerate(spans)]
        return answers

    async def _ask_questions(self, _: int, answer: Answer) -> list[Pair]:
        chunk, language = answer.chunk, self.spec.language
        grammar = grounded.question_grammar(
            answer.text, chunk.heading_path, language, self.spec.phrasings_per_answer
        )
        if grammar is None:
            return []
        schema = grammar.schema()
        prompt = prompts.grounded_prompt(
            language, len(grammar.patterns), answer.text, _source(chunk)
        )
        try:
            reply = await self.teacher.ask_json(prompt, "questions", schema)
        except TeacherFailed as exc:
            self.result.failures[exc.reason] += 1
            return []
        return [
            self._pair(
                f"pair-{answer.position:05d}-{answer.number:02d}-{k}",
                reply[key],
                answer.text,
                chunk,
            )
            for k, key in enumerate(schema["properties"])
        ]

    async def _judge(self, pair: Pair, chunk: str) -> None:
        if self.scorer is not None:
            try:
                pair.score, pair.score_reason = await self.scorer.score(pair)
            except TeacherFailed as exc:
                self.result.failures[f"judge_{exc.reason}"] += 1
            return
        prompt = prompts.judge_prompt(self.spec.language, chunk, pair.question, pair.answer)
        try:
            verdict = await self.teacher.ask_json(prompt, "judgement", schemas.judge_schema())
        except TeacherFailed as exc:
            self.result.failures[f"judge_{exc.reason}"] += 1
            return
        pair.score, pair.score_reason = float(verdict["score"]), str(verdict["reason"])

    async def _rewrite(self, pair: Pair, chunk: str) -> tuple[str, str] | None:
        """A new question and answer for a low-scored pair (grounded: a new question for the
        same answer, under the answer's grammar); None when the teacher gave none."""
        language, reason = self.spec.language, pair.score_reason or "low"
        if self.spec.mode == "grounded":
            grammar = grounded.question_grammar(pair.answer, pair.heading_path, language, 1)
            if grammar is None:
                return None
            prompt = prompts.refine_question_prompt(language, pair.question, pair.answer, reason)
            schema = schemas.strict_object({"question": grammar.schema()["properties"]["q1"]})
        else:
            prompt = prompts.refine_prompt(language, chunk, pair.question, pair.answer, reason)
            schema = schemas.refine_schema()
        try:
            rewrite = await self.teacher.ask_json(prompt, "rewrite", schema)
        except TeacherFailed as exc:
            self.result.failures[f"refine_{exc.reason}"] += 1
            return None
        return rewrite["question"].strip(), str(rewrite.get("answer", pair.answer)).strip()

    async def _refine(self, pair: Pair, chunk: str) -> bool:
        """Rewrite a low-scored pair once; True if the rewrite passes the rules and scores."""
        rewrite = await self._rewrite(pair, chunk)
        if rewrite is None or quality.rule_problem(*rewrite, chunk, self.spec.language):
            return False
        (pair.question, pair.answer), pair.score = rewrite, None
        await self._judge(pair, chunk)
        pair.refined = pair.score is not None and pair.score >= self.spec.min_score
        return pair.refined

    async def _generated(self, chunks: Sequence[Chunk]) -> list[Pair]:
        spec = self.spec
        if spec.mode == "free":
            batches = await _bounded(
                chunks, spec.concurrency, self._generate, self.progress, "generate"
            )
        else:
            answers = self._answers(chunks)
            self.result.answers = len(answers)
            batches = await _bounded(
                answers, spec.concurrency, self._ask_questions, self.progress, "generate"
            )
        return [p for batch in batches for p in batch]

    async def run(self, chunks: Sequence[Chunk]) -> PipelineResult:
        spec, result, texts = self.spec, self.result, self.texts
        pairs = await self._generated(chunks)
        result.generated = len(pairs)
        passing = []
        for pair in pairs:
            problem = quality.rule_problem(
                pair.question, pair.answer, texts[pair.id], spec.language
            )
            if problem:
                result.dropped[problem] += 1
            else:
                passing.append(pair)
        unique, duplicates = quality.drop_near_duplicates(passing, spec.dedupe_threshold)
        result.dropped["near_duplicate"] += duplicates
        result.scorer = spec.resolved_scorer
        if result.scorer == "likelihood":
            answers: dict[str, list[str]] = {}
            for pair in passing:
                answers.setdefault(pair.document, []).append(pair.answer)
            self.scorer = LikelihoodScorer(
                self.teacher.loglikelihoods,
                spec.language,
                {document: list(dict.fromkeys(a)) for document, a in answers.items()},
                spec.seed,
            )

        async def judge(_: int, pair: Pair) -> Pair | None:
            await self._judge(pair, texts[pair.id])
            if pair.score is None or pair.score >= spec.min_score:
                return pair  # an unscored pair passed the rules; the histogram shows it
            if spec.refine and await self._refine(pair, texts[pair.id]):
                return pair
            return None

        judged = await _bounded(unique, spec.concurrency, judge, self.progress, "judge")
        kept = [p for p in judged if p is not None]
        result.dropped["low_score"] += len(unique) - len(kept)
        result.refined = sum(p.refined for p in kept)
        result.train, result.evaluation, result.leakage_moved = quality.split(
            kept, spec.eval_fraction, spec.dedupe_threshold, spec.seed
        )
        result.dropped = +result.dropped  # no zero counts
        return result


def _source(chunk: Chunk) -> str:
    return " > ".join([chunk.document, *chunk.heading_path])
