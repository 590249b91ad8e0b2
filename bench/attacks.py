"""Attacks with numeric targets: adversarial path patterns, and memory under unique requests.

- Each adversarial pattern matched against a 64 KB path built to make a
  backtracking matcher explode: target under 1 ms (the best of a few calls).
- Memory (`run_memory`): a worker's RSS after requests with unique 64 KB paths
  and `Accept-Language` headers, against its warm value: target within +50 MB.
"""

from __future__ import annotations

import time

from compliance.rules.paths import path_pattern

from .model import Row, Section, Target, fmt

__all__ = ["ADVERSARIAL", "run_patterns"]

_KB64 = 64 * 1024

#: (pattern, a 64 KB path that makes a backtracking matcher explode on it)
ADVERSARIAL: tuple[tuple[str, str], ...] = (
    ("/**/amp/**/print", ("/amp" * (_KB64 // 4))[:_KB64] + "/x"),
    ("/**/a/**/b/**/c", ("/a/b" * (_KB64 // 4))[:_KB64] + "/x"),
    ("/**/a*a*a*a*b/**", "/" + "a" * _KB64),
    (r"re:/article/(\w+-?)+/", "/article/" + "a-" * (_KB64 // 2) + "!"),
    (r"re:(\w+-?)+", "/" + "a" * _KB64 + "!"),
    ("re:(a|aa)+z", "a" * _KB64),
    ("re:(.*)*x", "/" + "a" * _KB64),
)


def run_patterns(*, rounds: int = 5) -> Section:
    section = Section("patterns", "Adversarial path patterns against a 64 KB path", ["time"])
    for source, path in ADVERSARIAL:
        pattern = path_pattern(source)
        best = float("inf")
        for _ in range(rounds):
            began = time.perf_counter()
            pattern.matches(path)
            best = min(best, time.perf_counter() - began)
        section.add(
            Row(
                f"`{source}`",
                {"time": fmt(best * 1e6) + " µs"},
                value=best * 1000,
                target=Target("<", 1, "ms"),
                data={"seconds": best, "path_bytes": len(path)},
            )
        )
    return section


if __name__ == "__main__":
    print(run_patterns().markdown())
