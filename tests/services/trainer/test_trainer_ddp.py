"""The SFT and DPO recipes data-parallel: `torchrun` starts two ranks (gloo, CPU, one thread
each) on a tiny model; both finish with the same weights, the loss falls, and the adapter
matches a single process trained on the same global batches with the same seed."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from services.trainer.recipes.config import load_recipe

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]
TORCHRUN = Path(sys.executable).with_name("torchrun")
# Answers of very different lengths: the two ranks' shards of a step hold different numbers
# of labelled tokens, which is where a plain average of per-rank mean losses would go wrong.
ANSWERS = [
    "函。",
    "函是機關之間往來的公文，受文者、速別與發文字號都寫在文首。",
    "公告是對公眾宣布事項。",
    "速別 says how urgent a document is: 最速件, 速件 or 普通件.",
    "簽由承辦人寫給長官。",
    "正本 goes to the main recipient; 副本 goes to everyone who needs to know.",
    "副本。",
]
# 13 examples in steps of 4: the last step has one example, so rank 1 runs a zero-weighted one.
EXAMPLES = [(f"第{i}號問題是什麼？", ANSWERS[i % len(ANSWERS)]) for i in range(13)]


def write_dataset(path: Path) -> Path:
    lines = [
        json.dumps(
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]},
            ensure_ascii=False,
        )
        for q, a in EXAMPLES
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_preferences(path: Path) -> Path:
    """13 pairs: each answer preferred to the next one (of a different length)."""
    lines = [
        json.dumps(
            {
                "input": {"messages": [{"role": "user", "content": q}]},
                "preferred_output": [{"role": "assistant", "content": a}],
                "non_preferred_output": [
                    {"role": "assistant", "content": ANSWERS[(i + 1) % len(ANSWERS)]}
                ],
            },
            ensure_ascii=False,
        )
        for i, (q, a) in enumerate(EXAMPLES)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_config(base: Path, data: Path, output: Path, **more: object) -> Path:
    # fp32 frozen weights: with bf16 ("auto" on a CPU with bf16), each rank packs only its
    # shard, so rows differ in width and bf16 rounding differs from the single process;
    # Adam magnifies that on near-zero gradients (its first steps move every weight by about
    # ±lr), and adapters trained identically in exact arithmetic end up ~2e-2 apart.
    recipe = load_recipe("lora").model_copy(update={"dtype": "float32"})
    config = {
        "recipe": recipe.model_dump(mode="json"),
        "base_path": str(base),
        "output": str(output),
        "training_file": str(data),
        "validation_file": str(data),
        "n_epochs": 3,
        "batch_size": 4,  # global: two examples per rank per step
        "learning_rate": 5e-3,
        "seed": 7,
        "max_seq_length": 128,
        **more,
    }
    path = output.with_suffix(".json")
    path.write_text(json.dumps(config))
    return path


def start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        {
            "CUDA_VISIBLE_DEVICES": "",  # gloo on the CPU even where a GPU is present
            "OMP_NUM_THREADS": "1",  # one thread per rank: two ranks share a small machine
            "MKL_NUM_THREADS": "1",
        }
    )
    env.pop("WORLD_SIZE", None)  # the single process must not think it is a rank
    with log.open("wb") as handle:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=handle, stderr=handle)


def finish(proc: subprocess.Popen[bytes], log: Path) -> None:
    try:
        returncode = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    assert returncode == 0, log.read_text()[-4000:]


def epoch_losses(output: Path, column: str = "epoch_train_loss") -> list[float]:
    with (output / "step_metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return [float(r[column]) for r in rows if r[column]]


def run_both(tmp_path: Path, ddp_config: Path, single_config: Path) -> None:
    """Two ranks under torchrun and a single process, side by side."""
    entry = ["-m", "services.trainer.distributed", "--write-digests", "--config"]
    ddp = start(
        [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", *entry, str(ddp_config)],
        tmp_path / "ddp.log",
    )
    single = start([sys.executable, *entry, str(single_config)], tmp_path / "single.log")
    finish(ddp, tmp_path / "ddp.log")  # torchrun exits 0 only when every rank did
    finish(single, tmp_path / "single.log")


def test_two_ranks_agree_and_match_one_process(tiny_base: Path, tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "train.jsonl")
    ddp_out, single_out = tmp_path / "ddp", tmp_path / "single"
    run_both(
        tmp_path, write_config(tiny_base, data, ddp_out), write_config(tiny_base, data, single_out)
    )

    adapter = ddp_out / "final" / "adapter_model.safetensors"
    assert adapter.is_file()
    assert [p.name for p in sorted(ddp_out.glob("ckpt-*"))] == ["ckpt-1", "ckpt-2", "ckpt-3"]
    assert not (ddp_out / "state").exists(), "state is removed once finished"
    digests = [(ddp_out / f"rank-{r}.sha256").read_text().strip() for r in (0, 1)]
    assert len(digests[0]) == 64 and digests[0] == digests[1], "the ranks' weights diverged"

    losses = epoch_losses(ddp_out)
    assert len(losses) == 3 and losses[0] > losses[1] > losses[2], losses
    assert losses[-1] < losses[0] * 0.7, losses
    assert epoch_losses(single_out) == pytest.approx(losses, rel=1e-4)

    # Each rank's mean loss is weighted by its share of the step's labelled tokens before
    # DDP averages the gradients, so two ranks optimise exactly the single process's mean
    # over the whole step; only the order of float additions differs (~1e-5 here).
    expected = load_file(single_out / "final" / "adapter_model.safetensors")
    actual = load_file(adapter)
    assert expected.keys() == actual.keys()
    for name, tensor in expected.items():
        assert torch.allclose(tensor, actual[name], atol=1e-4), name


def test_dpo_two_ranks_agree_and_match_one_process(tiny_base: Path, tmp_path: Path) -> None:
    data = write_preferences(tmp_path / "pairs.jsonl")
    ddp_out, single_out = tmp_path / "ddp", tmp_path / "single"
    dpo = {"method": "dpo", "beta": 0.1, "learning_rate": 2e-3}
    run_both(
        tmp_path,
        write_config(tiny_base, data, ddp_out, **dpo),
        write_config(tiny_base, data, single_out, **dpo),
    )
    digests = [(ddp_out / f"rank-{r}.sha256").read_text().strip() for r in (0, 1)]
    assert digests[0] == digests[1], "the ranks' weights diverged"
    margins = epoch_losses(ddp_out, "epoch_valid_reward_margin")
    assert len(margins) == 3 and 0 < margins[0] < margins[-1], margins
    assert epoch_losses(single_out, "epoch_valid_reward_margin") == pytest.approx(margins, rel=1e-4)
    assert epoch_losses(single_out) == pytest.approx(epoch_losses(ddp_out), rel=1e-4)
    # The preference loss is weighted by each rank's share of the step's pairs and the SFT
    # term by its share of the chosen tokens: the single process's objective.
    expected = load_file(single_out / "final" / "adapter_model.safetensors")
    actual = load_file(ddp_out / "final" / "adapter_model.safetensors")
    for name, tensor in expected.items():
        assert torch.allclose(tensor, actual[name], atol=1e-4), name
