"""The ``$ dice ...`` examples of README.md and docs/*.md are run again and must match.

Every fenced block tagged ``console`` is an example session: a line starting with ``$ `` is a
command, the lines after it (up to the next ``$ `` line) are what it prints. Each block runs in a
fresh temporary folder holding a ``fixtures`` link to the repository's demo data, so commands
use the same relative paths a reader types at the repository root (``fixtures/png2d/gt``) and may
write files (``--json t5.json``, ``mkdir demo``) without touching the repository. Commands run
one after another in that folder, each with ``bash -c``; ``dice`` is the ``dice`` of this
interpreter's environment (``python -m dicecli`` when there is no such script).

What is compared: stdout and stderr of each command, merged in the order written to one pipe
(the messages starting ``dice:`` are stderr), against the text after the command. The exit
status is checked too: a command that shows it (``...; echo $?``) prints it as its last line;
any other command must exit 0.

Normalisation, and only this: trailing spaces of each line (rich pads table rows to the table's
width; Markdown editors strip them) and blank lines at the end of an output are ignored. The
environment is made neutral: ``NO_COLOR=1``, and ``COLUMNS``, ``LINES``, ``GITHUB_ACTIONS`` and
``GITHUB_STEP_SUMMARY`` unset (they change widths or add CI lines). Nothing else is masked: the
examples print no timings and no absolute paths.

To refresh the outputs after a deliberate change, run ``python tests/test_readme_examples.py
--update`` (it rewrites the outputs in place, cog-style) and review the diff.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```console\n(.*?)^```$", re.M | re.S)
TIMEOUT_S = 300


@dataclass(frozen=True)
class Example:
    command: str
    output: str  # expected, normalised


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    span: tuple[int, int]  # character span of the block's body in the file
    examples: tuple[Example, ...]

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n")


def parse_blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        examples: list[Example] = []
        command, output = None, []
        for line in match.group(1).splitlines():
            if line.startswith("$ "):
                if command is not None:
                    examples.append(Example(command, normalise("\n".join(output))))
                command, output = line[2:], []
            elif command is None:
                raise ValueError(f"{path.name}:{text[:match.start()].count(chr(10)) + 1}: output before any '$ '")
            else:
                output.append(line)
        if command is not None:
            examples.append(Example(command, normalise("\n".join(output))))
        if any(re.match(r"(\S+=\S+ )*dice\b", ex.command) for ex in examples):
            blocks.append(Block(path, text[:match.start()].count("\n") + 1, match.span(1), tuple(examples)))
    return blocks


def all_blocks() -> list[Block]:
    return [block for path in DOCS for block in parse_blocks(path)]


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("COLUMNS", "LINES", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "FORCE_COLOR")}
    env["NO_COLOR"] = "1"
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def _prelude() -> str:
    """Make ``dice`` this interpreter's dice, script or module."""
    script = Path(sys.executable).parent / "dice"
    if script.exists():
        return ""
    return f'dice() {{ "{sys.executable}" -m dicecli "$@"; }}\n'


def run_block(block: Block, workdir: Path) -> list[tuple[str, int]]:
    """Run every command of the block in ``workdir``; (normalised output, exit status) each."""
    (workdir / "fixtures").symlink_to(ROOT / "fixtures", target_is_directory=True)
    env, prelude = _environment(), _prelude()
    results = []
    for example in block.examples:
        proc = subprocess.run(["bash", "-c", prelude + example.command], cwd=workdir, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              timeout=TIMEOUT_S, check=False)
        results.append((normalise(proc.stdout.decode("utf-8", "replace")), proc.returncode))
    return results


def shows_status(command: str) -> bool:
    return bool(re.search(r";\s*echo \$\?\s*$", command))


BLOCKS = all_blocks()


def test_there_are_examples_to_check():
    readme = [b for b in BLOCKS if b.path.name == "README.md"]
    assert len(readme) >= 3, "README.md should hold at least three ```console examples"


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.id)
def test_example_output_matches(block, tmp_path):
    for example, (actual, status) in zip(block.examples, run_block(block, tmp_path), strict=True):
        assert actual == example.output, (
            f"{block.id}: `$ {example.command}` printed\n{actual}\n--- but the docs show ---\n{example.output}"
        )
        if not shows_status(example.command):
            assert status == 0, f"{block.id}: `$ {example.command}` exited {status}; show it with '; echo $?'"


def update(paths: list[Path]) -> None:
    """Rewrite each block's outputs with what the commands print now."""
    import tempfile

    for path in paths:
        text = path.read_text(encoding="utf-8")
        for block in reversed(parse_blocks(path)):
            with tempfile.TemporaryDirectory() as tmp:
                results = run_block(block, Path(tmp))
            body = "".join(f"$ {ex.command}\n" + (out + "\n" if out else "")
                           for ex, (out, _) in zip(block.examples, results, strict=True))
            start, end = block.span
            text = text[:start] + body + text[end:]
        if text != path.read_text(encoding="utf-8"):
            path.write_text(text, encoding="utf-8")
            print(f"updated {path.relative_to(ROOT)}")


if __name__ == "__main__":
    if sys.argv[1:2] != ["--update"]:
        sys.exit("usage: python tests/test_readme_examples.py --update [FILE.md ...]")
    update([Path(p).resolve() for p in sys.argv[2:]] or DOCS)
