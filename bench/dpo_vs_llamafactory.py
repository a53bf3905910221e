"""Tuneloop's DPO vs LLaMA-Factory 0.9.5's (`stage: dpo`, TRL's DPOTrainer): the same LoRA
preference job, one after the other.

SmolLM2-135M, LoRA r16/alpha 32 on every linear layer, sigmoid loss with beta 0.1, the
reference being the base with the adapter switched off in both, and the recipe's SFT term on
the preferred answers (LLaMA-Factory's `pref_ftx`; `--sft-weight 0` compares DPO alone).
The pairs are built from the gongwen sample: each question's own answer preferred to another
question's answer. The same pairs in the same order (Tuneloop's seeded shuffle, written out
for LLaMA-Factory, which runs with `disable_shuffling`), sequence length, batch, steps, lr,
cosine schedule, warmup, seed.
Tokens/s: non-padding tokens of the steps' chosen and rejected sequences ÷ wall time of the
training steps (loading and saving excluded). LLaMA-Factory's venv, the quiet-CPU wait and
the step timing are `trainer_vs_llamafactory.py`'s.

    .venv/bin/python bench/dpo_vs_llamafactory.py [--steps 20 --batch 4 --seq-len 256]
        [--quick] [--sft-weight W] [--wait 900]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

from _common import ROOT, loadavg, machine, say, show
from trainer_vs_llamafactory import (
    DATA,
    LF_PY,
    LF_RUN,
    install_llamafactory,
    measured,
    probe,
)

BETA = 0.1


def preference_records(n: int) -> list[dict[str, str]]:
    """`n` pairs: a gongwen question, its own answer preferred to the next question's."""
    from tuneloop_core.datasets.reader import read_dataset

    turns = [c.turns for c in read_dataset(DATA).conversations]
    records = []
    for i in range(n):
        (user, answer), (_, other) = turns[i % len(turns)], turns[(i + 1) % len(turns)]
        records.append(
            {"instruction": user.content, "chosen": answer.content, "rejected": other.content}
        )
    return records


def run_tuneloop(args: argparse.Namespace, records: list[dict[str, str]], work: Path) -> dict:
    """Trains with DpoRecipe (one epoch over exactly steps × batch pairs)."""
    from services.trainer.dpo import DpoRecipe
    from services.trainer.recipes.config import load_recipe
    from services.trainer.run import RunSettings
    from tuneloop_core.datasets.conversation import PreferencePair, Role, Turn

    class Hooks:
        def __init__(self) -> None:
            self.losses: list[float] = []
            self.margins: list[float] = []
            self.marks: list[tuple[float, float, float]] = []

        def on_step(self, progress: object, epoch: float, metrics: dict[str, float]) -> None:
            self.marks.append(probe())
            self.losses.append(metrics["train_loss"])
            self.margins.append(metrics["reward_margin"])

        def on_epoch(self, *args: object) -> None: ...
        def stop_requested(self) -> None: ...
        def warn(self, message: str) -> None:
            say(f"tuneloop warning: {message}")

    pairs = [
        PreferencePair((Turn(Role.USER, r["instruction"]),), r["chosen"], r["rejected"])
        for r in records
    ]
    recipe = load_recipe("lora")
    preference = recipe.preference.model_copy(update={"sft_weight": args.sft_weight})
    recipe = recipe.model_copy(update={"preference": preference})
    settings = RunSettings(
        recipe, args.model, work / "tuneloop", 1, args.batch, args.lr, args.seed,
        args.seq_len,
    )  # fmt: skip
    hooks = Hooks()
    dpo = DpoRecipe(settings, pairs, [], hooks, BETA)
    dpo.setup()
    assert dpo.n_train == len(records), "every pair must be trained on"
    hooks.marks.append(probe())
    dpo.train()
    order = dpo._epoch_order(0)
    result = {
        "name": "Tuneloop",
        "losses": hooks.losses,
        "margins": hooks.margins,
        "marks": hooks.marks,
        "order": order,
        "tokens": [dpo.train_examples[i].tokens for i in order],
    }
    dpo.cleanup(keep_state=False)
    return result


