"""`language` and `languages` on a notice or a rule: the texts always shown, whatever the reader's languages.

`language: ru` shows the Russian text to every reader ("always in Russian");
`languages: [ru, en]` shows both, in that order. The two are one field written two
ways: giving both is an error. Each tag must name a text the notice has; the
result is the tags as the notice's `text` writes them.
"""

from __future__ import annotations

from collections.abc import Mapping

from compliance.rules.load.messages import Sink, quoted_list, sentences, suggest
from compliance.rules.load.values import FileReader
from compliance.rules.yamlstrict import YamlMap, YamlScalar

__all__ = ["read_fixed_languages", "resolve_fixed_languages"]


def read_fixed_languages(reader: FileReader, node: YamlMap) -> tuple[list[YamlScalar], bool]:
    """The tags under `language` or `languages` (empty where neither is given), and whether they read."""
    one = reader.optional(node, "language")
    many = reader.optional(node, "languages")
    if one is not None and many is not None:
        reader.error(
            many,
            "bad-language",
            '"language" and "languages" are one field written two ways; keep "languages: [ru, en]" for several, '
            'or "language: ru" for one.',
        )
        return [], False
    if one is not None:
        if reader.text(one, "language") is None or not isinstance(one, YamlScalar):
            return [], False
        return [one], True
    if many is None:
        return [], True
    found = reader.strings(many, "languages", "[ru, en]")
    if found is None:
        return [], False
    items, complete = found
    if complete and not items:
        reader.error(many, "empty-value", '"languages" is empty; name at least one, such as [ru, en].')
        return [], False
    seen: set[str] = set()
    for item in items:
        if item.value.lower() in seen:
            reader.error(item, "duplicate-key", f'The language "{item.value}" is listed twice in "languages".')
            complete = False
        seen.add(item.value.lower())
    return items, complete


def resolve_fixed_languages(
    sink: Sink, path: str, tags: list[YamlScalar], texts: Mapping[str, str], notice_id: str, rule_id: str | None
) -> tuple[str, ...] | None:
    """The tags as `texts` writes them, or None (with an error for each tag the notice has no text in)."""
    by_lower = {written.lower(): written for written in texts}
    found: list[str] = []
    ok = True
    for tag in tags:
        written = by_lower.get(tag.value.lower())
        if written is None:
            sink.add(
                path,
                tag.line,
                tag.column,
                "bad-language",
                sentences(
                    f'The notice "{notice_id}" has no text in "{tag.value}"',
                    suggest(tag.value, texts),
                    f'Its languages are {quoted_list(texts)}; add a text in {tag.value} under its "text", '
                    "or name one of those.",
                ),
                "error",
                rule_id,
            )
            ok = False
            continue
        found.append(written)
    return tuple(found) if ok else None
