"""Which of a notice's texts a reader is shown: fixed by the rule or the notice, or chosen per reader.

A rule's `language`/`languages` wins over the notice's; with neither, the one
language of rules-format.md (Language) is chosen from the response, the page and
the reader (`choose_language`). A fixed list is shown in its order, every text
of it, whatever the reader's browser asks for.
"""

from __future__ import annotations

from compliance.respond.render import choose_language
from compliance.rules.model import Notice, Rule

__all__ = ["fixed_languages", "languages_label", "notice_languages"]


def fixed_languages(rule: Rule | None, notice: Notice) -> tuple[str, ...]:
    """The texts always shown for this rule's notice, in order; empty where they are chosen per reader."""
    if rule is not None and rule.languages:
        return rule.languages
    return notice.languages


def notice_languages(
    rule: Rule | None,
    notice: Notice,
    content_language: str | None,
    html_lang: str | None,
    accept_language: str | None,
) -> tuple[str, ...]:
    """The keys of `notice.text` to show, in order: the fixed ones, else the one chosen for this reader."""
    if not notice.text:  # no notice (an `action: remove` rule that names none)
        return ()
    fixed = fixed_languages(rule, notice)
    if fixed:
        return fixed
    return (choose_language(notice, content_language, html_lang, accept_language),)


def languages_label(languages: tuple[str, ...]) -> str:
    """How reports, explanations and test results write a notice's languages: `ru`, `ru, en`."""
    return ", ".join(languages)
