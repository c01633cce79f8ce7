"""Items per second of the generation evaluation, the previous way against the current one, in one process.

    python experiments/bench/generation_speed.py                       # SmolLM2 on 32 GSM8K test items
    python experiments/bench/generation_speed.py --task addsub --items 32 --rounds 2

- "hf" (before): prompts ordered by character count, `model.generate` per batch of `--batch-size`; the batch
  runs until its last row ends, and rows that already ended are still computed (as padding) until then.
- "grouped": prompts grouped by token count; a row leaves its batch (with its KV cache) at EOS and the
  batch stops when its last row has ended.
- "continuous" (now, the default of `neuroada.evaluation.generate`): prompts sorted by token count; a row
  leaves at EOS and the next prompt takes its slot, so the batch stays full.

All are greedy with the task's `max_new_tokens`; the script checks that they give the same text per item.
They are timed in the same process (the order rotates over `--rounds`), so their ratios are fair even on
a loaded machine; the load average (/proc/loadavg) is recorded before and after.
Writes `results/bench/generation_speed[_<tag>].json`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

from neuroada.evaluation.generation import _eos_ids, generate  # noqa: E402
from neuroada.models import load_model  # noqa: E402
from neuroada.tasks import load_task, resolve_data_dir  # noqa: E402
from neuroada.tasks.prompts import build_prompt  # noqa: E402


def loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--task", default="gsm8k")
    ap.add_argument("--items", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16, help="the run's eval_batch_size (default 16, as conf/config.yaml)")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="default: the task's max_new_tokens")
    ap.add_argument("--rounds", type=int, default=1, help="timings per strategy; the order alternates (hf, grouped, grouped, hf, ...)")
    ap.add_argument("--strategies", nargs="+", default=["hf", "grouped", "continuous"], choices=["hf", "grouped", "continuous"])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--tag", default=None)
    ap.add_argument("--out", default=str(REPO / "results" / "bench"))
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    task_cfg = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "task" / f"{args.task}.yaml"), resolve=True)
    task_cfg["max_eval_samples"] = args.items
    task = load_task(task_cfg, resolve_data_dir(args.data_dir), load_train=False)
    set_name, examples = next(iter(task.eval_sets.items()))
    prompts = [build_prompt(ex.instruction, ex.input, task.prompt_template) for ex in examples]
    max_new = args.max_new_tokens or task.max_new_tokens
    model, tok = load_model(OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "model" / f"{args.model}.yaml")))
    eos = _eos_ids(model, tok)

    load_before = loadavg()
    strategies = args.strategies
    times: dict[str, list[float]] = {s: [] for s in strategies}
    outputs: dict[str, list[str]] = {}
    for r in range(args.rounds):
        for strategy in strategies[r % len(strategies):] + strategies[:r % len(strategies)]:
            t0 = time.perf_counter()
            outputs[strategy] = generate(model, tok, prompts, max_new, args.batch_size, strategy=strategy)
            times[strategy].append(time.perf_counter() - t0)
            print(f"round {r + 1} {strategy}: {times[strategy][-1]:.1f} s ({len(prompts) / times[strategy][-1]:.3f} items/s)", flush=True)
    load_after = loadavg()

    base, last = strategies[0], strategies[-1]
    new_tokens = [len(tok(o, add_special_tokens=False)["input_ids"]) for o in outputs[last]]
    best = {s: min(t) for s, t in times.items()}
    same = {s: sum(a == b for a, b in zip(outputs[base], outputs[s])) for s in strategies[1:]}
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = None
    result = {
        "what": "greedy generation of the eval items: the previous way (hf) vs fixed batches dropping ended rows (grouped) "
                "vs continuous batching (continuous, the current default); one process",
        "command": "python experiments/bench/generation_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": args.model, "task": args.task, "eval_set": set_name, "items": len(prompts),
        "batch_size": args.batch_size, "max_new_tokens": max_new, "eos_ids": eos,
        "rounds": args.rounds, "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "seconds": times, "items_per_s": {s: len(prompts) / t for s, t in best.items()},
        f"speedup_over_{base}": {s: best[base] / best[s] for s in strategies[1:]},
        f"identical_generations_to_{base}": same, "generated_tokens": {"total": sum(new_tokens), "max": max(new_tokens),
                                                            "items_at_max_new_tokens": sum(n >= max_new for n in new_tokens)},
        "loadavg_before": load_before, "loadavg_after": load_after,
        "versions": {"torch": torch.__version__, "python": platform.python_version()}, "git_commit": commit,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"generation_speed{'_' + args.tag if args.tag else ''}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    for st in strategies:
        extra = f": {best[base] / best[st]:.2f}x {base}, {same[st]}/{len(prompts)} identical generations" if st != base else ""
        print(f"{st} {result['items_per_s'][st]:.3f} items/s{extra}")
    print(f"load {load_before} -> {load_after}")
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