def run_llamafactory(
    args: argparse.Namespace, records: list[dict[str, str]], order: list[int], work: Path
) -> dict:
    """LLaMA-Factory's DPO on the pairs in Tuneloop's order, no shuffling."""
    data = work / "data"
    data.mkdir()
    (data / "prefs.json").write_text(json.dumps([records[i] for i in order], ensure_ascii=False))
    columns = {"prompt": "instruction", "chosen": "chosen", "rejected": "rejected"}
    info = {"prefs": {"file_name": "prefs.json", "ranking": True, "columns": columns}}
    (data / "dataset_info.json").write_text(json.dumps(info))
    output = work / "llamafactory"
    config = {
        "model_name_or_path": str(args.model), "stage": "dpo", "do_train": True,
        "finetuning_type": "lora", "lora_rank": 16, "lora_alpha": 32, "lora_dropout": 0.0,
        "lora_target": "all", "pref_beta": BETA, "pref_loss": "sigmoid",
        "pref_ftx": args.sft_weight,  # the recipe's SFT term on the preferred answers
        "dataset_dir": str(data), "dataset": "prefs", "template": "smollm2",
        "default_system": "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
        "cutoff_len": args.seq_len, "disable_shuffling": True,
        "per_device_train_batch_size": args.batch, "gradient_accumulation_steps": 1,
        "max_steps": args.steps, "learning_rate": args.lr, "lr_scheduler_type": "cosine",
        "warmup_steps": int(args.steps * 0.05), "seed": args.seed, "bf16": True,
        "use_cpu": True, "logging_steps": 1, "save_strategy": "no", "report_to": "none",
        "output_dir": str(output), "overwrite_output_dir": True,
    }  # fmt: skip
    (work / "config.yaml").write_text(json.dumps(config, indent=1))  # JSON is YAML
    log, marks = work / "llamafactory.log", work / "marks.json"
    env = {**os.environ, "DISABLE_VERSION_CHECK": "1", "OMP_NUM_THREADS": str(os.cpu_count())}
    env.pop("VIRTUAL_ENV", None)
    command = [LF_PY, "-c", LF_RUN, work / "config.yaml", marks]
    with log.open("w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=work)
    if done.returncode != 0:
        raise SystemExit(f"LLaMA-Factory failed; the end of {log}:\n" + log.read_text()[-4000:])
    state = json.loads((output / "trainer_state.json").read_text())
    steps = [e for e in state["log_history"] if "loss" in e]
    return {
        "name": "LLaMA-Factory",
        "losses": [e["loss"] for e in steps],
        "margins": [e.get("rewards/margins", float("nan")) for e in steps],
        "marks": json.loads(marks.read_text()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="4 steps")
    parser.add_argument(
        "--sft-weight", type=float, default=None, help="SFT term (default: the recipe's)"
    )
    parser.add_argument("--wait", type=float, default=900, help="most s to wait for quiet")
    parser.add_argument("--model", type=Path, default=ROOT / ".cache" / "models" / "smollm2-135m")
    args = parser.parse_args()
    args.steps = 4 if args.quick else args.steps
    from services.trainer.recipes.config import load_recipe

    recipe = load_recipe("lora")
    if args.sft_weight is None:
        args.sft_weight = recipe.preference.sft_weight
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    install_seconds = install_llamafactory()
    load_before = loadavg()
    say(f"machine: {machine()}")
    records = preference_records(args.steps * args.batch)
    with tempfile.TemporaryDirectory(prefix="dpo-vs-lf-") as tmp:
        say(f"Tuneloop DPO: {args.steps} steps × {args.batch} pairs, seq len {args.seq_len}")
        tl = measured(run_tuneloop, args, records, Path(tmp))
        say(f"LLaMA-Factory DPO: the same {len(records)} pairs in the same order")
        lf = measured(run_llamafactory, args, records, tl["order"], Path(tmp))
    step_tokens = [
        sum(tl["tokens"][s * args.batch : (s + 1) * args.batch]) for s in range(args.steps)
    ]
    rows, speed = [], {}
    for r in (tl, lf):
        total = sum(step_tokens) / sum(r["step_s"])
        quiet = [k for k, share in enumerate(r["others"]) if share < 0.1]
        calm = (
            sum(step_tokens[k] for k in quiet) / sum(r["step_s"][k] for k in quiet) if quiet else 0
        )
        speed[r["name"]] = (total, calm)
        rows.append([
            r["name"], sum(step_tokens), f"{sum(r['step_s']):.1f}", f"{total:.0f}",
            f"{statistics.mean(r['others']):.0%}", len(quiet), f"{calm:.0f}",
            f"{r['losses'][-1]:.4f}", f"{r['margins'][-1]:.4f}",
        ])  # fmt: skip
    ratio = [
        a / b if b else 0 for a, b in zip(speed["Tuneloop"], speed["LLaMA-Factory"], strict=True)
    ]
    show(
        f"LoRA DPO, SmolLM2-135M, {args.steps} steps × {args.batch} pairs, seq len "
        f"{args.seq_len}: Tuneloop / LLaMA-Factory = {ratio[0]:.2f}× "
        f"(quiet steps: {ratio[1]:.2f}×)",
        ["trainer", "tokens", "train s", "tokens/s", "others' CPU", "quiet steps",
         "quiet tok/s", "last loss", "last reward margin"],
        rows,
    )  # fmt: skip
    marks = sorted({1, *range(5, args.steps + 1, 5), args.steps})
    show(
        "DPO loss at step",
        ["step", "Tuneloop", "LLaMA-Factory", "difference"],
        [[s, f"{tl['losses'][s - 1]:.4f}", f"{lf['losses'][s - 1]:.4f}",
          f"{tl['losses'][s - 1] - lf['losses'][s - 1]:+.4f}"] for s in marks],
    )  # fmt: skip
    gaps = [abs(a - b) for a, b in zip(tl["losses"], lf["losses"], strict=True)]
    say(f"loss curves: max |difference| {max(gaps):.4f}, mean {statistics.mean(gaps):.4f}")
    say(f"load average before {load_before}, after {loadavg()}; install {install_seconds:.0f} s")


if __name__ == "__main__":
    main()
