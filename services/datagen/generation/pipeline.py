"""One datagen run over chunks: generate → rule checks → near-duplicates → judge → refine
→ split. Teacher calls run concurrently (bounded); results keep the chunks' order, so a
run with a deterministic teacher gives the same dataset every time."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from services.datagen.documents.chunk import Chunk
from services.datagen.generation import prompts, quality
from services.datagen.generation.quality import Pair
from services.datagen.generation.spec import DatagenSpec
from services.datagen.generation.teacher import TeacherClient, TeacherFailed

Progress = Callable[[str, int, int], Awaitable[None]]
T = TypeVar("T")


@dataclass
class PipelineResult:
    train: list[Pair]
    evaluation: list[Pair]
    generated: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # reason → pairs
    failures: Counter[str] = field(default_factory=Counter)  # teacher calls without a result
    refined: int = 0
    leakage_moved: int = 0

    def counts(self) -> dict[str, Any]:
        kept = len(self.train) + len(self.evaluation)
        return {
            "generated": self.generated,
            "kept": kept,
            "train": len(self.train),
            "eval": len(self.evaluation),
            "refined": self.refined,
            "dropped": dict(sorted(self.dropped.items())),
            "teacher_failures": dict(sorted(self.failures.items())),
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


class Pipeline:
    def __init__(self, spec: DatagenSpec, teacher: TeacherClient, progress: Progress):
        self.spec = spec
        self.teacher = teacher
        self.progress = progress
        self.result = PipelineResult([], [])

    async def _generate(self, index: int, chunk: Chunk) -> list[Pair]:
        source = " > ".join([chunk.document, *chunk.heading_path])
        prompt = prompts.generate_prompt(
            self.spec.language,
            self.spec.questions_per_chunk,
            chunk.text,
            source,
            self.spec.reasoning,
        )
        try:
            answer = await self.teacher.ask_json(prompt)
        except TeacherFailed as exc:
            self.result.failures[exc.reason] += 1
            return []
        items = answer.get("pairs")
        pairs = []
        for k, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict):
                self.result.dropped["malformed_pair"] += 1
                continue
            reasoning = item.get("reasoning")
            pairs.append(
                Pair(
                    id=f"pair-{index:05d}-{k:02d}",
                    question=str(item.get("question") or "").strip(),
                    answer=str(item.get("answer") or "").strip(),
                    document=chunk.document,
                    page=chunk.page,
                    heading_path=chunk.heading_path,
                    chunk_index=chunk.index,
                    reasoning=str(reasoning) if reasoning else None,
                )
            )
        return pairs[: self.spec.questions_per_chunk]

    async def _judge(self, pair: Pair, chunk: str) -> None:
        prompt = prompts.judge_prompt(self.spec.language, chunk, pair.question, pair.answer)
        try:
            verdict = await self.teacher.ask_json(prompt)
        except TeacherFailed as exc:
            self.result.failures[f"judge_{exc.reason}"] += 1
            return
        score = verdict.get("score")
        if isinstance(score, int | float) and 0 <= score <= 5:
            pair.score, pair.score_reason = float(score), str(verdict.get("reason") or "")

    async def _refine(self, pair: Pair, chunk: str) -> bool:
        """Rewrite a low-scored pair once; True if the rewrite passes the rules and scores."""
        prompt = prompts.refine_prompt(
            self.spec.language, chunk, pair.question, pair.answer, pair.score_reason or "low"
        )
        try:
            rewrite = await self.teacher.ask_json(prompt)
        except TeacherFailed as exc:
            self.result.failures[f"refine_{exc.reason}"] += 1
            return False
        question = str(rewrite.get("question") or "").strip()
        answer = str(rewrite.get("answer") or "").strip()
        if quality.rule_problem(question, answer, chunk, self.spec.language):
            return False
        pair.question, pair.answer, pair.score = question, answer, None
        await self._judge(pair, chunk)
        pair.refined = pair.score is not None and pair.score >= self.spec.min_score
        return pair.refined

    async def run(self, chunks: Sequence[Chunk]) -> PipelineResult:
        spec, result = self.spec, self.result
        generated = await _bounded(
            chunks, spec.concurrency, self._generate, self.progress, "generate"
        )
        texts = {pair.id: chunks[i].text for i, pairs in enumerate(generated) for pair in pairs}
        pairs: list[Pair] = [p for batch in generated for p in batch]
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
