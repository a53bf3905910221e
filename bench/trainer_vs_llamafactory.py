"""Tuneloop's trainer vs LLaMA-Factory 0.9.5: the same LoRA SFT job, one after the other.

SmolLM2-135M, gongwen (Alpaca), LoRA r16/alpha 32 on every linear layer; the same examples
in the same order (Tuneloop's seeded shuffle, written out for LLaMA-Factory, which runs with
`disable_shuffling`), sequence length, batch, steps, lr, cosine schedule, warmup and seed.
Tokens/s: non-padding input tokens of the steps' examples ÷ wall time of the training steps
(loading and saving excluded; LLaMA-Factory's steps are timed by a callback given to the
`run_exp` that `llamafactory-cli train config.yaml` runs). LLaMA-Factory gets its own venv
(`.cache/llamafactory-venv`, installed on first use). Each run waits for a quiet CPU first;
"others' CPU" is the share that other processes took during it.

    .venv/bin/python bench/trainer_vs_llamafactory.py [--steps 30 --batch 8 --seq-len 256]
        [--quick] [--fp32] [--lf KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import csv
import inspect
import itertools
import json
import os
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import BENCH, ROOT, loadavg, machine, say, show

VENV = ROOT / ".cache" / "llamafactory-venv"
LF_PY = VENV / "bin" / "python"
DATA = ROOT / "samples" / "gongwen" / "train.json"
RESULTS = BENCH / "results"
CHECK = "import llamafactory, torchaudio; assert llamafactory.__version__ == '0.9.5'"


def probe() -> tuple[float, float, float]:
    """(time, busy CPU seconds of the whole machine, CPU seconds of this process)."""
    ticks = [int(x) for x in open("/proc/stat").readline().split()[1:]]  # noqa: SIM115
    busy = (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # not idle/iowait
    own = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), busy, own.ru_utime + own.ru_stime


def others(a: Sequence[float], b: Sequence[float]) -> float:
    """The share of the CPU that other processes used between two probes."""
    return ((b[1] - a[1]) - (b[2] - a[2])) / (os.cpu_count() or 1) / (b[0] - a[0])


LF_RUN = (
    "import json, os, resource, sys, time\n"
    + inspect.getsource(probe)
    + """
from transformers import TrainerCallback
from llamafactory.train.tuner import run_exp
marks, out = [], sys.argv.pop(2)
class Timer(TrainerCallback):
    def on_train_begin(self, *args, **kwargs): marks.append(probe())
    def on_step_end(self, *args, **kwargs): marks.append(probe())
run_exp(callbacks=[Timer()])  # reads the YAML named by sys.argv[1], as llamafactory-cli does
open(out, "w").write(json.dumps(marks))
"""
)


def install_llamafactory() -> float:
    """Creates the LLaMA-Factory virtualenv when missing; returns the seconds it took."""
    if LF_PY.exists() and subprocess.run([LF_PY, "-c", CHECK], capture_output=True).returncode == 0:
        say(f"LLaMA-Factory 0.9.5 already in {VENV}")
        return 0.0
    started = time.perf_counter()
    if not LF_PY.exists():
        say(f"creating {VENV}")
        subprocess.run(["python3", "-m", "venv", VENV], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("torch==2.13.0\n")
        say("pip install llamafactory==0.9.5 (about 3 minutes)")
        pip = [LF_PY, "-m", "pip", "install", "-q", "llamafactory==0.9.5", "-c", constraints]
        subprocess.run(pip, check=True)
    subprocess.run([LF_PY, "-m", "pip", "uninstall", "-y", "torchvision", "torchaudio"], check=True)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([LF_PY, "-c", purelib], capture_output=True, text=True, check=True)
    stub = Path(site.stdout.strip()) / "torchaudio"  # llamafactory's mm_plugin imports it
    stub.mkdir(exist_ok=True)
    (stub / "__init__.py").write_text('__version__ = "0.0.0"\n')
    subprocess.run([LF_PY, "-c", CHECK], check=True)
    seconds = time.perf_counter() - started
    say(f"LLaMA-Factory installed in {seconds:.0f} s")
    return seconds


def matmul_probe(dtype_name: str, n: int = 2048, reps: int = 20) -> float:
    """FLOP/s of an n×n×n torch.matmul in `dtype_name` (best of `reps`)."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        torch.matmul(a, b)
    best = float("inf")
    for _ in range(reps):
        started = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best


