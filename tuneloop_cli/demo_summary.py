"""What `tuneloop demo` prints at the end: the numbers, the verdict in plain words, where
the report and the GGUF are, and how to chat with the tuned model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tuneloop_cli.demo_steps import DemoScale

# The demo's target for the held-out gain, in ROUGE-L points over the base. Short of it
# the run still succeeds when tuning helped at all; the verdict says by how much it fell short.
TARGET_GAIN = 20.0


def _metric(row: dict[str, Any], name: str) -> float | None:
    value = (row.get("metrics") or {}).get(name)
    return float(value) if isinstance(value, int | float) else None


def _count(value: Any) -> int | str:
    """A count from a job result (JSON numbers may come back as floats)."""
    return int(value) if isinstance(value, int | float) else "?"


def _shown(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


@dataclass
class Summary:
    url: str
    key: str
    scale: DemoScale
    datagen: dict[str, Any]
    tuned: dict[str, Any]
    evaluation: dict[str, Any]
    comparison: dict[str, Any]
    export: dict[str, Any]
    report: Path
    reference_pairs: int = 0
    generated_pairs: int = 0

    @property
    def base_row(self) -> dict[str, Any]:
        return next(r for r in self.evaluation["matrix"] if r["is_base"])

    @property
    def best_row(self) -> dict[str, Any]:
        tuned = [r for r in self.evaluation["matrix"] if not r["is_base"]]
        best = self.evaluation.get("best_model")
        return next((r for r in tuned if r["model"] == best), tuned[-1])

    def gain(self) -> float:
        best, base = _metric(self.best_row, "rouge-l"), _metric(self.base_row, "rouge-l")
        return (best or 0.0) - (base or 0.0)

    def helped(self) -> bool:
        """The tuned model answers the held-out questions better than the base."""
        return self.gain() > 0

    def verdict(self) -> str:
        gain, best = self.gain(), self.best_row
        epoch = f"epoch {best['epoch']}" if best.get("epoch") else best["model"]
        told = (
            f"Tuning helped: the best checkpoint ({epoch}) answers the held-out, "
            f"differently worded questions {gain:+.1f} ROUGE-L points better than the base model"
        )
        if gain >= TARGET_GAIN:
            return f"{told} (the target is +{TARGET_GAIN:.0f})."
        why = (
            f"this was the '{self.scale.name}' run, which trains on a slice of the sample to "
            "test the code path; run `make demo` without CI=true for the full run"
            if self.scale.name != "full"
            else "the model did not learn the facts well enough in the epochs the demo "
            "recipe allows; see the report's loss curve and the suggestions"
        )
        if self.helped():
            return f"{told}, short of the +{TARGET_GAIN:.0f} target: {why}."
        return f"Tuning did not help ({gain:+.1f} ROUGE-L points against the base): {why}."

    def print(self, out: Console, elapsed_s: float) -> None:
        minutes, seconds = divmod(int(elapsed_s), 60)
        out.rule(f"Tuneloop demo ({self.scale.name}) finished in {minutes}m{seconds:02d}s")
        self._print_data(out)
        self._print_matrix(out)
        out.print(f"[bold]Verdict[/bold]   {self.verdict()}", soft_wrap=True)
        out.print(f"[bold]Evaluator[/bold] {self.evaluation.get('verdict', '')}", soft_wrap=True)
        for suggestion in self.evaluation.get("suggestions") or []:
            out.print(f"          • {suggestion}", soft_wrap=True)
        out.print(f"[bold]Report[/bold]    {self.report}", soft_wrap=True)
        self._print_comparison(out)
        self._print_export(out)
        self._print_chat(out)

    def _print_data(self, out: Console) -> None:
        result = self.datagen.get("result") or {}
        counts = result.get("counts") or {}
        failures = {k: int(v) for k, v in (counts.get("teacher_failures") or {}).items() if v}
        out.print(
            f"[bold]Data[/bold]      datagen {self.datagen['id']}: "
            f"{_count(counts.get('kept'))} Q&A pairs kept of {_count(counts.get('generated'))} "
            f"generated ({_count(counts.get('train'))} train, {_count(counts.get('eval'))} "
            f"eval; scored by {counts.get('scorer', 'judge')}, "
            f"{_count((counts.get('dropped') or {}).get('low_score', 0))} scored below the bar); "
            f"format failures {_count(counts.get('format_failures', 0))}"
            f"{f', other teacher failures {failures}' if failures else ''}",
            soft_wrap=True,
        )
        out.print(
            f"[bold]Training[/bold]  {self.tuned['id']}: {self.reference_pairs} reference pairs + "
            f"{self.generated_pairs} generated pairs, "
            f"{self.tuned['hyperparameters']['n_epochs']} epochs → "
            f"{self.tuned.get('fine_tuned_model')}",
            soft_wrap=True,
        )
        judge = self.evaluation.get("judge") or {}
        if judge:
            out.print(
                f"[bold]Judge[/bold]     {judge.get('model')} gave a readable score for "
                f"{_shown(judge.get('parse_rate'), 0)} % of answers (held to a JSON schema)",
                soft_wrap=True,
            )

    def _print_matrix(self, out: Console) -> None:
        n = len(self.evaluation.get("examples") or []) or "the"
        scoring = self.evaluation.get("scoring")  # how BLEU-4 and ROUGE were computed
        table = Table(
            title=f"Held-out paraphrases ({n} questions never seen in training)",
            caption=f"scoring: {scoring}" if scoring else None,
        )
        for column in ("model", "ROUGE-L", "BLEU-4", "exact match", "judge (1–10)"):
            table.add_column(column, justify="left" if column == "model" else "right")
        best = self.evaluation.get("best_model") or self.best_row["model"]
        for row in self.evaluation["matrix"]:
            label = row.get("label") or row["model"]
            table.add_row(
                f"{label}{' ★' if row['model'] == best else ''}",
                _shown(_metric(row, "rouge-l")),
                _shown(_metric(row, "bleu-4")),
                _shown(_metric(row, "exact_match")),
                _shown(row.get("judge_mean")),
            )
        out.print(table)

    def _print_comparison(self, out: Console) -> None:
        rows = self.comparison.get("rows") or []
        out.print(
            f"[bold]Side by side[/bold] {self.comparison['id']} (votes: "
            f"{self.comparison.get('votes_by_model')})",
            soft_wrap=True,
        )
        for row in rows[:2]:
            out.print(f"  Q: {row['question']}", soft_wrap=True, markup=False)
            for answer in row["answers"]:
                text = " ".join(answer["text"].split())[:120]
                out.print(f"    {answer['model']}: {text}", soft_wrap=True, markup=False)

    def _print_export(self, out: Console) -> None:
        result = self.export.get("result") or {}
        drift = result.get("drift") or {}
        gguf = result.get("gguf") or {}
        out.print(
            f"[bold]Export[/bold]    {gguf.get('filename')} ({result.get('quantization')}, "
            f"{(gguf.get('bytes') or 0) / 2**20:.0f} MiB); ROUGE-L drift vs full precision "
            f"{_shown(drift.get('rouge_l_drift'))} points"
            f"{' — ' + drift['advice'] if drift.get('advice') else ''}",
            soft_wrap=True,
        )
        if result.get("choice"):
            out.print(f"          {result['choice']}", soft_wrap=True, markup=False)
        out.print(f"          {result.get('ollama_create_command')}", soft_wrap=True)

    def _print_chat(self, out: Console) -> None:
        model = self.best_row["model"]
        out.print("[bold]Chat with it[/bold]", soft_wrap=True)
        out.print(
            f"  OpenAI SDK: python -c \"import openai; c = openai.OpenAI(base_url='{self.url}/v1', "
            f"api_key='{self.key}'); print(c.chat.completions.create(model='{model}', "
            "messages=[{'role': 'user', 'content': '公文的主旨怎麼寫？'}])"
            '.choices[0].message.content)"',
            soft_wrap=True,
            markup=False,
        )
        out.print(
            f"  Open WebUI: Admin settings → Connections → OpenAI API: URL {self.url}/v1, "
            f"key {self.key}; then pick the model {model}",
            soft_wrap=True,
            markup=False,
        )
