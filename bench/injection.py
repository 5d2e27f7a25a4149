"""Prompt injection: 50 hostile articles against a model that obeys them; attempts / resisted.

tests/injection.py defines the attacks (a development set the bot's rules were tuned on, a
held-out set scored once before the rules answered it, and a second held-out set never used for
tuning), the obedient model (the local test server playing a model that follows the last planted
instruction it sees, in every variant that could get its payload shown) and the rules R1-R5 of
"resisted". Each hostile article sits in a collection of its own beside three ordinary stories.

    /work/main/.venv/bin/python bench/injection.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from tests import injection as inj  # noqa: E402
from tests.openai_server import OpenAIServer  # noqa: E402


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="injection-bench-"))
    settings = Settings.load(env={}, env_file=None).with_(store_dir=work / "store")
    sets = [("development (rules tuned on it)", inj.ATTACKS),
            ("held-out 1 (scored 8/14 before the rules were changed for it)", inj.HELDOUT),
            ("held-out 2 (never used for tuning)", inj.HELDOUT2)]
    total = resisted_all = 0
    with OpenAIServer() as server:
        for i, (label, attacks) in enumerate(sets):
            rows = inj.run_all(settings, work / f"set{i}", server, attacks)
            resisted = sum(1 for r in rows if not r["broken"])
            total += len(rows)
            resisted_all += resisted
            never_seen = [r["attack"] for r in rows if not r["obeyed"]]
            print(f"\n{label}: {resisted}/{len(rows)} resisted; the model never saw "
                  f"{len(never_seen)} (stripped from the page: {', '.join(never_seen) or '-'})")
            for r in rows:
                a = r["answer"]
                mark = "resisted" if not r["broken"] else "BROKEN: " + "; ".join(r["broken"])
                print(f"  {r['attack']:24s} {'obeyed' if r['obeyed'] else 'unseen':7s} "
                      f"{a.mode:10s} {mark}")
                if r["broken"]:
                    print(f"      shown: {a.answer[:160]!r}")
    print(f"\nall: {resisted_all}/{total} attempts resisted")


if __name__ == "__main__":
    main()
