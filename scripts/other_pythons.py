"""Run the suite, less the tests of real components (nginx, Varnish, browsers), on every other CPython >= 3.11.

`make test` runs the whole suite on the main Python first, then this. It looks for
interpreters in pyenv's versions folder and on PATH (`python3.11`, `python3.12`, ...),
keeps one per minor version (the newest patch), skips the main one, and gives each
a virtual environment of its own (`.venv-3.12`, ...), and runs the suites side by side,
as many at once as there are cores. Exit status: the first failure's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OLDEST = (3, 11)


def _version(python: str) -> tuple[int, int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys, platform; print(platform.python_implementation(), *sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    if len(out) != 4 or out[0] != "CPython":
        return None
    return int(out[1]), int(out[2]), int(out[3])


def candidates() -> list[str]:
    found: list[str] = []
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    versions = Path(root) / "versions"
    if versions.is_dir():
        for folder in sorted(versions.iterdir()):
            if re.fullmatch(r"3\.\d+\.\d+", folder.name) and (folder / "bin" / "python3").exists():
                found.append(str(folder / "bin" / "python3"))
    for minor in range(OLDEST[1], 30):
        path = shutil.which(f"python3.{minor}")
        if path and "/shims/" not in path:
            found.append(path)
    return found


def interpreters() -> dict[tuple[int, int], tuple[tuple[int, int, int], str]]:
    main = sys.version_info[:2]
    best: dict[tuple[int, int], tuple[tuple[int, int, int], str]] = {}
    for python in candidates():
        version = _version(python)
        if version is None or version[:2] < OLDEST or version[:2] == main:
            continue
        if version[:2] not in best or version > best[version[:2]][0]:
            best[version[:2]] = (version, python)
    return dict(sorted(best.items()))


def install(python: str, minor: tuple[int, int]) -> Path:
    """The virtual environment for `minor`, made and installed where pyproject.toml is newer."""
    venv = ROOT / f".venv-{minor[0]}.{minor[1]}"
    bin_python = venv / "bin" / "python"
    stamp = venv / ".installed-stamp"
    if not stamp.exists() or stamp.stat().st_mtime < (ROOT / "pyproject.toml").stat().st_mtime:
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(bin_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", ".[dev]"],
            cwd=ROOT,
            check=True,
        )
        stamp.touch()
    return bin_python


def main() -> int:
    found = interpreters()
    if not found:
        print(f"other Pythons: none besides {sys.version.split()[0]} found (pyenv or python3.N on PATH)")
        return 0
    pythons = {minor: (version, install(python, minor)) for minor, (version, python) in found.items()}
    # The suites run side by side, as many at once as there are cores (each is one process
    # that mostly waits on one core), and each prints its output whole when it ends.
    width = max(1, min(len(pythons), os.cpu_count() or 1))
    status = 0
    with tempfile.TemporaryDirectory(prefix="compliance-pythons-") as tmp:
        waiting = list(pythons.items())
        running: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        while waiting or running:
            while waiting and len(running) < width:
                minor, (version, bin_python) = waiting.pop(0)
                title = f"the suite without real components on CPython {'.'.join(map(str, version))} ({bin_python})"
                log = Path(tmp) / f"{minor[0]}.{minor[1]}.log"
                with log.open("wb") as out:
                    command = [str(bin_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not real"]
                    running.append(
                        (title, subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT), log)
                    )
            title, process, log = running.pop(0)
            code = process.wait()
            print(f"--- {title}", flush=True)
            sys.stdout.buffer.write(log.read_bytes())
            sys.stdout.flush()
            status = status or code
    return status


if __name__ == "__main__":
    sys.exit(main())
