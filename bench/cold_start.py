"""Cold start of `bot ask`: a fresh process answering the seed question on the seeded store,
against baselines run interleaved with it (so load on the machine hits all alike):
  - `python -c pass`                       the interpreter alone
  - `python -c "import chromadb"`          what importing Chroma alone costs
  - Chroma imported as the bot imports it  (bot/index/chroma_import.py: embedding functions deferred)
  - the sequential floor: import the CLI and Chroma, load the model, embed the question, one
    after the other (what a plain implementation cannot go under)
and the commands that need no model or store (`--help`, `--version`, `config`, an argument
error, a missing file), `bot ask` through the warm bot that an earlier `bot ask` started
(bot/ui/warm.py; on its own copy of the store: the plain `bot ask` rows run with BOT_WARM=off and
stay cold), and the modules `python -X importtime -m bot ask` spends most on.

    python bench/cold_start.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "What range was claimed?"

FLOOR = f"""
import bot.ui.cli, chromadb
from bot.index.embeddings import LocalEmbedder
LocalEmbedder().embed_query({QUESTION!r})
"""


def run(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall, cpu) seconds of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 and not any(bad in " ".join(cmd) for bad in ("nosuchfile", "--top-k 0")):
        raise RuntimeError(f"{cmd}: {proc.stderr[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def start_warm_bot(py: str, env: dict, store: Path) -> None:
    """Ingest the seeds, ask once (which starts the warm bot), wait until it answers."""
    subprocess.run([py, "-m", "bot", "ingest", str(ROOT / "seeds")], env=env, check=True,
                   capture_output=True)
    subprocess.run([py, "-m", "bot", "ask", QUESTION], env=env, check=True, capture_output=True)
    deadline = time.monotonic() + 300
    while not (store / "serve.sock").exists():
        if time.monotonic() > deadline:
            raise RuntimeError("bot ask started no warm bot")
        time.sleep(0.2)
    subprocess.run([py, "-m", "bot", "ask", QUESTION], env=env, check=True, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "cold_start.json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bot-bench-cold-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(PYTHONPATH=str(ROOT), NO_COLOR="1", HF_HUB_OFFLINE="1", BOT_STORE_DIR=str(tmp / "store"),
               BOT_WARM="off")
    py = sys.executable
    subprocess.run([py, "-m", "bot", "ingest", str(ROOT / "seeds")], env=env, check=True, capture_output=True)
    subprocess.run([py, "-m", "bot", "ask", QUESTION], env=env, check=True, capture_output=True)  # BM25 saved
    # The warm rows: a user's first `bot ask` answers and starts the warm bot; the next ones use it.
    warm_env = {**env, "BOT_STORE_DIR": str(tmp / "warm"), "BOT_WARM": "on", "BOT_WARM_IDLE": "3600"}
    commands = {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import chromadb'": [py, "-c", "import chromadb"],
        "Chroma imported as the bot does (bot.index.chroma_import)":
            [py, "-c", "from bot.index.chroma_import import import_chromadb; import_chromadb()"],
        "bot --help": [py, "-m", "bot", "--help"],
        "bot --version": [py, "-m", "bot", "--version"],
        "bot config": [py, "-m", "bot", "config"],
        "bot ask x --top-k 0 (argument error, exit 1)": [py, "-m", "bot", "ask", "x", "--top-k", "0"],
        "bot ingest nosuchfile.txt (exit 1)": [py, "-m", "bot", "ingest", str(tmp / "nosuchfile.txt")],
        "sequential floor (CLI + Chroma + model + one query)": [py, "-c", FLOOR],
        "bot ask": [py, "-m", "bot", "ask", QUESTION],
        "bot ask, through the warm bot an earlier ask started": [py, "-m", "bot", "ask", QUESTION],
    }
    walls: dict[str, list[float]] = {k: [] for k in commands}
    cpus: dict[str, list[float]] = {k: [] for k in commands}
    try:
        start_warm_bot(py, warm_env, tmp / "warm")
        for _ in range(args.runs):
            for name, cmd in commands.items():
                wall, cpu = run(cmd, warm_env if "warm" in name else env)
                walls[name].append(wall)
                cpus[name].append(cpu)
    finally:
        subprocess.run([py, "-m", "bot", "serve", "--stop"], env=warm_env, capture_output=True)
    floor = statistics.median(walls["sequential floor (CLI + Chroma + model + one query)"])
    rows = {name: {"median_s": round(statistics.median(w), 2), "min_s": round(min(w), 2),
                   "cpu_median_s": round(statistics.median(cpus[name]), 2),
                   "vs_floor": round(statistics.median(w) / floor, 2)} for name, w in walls.items()}
    proc = subprocess.run([py, "-X", "importtime", "-m", "bot", "ask", QUESTION], env=env,
                          capture_output=True, text=True)
    imports = []
    for line in proc.stderr.splitlines():
        parts = line[len("import time:"):].split("|") if line.startswith("import time:") else []
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2]
            if len(name) - len(name.lstrip(" ")) == 1:  # top-level imports only
                imports.append((int(parts[1]), name.strip()))
    top = [{"module": n, "cumulative_ms": round(us / 1000)} for us, n in sorted(imports, reverse=True)][:8]
    result = {"runs": args.runs, "rows": rows, "top_level_imports": top,
              "load_average": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print("| command | median s | min s | CPU s (median) | vs sequential floor |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['median_s']} | {r['min_s']} | {r['cpu_median_s']} | {r['vs_floor']}x |")
    print("\nload average (1, 5, 15 min) at the end:", ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    print("top-level imports of `bot ask` (cumulative ms):",
          ", ".join(f"{t['module']} {t['cumulative_ms']}" for t in top))


if __name__ == "__main__":
    main()
