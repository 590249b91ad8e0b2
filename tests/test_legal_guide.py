"""Every example in docs/legal-guide.md, run as the guide shows it.

The guide is read top to bottom in one empty folder, as a reader would follow it:

* a ```yaml block after `<!-- file: PATH -->` is written to PATH;
* a ```console block holds commands after `$ `, each followed by its exact
  output; each is run with bash, with the installed `compliance` first on PATH,
  and must print exactly that and exit 0, or the code given in an
  `<!-- exit: N -->` comment before the block.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "legal-guide.md"

_BLOCK = re.compile(r"(?:<!-- (file|exit): (\S+) -->\n)?```(\w+)\n(.*?)```\n", re.DOTALL)


@dataclass(frozen=True)
class Step:
    kind: str  # "file" or "command"
    line: int
    path: str = ""
    text: str = ""
    command: str = ""
    output: str = ""
    exit_code: int = 0


def steps() -> list[Step]:
    source = GUIDE.read_text(encoding="utf-8")
    found: list[Step] = []
    for match in _BLOCK.finditer(source):
        comment, value, language, body = match.groups()
        line = source.count("\n", 0, match.start()) + 1
        if language == "yaml":
            assert comment == "file", f"docs/legal-guide.md:{line}: a yaml block needs <!-- file: PATH --> before it"
            found.append(Step("file", line, path=value, text=body))
        elif language == "console":
            exit_code = int(value) if comment == "exit" else 0
            chunks = re.split(r"^\$ ", body, flags=re.MULTILINE)[1:]
            assert chunks, f"docs/legal-guide.md:{line}: a console block starts with a command after '$ '"
            for chunk in chunks:
                command, _, output = chunk.partition("\n")
                found.append(Step("command", line, command=command, output=output, exit_code=exit_code))
        else:
            raise AssertionError(
                f"docs/legal-guide.md:{line}: a ```{language} block is not checked; use yaml or console"
            )
    return found


def test_the_guide_has_examples_of_every_command() -> None:
    used = set()
    for step in steps():
        if step.kind == "command":
            words = shlex.split(step.command)
            assert "compliance" in words, step.command
            used.add(words[words.index("compliance") + 1])
    assert used == {"validate", "explain", "test", "report"}


def test_every_example_in_the_guide_runs_as_shown(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLIANCE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    ran = 0
    for step in steps():
        where = f"docs/legal-guide.md:{step.line}"
        if step.kind == "file":
            target = tmp_path / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.text, encoding="utf-8")
            continue
        result = subprocess.run(
            ["bash", "-c", step.command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        shown = result.stdout + result.stderr
        assert shown == step.output, f"{where}: `{step.command}` printed:\n{shown}"
        assert result.returncode == step.exit_code, f"{where}: `{step.command}` exited {result.returncode}"
        ran += 1
    assert ran >= 8
    report = (tmp_path / "compliance-report.html").read_text(encoding="utf-8")
    assert 'data-legal-notice="undesirable-organization"' in report
    assert (tmp_path / "report.md").read_text(encoding="utf-8").startswith("# Legal notices by jurisdiction\n")


@pytest.mark.parametrize("step", [s for s in steps() if s.kind == "file"], ids=lambda s: s.path)
def test_every_yaml_example_is_a_complete_file(step: Step) -> None:
    assert step.text.startswith(("notices:", "groups:", "rules:", "policy:", "cases:")), step.path