def wait_quiet(limit_s: float) -> None:
    """Waits (up to `limit_s`) until other processes use under 10 % of the CPU for 5 s."""
    deadline = time.monotonic() + limit_s
    while True:
        start = probe()
        time.sleep(5)
        share = others(start, probe())
        if share < 0.1 or time.monotonic() > deadline:
            return say(f"{'quiet' if share < 0.1 else 'still busy'}: others use {share:.0%}")
        say(f"waiting for a quiet CPU: others use {share:.0%}")


def run_tuneloop(args: argparse.Namespace, records: list[dict[str, str]], work: Path) -> dict:
    """Trains with SftRecipe (one epoch over exactly steps × batch examples)."""
    from services.trainer.data import pack
    from services.trainer.recipes.config import load_recipe
    from services.trainer.run import RunSettings, SftRecipe
    from tuneloop_core.datasets.conversation import Turn

    class Hooks:
        def __init__(self) -> None:
            self.losses: list[float] = []
            self.marks: list[tuple[float, float, float]] = []

        def on_step(self, progress: object, epoch: float, metrics: dict[str, float]) -> None:
            self.marks.append(probe())
            self.losses.append(metrics["train_loss"])

        def on_epoch(self, *args: object) -> None: ...
        def stop_requested(self) -> None: ...
        def warn(self, message: str) -> None:
            say(f"tuneloop warning: {message}")

    recipe = load_recipe("lora")
    if args.fp32:
        recipe = recipe.model_copy(update={"dtype": "float32"})
    turns = [[Turn("user", r["instruction"]), Turn("assistant", r["output"])] for r in records]
    settings = RunSettings(
        recipe, args.model, work / "tuneloop", 1, args.batch, args.lr, args.seed, args.seq_len
    )
    hooks = Hooks()
    sft = SftRecipe(settings, turns, [], hooks)
    sft.setup()
    assert len(sft.train_examples) == len(records) and sft.steps_per_epoch == args.steps
    hooks.marks.append(probe())
    sft.train()
    examples, order, b = sft.train_examples, sft._epoch_order(0), args.batch
    steps = [[examples[i] for i in order[k : k + b]] for k in range(0, len(order), b)]
    packed = [pack(step, sft.settings.recipe.data.packing) for step in steps]
    result = {
        "name": "Tuneloop",
        "dtype": str(sft.dtype).removeprefix("torch."),
        "losses": hooks.losses,
        "marks": hooks.marks,
        "order": order,  # the seeded shuffle LLaMA-Factory is given
        "positions": sum(len(p.input_ids) * p.width for p in packed),  # padding included
        "ids": [e.input_ids for e in examples],
        "labels": [e.labels for e in examples],
        "params": sum(p.numel() for n, p in sft.model.named_parameters() if "lora_" not in n),
    }
    sft.cleanup(keep_state=False)
    return result


