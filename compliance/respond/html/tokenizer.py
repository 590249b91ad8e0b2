"""The HTML rewriter's tokenizer: byte-level scanning of a page as the HTML tokenizer reads it.

Compiled patterns for comments, raw-text elements and their closers, `</body` candidates and the
tail after them, the forward scanner's regex (one per set of wanted names, cached at module
level), and what a `<` opens (`_construct`): a start tag, an end tag, a bogus comment, or text.

What the rewriter does not understand, knowingly:

- A comment that contains `</body>` and then `<!--` before its own end
  (`<!-- </body> <!-- -->` after the real `</body>`): the tail looks balanced, so
  that `</body>` is taken for the real one.
- `</body>`, `<body`, `<!--`, `<script` and the like inside attribute values
  (`<a title="</body>">`) or tag names (`<h<!--`); only the `<body>` tag's own
  attributes are parsed, so `<script data-x="</script>">` also ends its script
  early. For selector places, a tag inside an attribute value is passed over
  by reading forward from the last token the scanner read (at most `MAX_TAG`
  bytes back); a needle's tag only one level deep.
- Foreign content (SVG, MathML) is followed for selector places only (foreign.py):
  a marker comment inside `<svg>` is replaced as anywhere else, and `<svg><style>`,
  `<svg><title>` and the like are read as raw text as in HTML.
- `<plaintext>` and a `<frameset>` the tree builder takes are found where the page
  is read forward (for `body-start`, markers, selector places, `</head>`); the rest
  of the page is only looked through for the words `<plaintext` and `<frameset`, and
  where one is there, read by `end_state` up to the body-end place. That read, and a
  frameset's acceptance, cover the chunks still remembered (the whole page when it
  came in one piece, else the last `END_WINDOW` bytes, taken to begin in the data
  state); notices already placed before an accepted `<frameset>` are not taken back.
- Elements in the head are never selector places (headend.py); what begins the body
  is read from the tags, text and end tags before it, with `<noscript>` as raw text.
- A fake `</body>` in the tail more than `FALLBACK_WINDOW` bytes after the real
  one: the notice then goes at the end of the document.
- `-->` as plain text after the real `</body>`: read as closing a comment, so the
  notice goes before an earlier `</body>` or at the end of the document.
- CDATA sections (SVG, MathML, XHTML), `--!>` ending a comment, and
  the elements that are raw text only sometimes: `<noscript>` is always taken
  for raw text (as browsers with scripting on read it), `<title>` inside SVG too.
- A `<body>` start tag longer than `MAX_BODY_TAG` bytes is not taken for one,
  nor another start or end tag longer than `MAX_TAG` bytes (an `<img>` with a
  large `data:` URL) for a selector place.
- Marker names are compared as UTF-8 bytes; a name containing `<`, `>` or `--`
  never matches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from compliance.respond.html.foreign import BREAKOUT, INSIDE, ROOTS, Foreign

__all__ = ["MAX_BODY_TAG", "MAX_TAG", "RAW_TEXT_ELEMENTS"]

#: The longest `<body ...>` start tag that counts as one.
MAX_BODY_TAG: Final = 16 * 1024
#: The longest start or end tag that a selector place reads as one.
MAX_TAG: Final = 16 * 1024

# The longest token searched for (`</plaintext` plus the byte after it) less one: a token
# that starts in the last bytes of a chunk is looked for again with the next chunk.
_LOOKBEHIND: Final = 11
_WS: Final = b"\t\n\x0c\r "
_TAG_NAME_END: Final = frozenset(b"\t\n\x0c\r />")
_END: Final = rb"(?=[\t\n\x0c\r />])"

#: Elements whose content is text up to their end tag, never markup (`plaintext`: up to the end of
#: the document; nothing ends it).
RAW_TEXT_ELEMENTS: Final = (
    "script",
    "style",
    "textarea",
    "title",
    "xmp",
    "iframe",
    "noembed",
    "noframes",
    "noscript",
    "template",
    "plaintext",
)
_RAW_NAMES: Final = tuple(name.encode() for name in RAW_TEXT_ELEMENTS)


def _any_case(word: bytes) -> bytes:
    """`word` as a pattern that matches it in any ASCII case, without the IGNORECASE flag."""
    return b"".join(b"[%c%c]" % (c, c ^ 0x20) if 0x61 <= c <= 0x7A else re.escape(bytes([c])) for c in word)


def _trie(words: Sequence[bytes]) -> bytes:
    """A pattern for any of `words`, any case, branching a byte at a time.

    Where one word is a prefix of another, the shorter one is the last alternative: what
    follows the group decides (backtracking into it).
    """
    by_first: dict[int, list[bytes]] = {}
    ends_here = False
    for word in words:
        if word:
            by_first.setdefault(word[0], []).append(word[1:])
        else:
            ends_here = True
    branches = []
    for first, rests in by_first.items():
        if len(rests) == 1:
            branches.append(_any_case(bytes([first]) + rests[0]))
        else:
            branches.append(_any_case(bytes([first])) + b"(?:" + _trie(rests) + b")")
    if ends_here:
        branches.append(b"")
    return b"|".join(branches)


def _byte_class(values: set[int]) -> bytes:
    """The inside of a character class for these bytes, letters in both cases."""
    both = values | {c ^ 0x20 for c in values if 0x61 <= (c | 0x20) <= 0x7A}
    return b"".join(re.escape(bytes([c])) for c in sorted(both))


def _tags(names: Sequence[bytes], prefix: bytes = b"") -> re.Pattern[bytes]:
    """`<!--`, or `<` + `prefix` + one of `names` ending a tag name.

    Shaped for speed: every `<` of a page is a possible start, so a lookahead on the next
    byte throws most of them out before any alternative is tried (about 6x faster than an
    alternation of IGNORECASE names on a news page).
    """
    firsts = {name[0] for name in names} | ({prefix[0]} if prefix else set())
    first = b"".join(_any_case(bytes([c])).strip(b"[]") for c in sorted(firsts))
    return re.compile(rb"<(?=[!" + first + rb"])(?:!--|" + prefix + rb"(?:" + _trie(names) + rb")" + _END + rb")")


_CLOSERS: Final = {name: re.compile(rb"</" + _any_case(name) + _END) for name in _RAW_NAMES}
# Nothing ends `<plaintext>`: everything after its start tag is text (the PLAINTEXT state).
_CLOSERS[b"plaintext"] = re.compile(rb"(?!)")
_COMMENT_END: Final = re.compile(rb"-->")
_CANDIDATE: Final = re.compile(rb"</" + _any_case(b"body") + _END)
# The tail after a `</body` candidate is tokenised with these (and `-->`, searched on its own:
# an alternative that does not start with `<` would slow every search down).
_TAIL_TAGS: Final = _tags(_RAW_NAMES, b"/?")
_TAIL_NOTABLE: Final = _tags((b"body", *_RAW_NAMES), b"/?")  # a tail token, or a later `</body`
# The rest of a start tag after its name, as the HTML tokenizer reads attributes: a quote
# opens a value only right after a name and `=`. Possessive throughout: linear, and no match at all
# while the tag is incomplete.
_TAG_REST: Final = re.compile(
    rb"""(?:[\t\n\x0c\r /]++"""
    rb"""|[^\t\n\x0c\r />][^\t\n\x0c\r />=]*+"""
    rb"""(?>[\t\n\x0c\r ]*+=[\t\n\x0c\r ]*+(?:"[^"]*+"|'[^']*+'|(?!["'])[^\t\n\x0c\r >]*+)|(?![\t\n\x0c\r ]*+=)))*+>"""
)
_NO_NAMES: Final[frozenset[bytes]] = frozenset()
_PLAINTEXT: Final = b"plaintext"
_FRAMESET: Final = b"frameset"
#: Start tags after which no later place of a page renders (a `<frameset>` only where the tree builder takes it).
STOPS: Final = frozenset({_PLAINTEXT, _FRAMESET})
#: A whole start or end tag, or a bogus comment, as `_construct` reads them (the tag's name and
#: attributes as the HTML tokenizer reads them; `[^>]` up to the first `>` for the rest).
_CONSTRUCT: Final = re.compile(
    rb"<(?:/?[A-Za-z][^\t\n\x0c\r />]*+" + _TAG_REST.pattern + rb"|[!?][^>]*+>|/[^A-Za-z>][^>]*+>|/>)"
)
_FORWARD: dict[tuple[bool, bool, frozenset[bytes], frozenset[bytes]], tuple[re.Pattern[bytes], int]] = {}
#: The forward scanner's regex where every tag is wanted; the tag name is read after it.
_EVERY_TAG: Final = re.compile(rb"<(?:!--|/?[A-Za-z])")
_EVERY_TAG_LOOKBEHIND: Final = 3
_NAME_END: Final = re.compile(rb"[^\t\n\x0c\r />]*+")


def _forward_pattern(
    body: bool, head: bool, starts: frozenset[bytes] = _NO_NAMES, ends: frozenset[bytes] = _NO_NAMES
) -> tuple[re.Pattern[bytes], int]:
    """The forward scanner's one regex, and how many bytes before the end of a chunk a token may start.

    It finds comments, raw-text openers, `<body` / `</head` where wanted, and the start tags
    `starts` and end tags `ends` that selector places follow (cached).
    """
    key = (body, head, starts, ends)
    found = _FORWARD.get(key)
    if found is None:
        start_names = set(_RAW_NAMES) | starts | {_FRAMESET} | ({b"body"} if body else set())
        end_names = set(ends) | ({b"head"} if head else set())
        firsts = {0x21} | {name[0] for name in start_names} | ({0x2F} if end_names else set())
        lookahead = b"[" + _byte_class(firsts) + b"]"
        if (starts or ends) and all(len(name) > 1 for name in start_names):
            # Selector names make more tags pass a first-byte test (`<a` for `article`): test the
            # second byte too.
            seconds = {0x2D} | {name[1] for name in start_names} | {name[0] for name in end_names}
            lookahead += b"[" + _byte_class(seconds) + b"]"
        alternatives = [b"!--", b"(?:" + _trie(sorted(start_names)) + b")" + _END]
        if end_names:
            alternatives.append(b"/(?:" + _trie(sorted(end_names)) + b")" + _END)
        pattern = re.compile(b"<(?=" + lookahead + b")(?:" + b"|".join(alternatives) + b")")
        # `<name` or `</name` and the byte after it, less one
        lookbehind = max(
            max(len(name) + 1 for name in start_names), max((len(name) + 2 for name in end_names), default=0)
        )
        if len(_FORWARD) >= 512:
            _FORWARD.clear()
        found = _FORWARD[key] = (pattern, lookbehind)
    return found


# (body, head, start tags, end tags, every tag, needles) -> (regex, lookbehind, needle regex)
_ScannerKey = tuple[bool, bool, frozenset[bytes], frozenset[bytes], bool, tuple[bytes, ...]]
_SCANNERS: dict[_ScannerKey, tuple[re.Pattern[bytes], int, re.Pattern[bytes] | None]] = {}


def _scanner(
    body: bool, head: bool, starts: frozenset[bytes], ends: frozenset[bytes], every: bool, needles: tuple[bytes, ...]
) -> tuple[re.Pattern[bytes], int, re.Pattern[bytes] | None]:
    """The forward scanner's regex, its lookbehind, and the regex for needles, for selector places (cached)."""
    if every:
        pattern, lookbehind = _EVERY_TAG, _EVERY_TAG_LOOKBEHIND
    else:
        pattern, lookbehind = _forward_pattern(body, head, starts, ends)
    needle_pattern = None
    if needles and not every:
        needle_pattern = re.compile(b"|".join(needles))
        lookbehind = max(lookbehind, *(len(needle) for needle in needles))
    if len(_SCANNERS) >= 512:
        _SCANNERS.clear()
    found = _SCANNERS[(body, head, starts, ends, every, needles)] = (pattern, lookbehind, needle_pattern)
    return found


# What a `<` opens, as `_construct` tells it.
_START: Final = 0  # a start tag
_END_TAG: Final = 1
_OTHER: Final = 2  # a bogus comment (`<!DOCTYPE ...>`, `<?xml ...>`) or `</>`
_TEXT: Final = 3  # nothing: the `<` is text, or a tag never completed
_WAIT: Final = 4  # not known before more of the page arrives


def _lower_bytes(data: bytes | bytearray) -> bytes:
    return bytes(data).lower()


def _is_letter(byte: int) -> bool:
    return 0x61 <= (byte | 0x20) <= 0x7A


def _construct(buf: bytes | bytearray, q: int, n: int, final: bool) -> tuple[int, int, int]:
    """What the `<` at q opens: (kind, end of the tag name, end of the construct)."""
    unknown = (_TEXT, 0, 0) if final or n - q >= MAX_TAG else (_WAIT, 0, 0)
    if q + 2 >= n:
        return unknown
    byte = buf[q + 1]
    if _is_letter(byte):
        kind, name_at = _START, q + 1
    elif byte == 0x2F and _is_letter(buf[q + 2]):
        kind, name_at = _END_TAG, q + 2
    elif byte == 0x2F and buf[q + 2] == 0x3E:
        return _OTHER, 0, q + 3
    elif byte in (0x21, 0x2F, 0x3F):  # `<!`, `</`, `<?`: a bogus comment, up to the first `>`
        close = buf.find(b">", q + 2, n)
        if close < 0 or close - q >= MAX_TAG:
            return unknown if close < 0 else (_TEXT, 0, 0)
        return _OTHER, 0, close + 1
    else:
        return _TEXT, 0, 0
    name_end = _NAME_END.match(buf, name_at, n).end()  # type: ignore[union-attr]
    tag = _TAG_REST.match(buf, name_end, n) if name_end < n else None
    if tag is None:
        return unknown
    if tag.end() - q > MAX_TAG:
        return _TEXT, 0, 0
    return kind, name_end, tag.end()


def _construct_before(buf: bytes | bytearray, lo: int, q: int, n: int, final: bool = False) -> int:
    """Where the nearest `<` before q in buf[lo:q] that opens a construct (not text) is; q if none."""
    p = buf.rfind(b"<", lo, q)
    while p >= 0:
        if _construct(buf, p, n, final)[0] != _TEXT:
            return p
        p = buf.rfind(b"<", lo, p)
    return q


def _enclosed(buf: bytes | bytearray, lo: int, q: int, n: int, final: bool, token: bool = False) -> int:
    """1 if the tag at q lies inside a tag (or bogus comment) that starts in buf[lo:q], else 0; -1: not known yet.

    `token`: lo is where a token the scanner read begins or ends. Then, where the nearest
    construct before q ends before it, buf[lo:q] is read forward too, so that a tag inside
    an attribute value that holds several tags (`<p title='<p>x</p><h1>'>`) is seen; else
    one level only.
    """
    p = buf.rfind(b"<", lo, q)
    if p >= 0:  # the usual case, in one regex: a whole tag or bogus comment
        whole = _CONSTRUCT.match(buf, p, n)
        if whole is not None and whole.end() - p <= MAX_TAG:
            if whole.end() > q:
                return 1
            if not token or _MARKUP_IN_VALUE.search(buf, lo, q) is None:
                return 0  # no quoted attribute value before q holds a `<`
            return _enclosed_forward(buf, lo, q, n, final)
    while p >= 0:
        kind, _, e = _construct(buf, p, n, final)
        if kind == _WAIT:
            return -1
        if kind != _TEXT:
            return 1 if e > q else 0
        p = buf.rfind(b"<", lo, p)
    return 0


#: An attribute value, quoted, that holds a `<` (where a tag may hide inside another).
_MARKUP_IN_VALUE: Final = re.compile(rb"""=[\t\n\x0c\r ]*+(?:"[^"<]*+<|'[^'<]*+<)""")


def _enclosed_forward(buf: bytes | bytearray, lo: int, q: int, n: int, final: bool) -> int:
    """`_enclosed`, reading every construct from lo (a token boundary) on, as the HTML tokenizer does."""
    p = buf.find(b"<", lo, q)
    while p >= 0:
        whole = _CONSTRUCT.match(buf, p, n)
        if whole is not None and whole.end() - p <= MAX_TAG:
            e = whole.end()
        else:
            kind, _, e = _construct(buf, p, n, final)
            if kind == _WAIT:
                return -1
            if kind == _TEXT:
                p = buf.find(b"<", p + 1, q)
                continue
        if e > q:
            return 1
        p = buf.find(b"<", e, q)
    return 0


# --- script data: the escaped and double-escaped states -----------------------------------------

#: The script data states the rewriter follows (HTML tokenizer, 13.2.5.4 and after).
SCRIPT_DATA: Final = 0
SCRIPT_ESCAPED: Final = 1  # after `<!--` inside a script
SCRIPT_DOUBLE: Final = 2  # after `<!--` and then `<script`: a `</script>` only leaves this state
_SCRIPT_NAME: Final = _any_case(b"script") + _END
_SCRIPT_TOKENS: Final = (
    re.compile(rb"<!--|</" + _SCRIPT_NAME),
    re.compile(rb"-->|</?" + _SCRIPT_NAME),
    re.compile(rb"-->|</" + _SCRIPT_NAME),
)
#: `</script` and the byte after it, less one: a token that may go on in the next chunk.
_SCRIPT_LOOKBEHIND: Final = 8


def script_end(buf: bytes | bytearray, i: int, n: int, state: int, final: bool) -> tuple[int, int, int]:
    """Follow a script's content from i: (start of the `</script` that ends it, its end, state), or (-1, resume, state).

    As the HTML tokenizer reads it: `<!--` escapes, inside which `<script` double-escapes, so
    that the `</script>` of `document.write('<script src=a.js></script>')` does not end the
    outer script; `-->` goes back to plain script data. Where no end is found, scanning
    resumes at the position returned, in the state returned.
    """
    while True:
        m = _SCRIPT_TOKENS[state].search(buf, i, n)
        if m is None:
            return -1, (n if final else max(i, n - _SCRIPT_LOOKBEHIND)), state
        q = m.start()
        first, second = buf[q], buf[q + 1]
        if first == 0x2D:  # `-->`
            state, i = SCRIPT_DATA, m.end()
        elif second == 0x21:  # `<!--`: the dashes count towards a `-->` (`<!-->`)
            state, i = SCRIPT_ESCAPED, q + 2
        elif second == 0x2F:  # `</script`
            if state != SCRIPT_DOUBLE:
                return q, m.end(), state
            state, i = SCRIPT_ESCAPED, m.end()
        else:  # `<script` while escaped
            state, i = SCRIPT_DOUBLE, m.end()


# --- the state a document ends in ---------------------------------------------------------------

_END_SCAN: Final = re.compile(rb"<(?:!--|[!?/][^-]|/?[A-Za-z])|<!-?$")
_COMMENT_CLOSE: Final = re.compile(rb"--!?>")
_NOT_SPACE: Final = re.compile(rb"[^\t\n\x0c\r ]")
#: Start tags after which the HTML tree builder no longer lets a `<frameset>` replace the body
#: (its "frameset-ok" flag is "not ok"), as non-whitespace text in the body does.
_FRAMESET_NOT_OK: Final = frozenset(
    b"body pre listing li dd dt button applet marquee object table area br embed img image keygen wbr input hr"
    b" textarea xmp iframe select".split()
)
PLAINTEXT_REASON: Final = "the page has a <plaintext> element: everything after it is text"
FRAMESET_REASON: Final = "the page is a frameset: it has no body to show a notice in"


def end_state(buf: bytes | bytearray, lo: int, n: int) -> str | None:
    """Why markup added at the end of buf[lo:n] would not render, read from lo in the data state; None if it would.

    Reads as the HTML tokenizer does, far enough to tell: comments (and bogus ones), raw text
    and RCDATA elements with the script states, start and end tags with their attributes,
    `<plaintext>`, and a `<frameset>` where the tree builder takes it (before a `<body>` tag,
    non-whitespace text or the start tags that make it "not ok"; a `<frameset>` after them is ignored).
    """
    i = lo + 3 if lo == 0 and buf.startswith(b"\xef\xbb\xbf") else lo
    frameset_ok = True
    foreign: Foreign | None = None
    while True:
        m = _END_SCAN.search(buf, i, n)
        if frameset_ok and _NOT_SPACE.search(buf, i, n if m is None else m.start()) is not None:
            frameset_ok = False  # text in the body
        if m is None:
            return None
        q = m.start()
        if q + 1 >= n or m.end() >= n and buf[q + 1] == 0x21:
            return "the document ends inside a comment"
        second = buf[q + 1]
        if buf.startswith(b"<!--", q):
            k = _COMMENT_CLOSE.search(buf, q + 4, n)
            if buf.startswith(b">", q + 4) or buf.startswith(b"->", q + 4):
                i = q + 5 if buf[q + 4] == 0x3E else q + 6
                continue
            if k is None:
                return "the document ends inside a comment"
            i = k.end()
            continue
        if second in (0x21, 0x3F) or (second == 0x2F and not _is_letter(buf[q + 2])):
            close = buf.find(b">", q + 2, n)
            if close < 0:
                return "the document ends inside a comment"
            i = close + 1
            continue
        name_at = q + 2 if second == 0x2F else q + 1
        name_end = _NAME_END.match(buf, name_at, n).end()  # type: ignore[union-attr]
        tag = _TAG_REST.match(buf, name_end, n)
        if tag is None:
            return "the document ends inside a tag"
        i = tag.end()
        name = bytes(buf[name_at:name_end]).lower()
        if second == 0x2F:
            if name == b"br":  # `</br>` is read as `<br>`
                frameset_ok = False
            elif foreign is not None and foreign.open:
                foreign.end(name)
            continue
        if foreign is not None and foreign.open or name in ROOTS:  # SVG and MathML, as foreign.py follows them
            if foreign is None:
                foreign = Foreign()
            kind = foreign.start(name, buf[i - 2] == 0x2F, None)  # (a `font` breaks out only by its name here)
            if kind == BREAKOUT:
                foreign.breakout()
            inside = kind == INSIDE
        else:
            inside = False
        if name == _PLAINTEXT:
            if inside:
                continue  # an SVG or MathML element of that name: its content is markup
            return PLAINTEXT_REASON
        if name == _FRAMESET and frameset_ok and not inside:
            return FRAMESET_REASON
        if name in _FRAMESET_NOT_OK and (name != b"input" or b"hidden" not in bytes(buf[name_end:i]).lower()):
            frameset_ok = False
        if name == b"script":
            at, i, _ = script_end(buf, i, n, SCRIPT_DATA, True)
            if at < 0:
                return "the document ends inside a <script>"
        else:
            closer = _CLOSERS.get(name)
            if closer is None:
                continue
            k = closer.search(buf, i, n)
            if k is None:
                return f"the document ends inside a <{name.decode('latin-1')}>"
            i = k.end()
        tag = _TAG_REST.match(buf, i, n)  # the rest of the end tag
        if tag is None:
            return "the document ends inside a tag"
        i = tag.end()


_SCRIPT_STATE_OF: Final = {
    _CLOSERS[b"script"]: SCRIPT_DATA,
    _SCRIPT_TOKENS[1]: SCRIPT_ESCAPED,
    _SCRIPT_TOKENS[2]: SCRIPT_DOUBLE,
}
_SCRIPT_CLOSER_OF: Final = (_CLOSERS[b"script"], _SCRIPT_TOKENS[1], _SCRIPT_TOKENS[2])


def close_raw(
    closer: re.Pattern[bytes], buf: bytes | bytearray, i: int, n: int, final: bool
) -> tuple[int, int, re.Pattern[bytes] | None]:
    """Where what `closer` awaits ends, from i: (start, end, None), or (-1, where to resume, the closer then awaited).

    A closer is `-->` (a comment), a raw-text element's end tag, or, for a script, one pattern
    per script state (the state travels with the pattern, so that a response's state is one value).
    """
    state = _SCRIPT_STATE_OF.get(closer)
    if state is None:
        m = closer.search(buf, i, n)
        if m is None:
            return -1, (n if final else max(i, n - _LOOKBEHIND)), closer
        return m.start(), m.end(), None
    at, resume, state = script_end(buf, i, n, state, final)
    if at < 0:
        return -1, resume, _SCRIPT_CLOSER_OF[state]
    return at, resume, None
