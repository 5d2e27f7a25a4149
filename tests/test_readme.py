"""Every code block of README.md that can run here is run, so the README cannot drift.

In a temporary folder holding a copy of `seeds/` (the quick start's store is made there, offline):
- a block without a language, or `sh`/`bash`, is run by bash (`bot` and `.venv/bin/bot` are the
  CLI of this checkout) and must exit 0 without a traceback;
- a block right after `<!-- output of the block above -->` must be exactly what the block
  before it printed;
- a `python` block is run by this Python;
- a `text` block is an illustration (a synopsis, a diagram), and a block right after
  `<!-- not run: REASON -->` needs what a test cannot have (packages to install, a model
  server, Slack, the network); both are skipped on purpose and named so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

from conftest import BOT_ENV_PREFIXES, ROOT, SEEDS

FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)\s*$")
NOT_RUN = re.compile(r"<!-- not run: .+ -->")
OUTPUT = "<!-- output of the block above -->"
SHELLS = {"", "sh", "bash", "shell"}


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    marker: str  # the HTML comment right before the fence, or ""


def blocks(text: str) -> list[Block]:
    lines = text.split("\n")
    found, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, start = len(m["indent"]), i
        i += 1
        body = []
        while not lines[i].strip() == "```":
            body.append(lines[i][indent:])
            i += 1
        marker = lines[start - 1].strip() if start and lines[start - 1].strip().startswith("<!--") else ""
        found.append(Block(start + 1, m["lang"], "\n".join(body) + "\n", marker))
        i += 1
    return found


def test_every_block_is_run_or_says_why_not():
    for b in blocks((ROOT / "README.md").read_text()):
        runnable = b.lang in SHELLS | {"python"} and not b.marker
        skipped = b.lang == "text" or NOT_RUN.fullmatch(b.marker) or b.marker == OUTPUT
        assert runnable or skipped, f"README.md:{b.line}: mark it ```text or <!-- not run: why -->"
        assert not (b.marker == OUTPUT and b.lang != "text"), f"README.md:{b.line}: output is ```text"


def _workspace(tmp_path) -> dict[str, str]:
    shutil.copytree(SEEDS, tmp_path / "seeds")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "bot").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m bot "$@"\n')
    (bin_dir / "bot").chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    env = {k: v for k, v in os.environ.items() if not k.startswith(BOT_ENV_PREFIXES)}
    env.update(PYTHONPATH=str(ROOT), NO_COLOR="1", HF_HUB_OFFLINE="1", BOT_WARM="off",
               PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")
    return env


def test_readme_blocks_run(tmp_path):
    env = _workspace(tmp_path)
    last_output, ran = None, 0
    for b in blocks((ROOT / "README.md").read_text()):
        where = f"README.md:{b.line}"
        if b.marker == OUTPUT:
            assert last_output is not None, f"{where}: no block before it ran"
            assert last_output.rstrip() == b.code.rstrip(), f"{where}: the README shows another output"
            continue
        if b.marker or b.lang == "text":
            continue
        command = [sys.executable, "-c", b.code] if b.lang == "python" else ["bash", "-e", "-c", b.code]
        r = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=600)
        assert r.returncode == 0 and "Traceback" not in r.stderr, f"{where}: {r.stderr[-2000:]}"
        last_output, ran = r.stdout, ran + 1
    assert ran >= 5
