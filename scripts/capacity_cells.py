"""Train capacity cells of the quick profile at a chosen budget and print their memorized bits.

Used for the convergence evidence in docs/RESULTS.md (the 4x cells of d8 and d6 at 12,000 passes):
    .venv/bin/python scripts/capacity_cells.py OUT '[[8,126,0.01,12000,0],[8,126,0.01,12000,1]]'
Each cell is [n_embd, n_sequences, learning_rate, passes, seed]; rerunning skips finished runs. A fourth
argument sets the vocabulary V (symbols per position) instead of the profile's (the V comparison in
docs/RESULTS.md):
    .venv/bin/python scripts/capacity_cells.py OUT '[[8,40,0.1,6000,0]]' quick 64
"""
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

from memscope.studies.capacity import recipe as cap
from memscope.sweep import run_many


def main(out: str, cells: str, profile: str = "quick", vocab_size: str | None = None) -> None:
    torch.set_num_threads(1)
    p = cap.get_profile(profile)
    if vocab_size is not None:
        p = replace(p, vocab_size=int(vocab_size))
    specs = [(f"d{d}-n{n}-lr{lr:g}-p{passes}-s{seed}", cap.run_config(p, d, n, seed, "fp32", lr, passes))
             for d, n, lr, passes, seed in json.loads(cells)]
    run_many(specs, Path(out), executor="pool", workers=2)
    for name, _ in specs:
        m = cap.measure_run(Path(out) / name, 16, "cpu")
        print(f"{name}: {m['memorized_bits']:,.0f} memorized bits of a {m['ceiling_bits']:,.0f}-bit ceiling, "
              f"{m['n_params_total']:,} parameters")


if __name__ == "__main__":
    main(*sys.argv[1:])