def run_llamafactory(args: argparse.Namespace, records: list[dict], order: list[int], work: Path):
    """LLaMA-Factory's SFT on the examples in Tuneloop's order, no shuffling."""
    data = work / "data"
    data.mkdir()
    (data / "gongwen.json").write_text(json.dumps([records[i] for i in order], ensure_ascii=False))
    info = {"gongwen": {"file_name": "gongwen.json"}}  # alpaca formatting, default columns
    (data / "dataset_info.json").write_text(json.dumps(info))
    output = work / "llamafactory"
    config = {
        "model_name_or_path": str(args.model), "stage": "sft", "do_train": True,
        "finetuning_type": "lora", "lora_rank": 16, "lora_alpha": 32, "lora_dropout": 0.0,
        "lora_target": "all", "dataset_dir": str(data), "dataset": "gongwen",
        # SmolLM2's ChatML with the system prompt its chat template adds (no final period)
        "template": "smollm2",
        "default_system": "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
        "cutoff_len": args.seq_len, "disable_shuffling": True,
        "tokenized_path": str(work / "lf_tokenized"),  # saved; compared with Tuneloop's below
        "per_device_train_batch_size": args.batch, "gradient_accumulation_steps": 1,
        "max_steps": args.steps, "learning_rate": args.lr, "lr_scheduler_type": "cosine",
        "warmup_steps": int(args.steps * 0.05),  # Tuneloop: int(total × warmup_ratio 0.05)
        "seed": args.seed, "bf16": not args.fp32,
        "use_cpu": True,  # transformers refuses bf16 on CPU without it
        "logging_steps": 1, "save_strategy": "no", "report_to": "none",
        "output_dir": str(output), "overwrite_output_dir": True,
    }  # fmt: skip
    for item in args.lf:
        key, value = item.split("=", 1)
        config[key] = json.loads(value) if value[:1] in "tf0123456789[{" else value
    (work / "config.yaml").write_text(json.dumps(config, indent=1))  # JSON is YAML
    log, marks = work / "llamafactory.log", work / "marks.json"
    env = {**os.environ, "DISABLE_VERSION_CHECK": "1", "OMP_NUM_THREADS": str(os.cpu_count())}
    env.pop("VIRTUAL_ENV", None)
    command = [LF_PY, "-c", LF_RUN, work / "config.yaml", marks]
    with log.open("w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=work)
    if done.returncode != 0:
        raise SystemExit(f"LLaMA-Factory failed; the end of {log}:\n" + log.read_text()[-4000:])
    for line in log.read_text().splitlines():  # what LLaMA-Factory chose by itself
        if any(k in line for k in ("checkpointing", "SDPA", "Upcasting", "compute dtype")):
            say("  llamafactory: " + line.split(" >> ")[-1])
    state = json.loads((output / "trainer_state.json").read_text())
    import datasets

    tokenized = datasets.load_from_disk(str(work / "lf_tokenized"))["train"]
    return {
        "name": "LLaMA-Factory",
        "dtype": "bfloat16 (+autocast)" if not args.fp32 else "float32",
        "losses": [e["loss"] for e in state["log_history"] if "loss" in e],
        "marks": json.loads(marks.read_text()),
        "ids": tokenized["input_ids"],
        "labels": tokenized["labels"],
    }


def measured(run: Callable[..., dict], args: argparse.Namespace, *inputs: Any) -> dict:
    """Runs one trainer after waiting for quiet; adds step times and others' CPU per step."""
    wait_quiet(args.wait)
    result = run(args, *inputs)
    pairs = list(itertools.pairwise(result["marks"]))
    result["step_s"] = [b[0] - a[0] for a, b in pairs]
    result["others"] = [others(a, b) for a, b in pairs]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="5 steps")
    parser.add_argument("--fp32", action="store_true", help="both in float32 (default bf16)")
    parser.add_argument("--lf", action="append", default=[], help="extra LLaMA-Factory KEY=VALUE")
    parser.add_argument("--wait", type=float, default=900, help="most s to wait for quiet")
    parser.add_argument("--model", type=Path, default=ROOT / ".cache" / "models" / "smollm2-135m")
    args = parser.parse_args()
    args.steps = 5 if args.quick else args.steps
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    install_seconds = install_llamafactory()
    load_before = loadavg()
    wait_quiet(args.wait)
    say(f"machine: {machine()}")
    peak = {name: matmul_probe(name) for name in ("bfloat16", "float32")}
    say("matmul: " + ", ".join(f"{k} {v / 1e12:.3f} TFLOP/s" for k, v in peak.items()))

    from tuneloop_core.datasets.reader import read_dataset

    pairs = [c.turns for c in read_dataset(DATA).conversations]
    chosen = [pairs[i % len(pairs)] for i in range(args.steps * args.batch)]
    records = [{"instruction": u.content, "input": "", "output": a.content} for u, a in chosen]
    with tempfile.TemporaryDirectory(prefix="trainer-vs-lf-") as tmp:
        say(f"Tuneloop: {args.steps} steps × batch {args.batch}, seq len {args.seq_len}")
        tl = measured(run_tuneloop, args, records, Path(tmp))
        say(f"LLaMA-Factory: the same {len(records)} examples in the same order")
        lf = measured(run_llamafactory, args, records, tl["order"], Path(tmp))
    load_after = loadavg()
    order = tl["order"]
    same = sum(tl["ids"][i] == lf["ids"][k] and tl["labels"][i] == lf["labels"][k]
               for k, i in enumerate(order))  # fmt: skip
    say(f"template check: {same}/{len(records)} examples tokenize to identical ids and labels")
    step_tokens = [
        sum(len(tl["ids"][i]) for i in order[s * args.batch : (s + 1) * args.batch])
        for s in range(args.steps)
    ]
    lf_rows = [lf["ids"][k : k + args.batch] for k in range(0, len(records), args.batch)]
    lf["positions"] = sum(len(r) * -(-max(map(len, r)) // 8) * 8 for r in lf_rows)  # pad to 8
    params = tl["params"]
    rows, speed = [], {}
    for r in (tl, lf):
        quiet = [k for k, share in enumerate(r["others"]) if share < 0.1]
        total = sum(step_tokens) / sum(r["step_s"])
        calm = (
            sum(step_tokens[k] for k in quiet) / sum(r["step_s"][k] for k in quiet) if quiet else 0
        )
        speed[r["name"]] = (total, calm)
        rows.append([
            r["name"], r["dtype"], sum(step_tokens), r["positions"], f"{sum(r['step_s']):.1f}",
            f"{total:.0f}", f"{statistics.mean(r['others']):.0%}", len(quiet), f"{calm:.0f}",
            f"{6 * params * calm / 1e12:.3f}", f"{4 * params * calm / peak['bfloat16']:.1%}",
            f"{4 * params * calm / peak['float32']:.1%}",
        ])  # fmt: skip
    ratio = [
        a / b if b else 0 for a, b in zip(speed["Tuneloop"], speed["LLaMA-Factory"], strict=True)
    ]
    show(
        f"LoRA SFT, SmolLM2-135M ({params / 1e6:.1f} M params), {args.steps} steps × batch "
        f"{args.batch}, seq len {args.seq_len}: Tuneloop / LLaMA-Factory = {ratio[0]:.2f}× "
        f"(quiet steps: {ratio[1]:.2f}×)",
        ["trainer", "frozen weights", "tokens", "positions", "train s", "tokens/s",
         "others' CPU", "quiet steps", "quiet tok/s", "quiet TFLOP/s (6·P)",
         "of bf16 floor (4·P)", "of fp32 floor (4·P)"],
        rows,
    )  # fmt: skip
    marks = sorted({1, *range(10, args.steps + 1, 10), args.steps})
    show(
        "train loss (mean over assistant tokens) at step",
        ["step", "Tuneloop", "LLaMA-Factory", "difference"],
        [[s, f"{tl['losses'][s - 1]:.4f}", f"{lf['losses'][s - 1]:.4f}",
          f"{tl['losses'][s - 1] - lf['losses'][s - 1]:+.4f}"] for s in marks],
    )  # fmt: skip
    gaps = [abs(a - b) for a, b in zip(tl["losses"], lf["losses"], strict=True)]
    say(f"loss curves: max |difference| {max(gaps):.4f}, mean {statistics.mean(gaps):.4f}")
    say(f"load average before {load_before}, after {load_after}; install {install_seconds:.0f} s")
    RESULTS.mkdir(exist_ok=True)
    tags = ["fp32"] * args.fp32 + [item.split("=")[0] for item in args.lf]
    stem = RESULTS / "_".join(["trainer_losses", *tags])
    with stem.with_suffix(".csv").open("w", newline="") as f:
        columns = {"step": list(range(1, args.steps + 1)), "tokens": step_tokens}
        for r, tag in ((tl, "tuneloop"), (lf, "llamafactory")):
            columns |= {f"{tag}_loss": r["losses"], f"{tag}_s": r["step_s"]}
            columns |= {f"{tag}_others_cpu": r["others"]}
        csv.writer(f).writerows([list(columns), *zip(*columns.values(), strict=True)])
    say(f"loss curves and step times: {stem.with_suffix('.csv')}")
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        say("matplotlib is not installed: no plot")
        return
    plt.plot(range(1, args.steps + 1), tl["losses"], label="Tuneloop")
    plt.plot(range(1, args.steps + 1), lf["losses"], label="LLaMA-Factory")
    plt.xlabel("step")
    plt.ylabel("train loss")
    plt.legend()
    plt.savefig(stem.with_suffix(".png"), dpi=100)


if __name__ == "__main__":
    main()
