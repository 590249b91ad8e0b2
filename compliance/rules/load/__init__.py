"""Loading rule files (format 1, see the rule-file contract) into a checked `RuleSet`.

`load_rules(path)` reads one file, or every `*.yaml` / `*.yml` file under a folder
(recursively, in sorted path order, skipping folders named `tests`), and merges
them. Every problem in every file is collected before anything is raised: one
`RuleFileError` carries them all, each with its file, line and column and a
sentence for the people who write the rules. Warnings (a notice overdue for
review, a rule that has ended) do not stop loading; they are in
`RuleSet.warnings`.

A module per part of the format: `files` (files, sections, merging), `groups`,
`notices`, `rules`, `places` (placement), `policy`; `values` reads the shapes of values,
`messages` words the problems, `state` holds what one load has read so far.
"""

from __future__ import annotations

from compliance.rules.load.files import load_rules, load_rules_text
from compliance.rules.load.notices import check_language

__all__ = ["check_language", "load_rules", "load_rules_text"]
