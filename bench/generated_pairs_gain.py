"""Do the generated pairs help? The demo's fine-tune twice, on the same stack in one run:
on the 336 reference pairs alone, and on them plus a datagen job's kept pairs; both
evaluated on the 68 held-out paraphrases (never trained on). Prints ROUGE-L of the base
and of each arm's best epoch, and the difference.

Uses the embedded stack of `tuneloop up` (started here and stopped after unless it runs)
and the demo's own steps, so the arms are exactly what `make demo` trains. The generated
pairs are a finished datagen job's (`--datagen ID`, e.g. the one `make demo` printed; its
files stay in the data directory) or a new datagen run over the 5 sample documents.

    .venv/bin/python bench/generated_pairs_gain.py [--datagen dg-…] [--epochs N]

About 30 minutes on 2 cores (two fine-tunes and two evaluations, plus datagen if new).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _common import loadavg, machine  # type: ignore[import-not-found]
from rich.console import Console

from tuneloop_cli import commands, models
from tuneloop_cli import demo_steps as steps
from tuneloop_cli.api import Api
from tuneloop_cli.demo_loop import DEMO_MODEL, demo_access, judge, teacher
from tuneloop_cli.supervisor import RunFiles
from tuneloop_core.settings import CommonSettings


def best_rouge(evaluation: dict[str, Any]) -> tuple[float, float, str]:
    """(base ROUGE-L, best tuned ROUGE-L, that model) from an evaluation's matrix."""
    rows = evaluation["matrix"]
    base = next(r for r in rows if r["is_base"])
    tuned = max((r for r in rows if not r["is_base"]), key=lambda r: r["metrics"]["rouge-l"])
    return base["metrics"]["rouge-l"], tuned["metrics"]["rouge-l"], tuned["model"]


def arm(api: Api, name: str, train: Any, scale: steps.DemoScale, err: Console) -> dict[str, Any]:
    started = time.monotonic()
    tuned = steps.run_fine_tune(api, DEMO_MODEL, train, scale, err)
    trained_s = time.monotonic() - started
    heldout = steps.sample_slice("heldout.json", None, steps.work_dir())
    evaluation = steps.run_evaluation(api, tuned["id"], heldout, judge(), scale, err)
    base, best, model = best_rouge(evaluation)
    return {
        "arm": name,
        "epochs": tuned["hyperparameters"]["n_epochs"],
        "train_s": trained_s,
        "base": base,
        "best": best,
        "model": model,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datagen", help="a finished datagen job whose kept pairs to add")
    parser.add_argument("--epochs", type=int, help="fixed epochs for both arms (default auto)")
    args = parser.parse_args()
    out, err = Console(), Console(stderr=True)
    out.print(machine())
    models.pull(DEMO_MODEL, False, "float32", err, err)
    common = CommonSettings()
    started_here = RunFiles(common.data_dir).running_pid() is None
    if started_here and commands.up(True, 600.0, out, err) != 0:
        raise SystemExit(1)
    try:
        url, key = demo_access(common)
        api = Api(url, key)
        scale = steps.DemoScale(**{**steps.FULL.__dict__, "n_epochs": args.epochs})
        datagen = (
            api.get(f"/v1/datagen/jobs/{args.datagen}")
            if args.datagen
            else steps.run_datagen(api, scale, teacher(), err)
        )
        work = steps.work_dir()
        reference = steps.sample_slice("train.json", None, work)
        combined, (n_reference, n_generated) = steps.training_file(api, reference, datagen, work)
        with_generated = f"reference + generated ({n_reference} + {n_generated})"
        results = [
            arm(api, f"reference ({n_reference})", reference, scale, err),
            arm(api, with_generated, combined, scale, err),
        ]
    finally:
        if started_here:
            commands.down(90.0, err)
    out.print(f"\nGenerated pairs from datagen job {datagen['id']}: {n_generated}\n")
    out.print("| training data | epochs | train time | base ROUGE-L | best ROUGE-L | gain |")
    out.print("|---|---|---|---|---|---|")
    for r in results:
        out.print(
            f"| {r['arm']} | {r['epochs']} | {r['train_s'] / 60:.1f} min | {r['base']:.1f} "
            f"| {r['best']:.1f} ({r['model']}) | {r['best'] - r['base']:+.1f} |"
        )
    delta = results[1]["best"] - results[0]["best"]
    out.print(f"\nThe generated pairs changed the best held-out ROUGE-L by {delta:+.1f} points.")
    out.print(f"load {loadavg()}")


if __name__ == "__main__":
    main()
