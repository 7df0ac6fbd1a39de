"""Check that a refactor left every figure unchanged: compare two output directories of the same study
profile, one made before the change and one after (`memscope reproduce STUDY --profile tiny --json --out
DIR > DIR.json` at each commit). Every run's summary.json and metrics.jsonl must be equal (wall times,
device and torch aside), and every number of the printed result both share (claims, files and timings
aside). Prints what differs; exits 1 if anything does.

    python scripts/same_figures.py runs/before-tbtt runs/after-tbtt
"""
import json
import math
import sys
from pathlib import Path

SKIP = {"wall_s", "device", "torch", "train_wall_s", "score_wall_s", "estimated_train_s", "claims", "files",
        "study", "profile", "profile_settings", "note", "markdown", "tables_md", "n_runs"}


def diff(a, b, where: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) & set(b)):
            if k not in SKIP:
                diff(a[k], b[k], f"{where}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{where}: {len(a)} items != {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{where}[{i}]", out)
    elif isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        pass
    elif a != b:
        out.append(f"{where}: {a!r} != {b!r}")


def main(before: Path, after: Path) -> int:
    out: list[str] = []
    runs = sorted(p.name for p in (before / "runs").iterdir() if p.is_dir() and (p / "summary.json").is_file())
    for name in runs:
        a, b = before / "runs" / name, after / "runs" / name
        diff(json.loads((a / "summary.json").read_text()), json.loads((b / "summary.json").read_text()),
             f"{name}/summary", out)
        ma = [json.loads(l) for l in (a / "metrics.jsonl").read_text().splitlines()]
        mb = [json.loads(l) for l in (b / "metrics.jsonl").read_text().splitlines()]
        diff(ma, mb, f"{name}/metrics", out)
    ja, jb = Path(f"{before}.json"), Path(f"{after}.json")
    if ja.is_file() and jb.is_file():
        diff(json.loads(ja.read_text()), json.loads(jb.read_text()), "result", out)
    print(f"{len(runs)} runs compared; {len(out)} differences")
    print("\n".join(out[:40]))
    return 1 if out or not runs else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
