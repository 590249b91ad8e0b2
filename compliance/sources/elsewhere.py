"""Reloaded rules read in a helper process, so that serving threads keep the GIL.

Reading a changed rule set (YAML to `RuleSet`) is most of a reload: about 0.2 s of
Python for 1,000 rules. In the serving process that Python holds the GIL, and a
serving thread waits up to a switch interval (5 ms) each time it wants it back:
the slowest requests during a reload were tens of times slower than without one.
So a reload reads the rules in a helper process (one per serving process, started
at the first reload and kept, idle, for the next ones) and gets the `RuleSet` back
pickled; the serving process then only unpickles it and compiles its index. The
helper runs at the lowest CPU priority (nice 19), so that where cores are short
it reads on what the serving processes leave rather than on their time.

`load_rules_elsewhere(path)` and `load_bundle_elsewhere(data, ...)` return what
`load_rules` and `load_bundle` return, and raise what they raise (a
`RuleFileError` keeps its problems, with file, line and column). Where the helper
cannot do it (it cannot be started, it dies, the rule set does not pickle), the
rules are read here as before, and the reason is logged once.

The helper is `sys.executable` running this module, with the `compliance`
package's folder first on its path: no `multiprocessing`, so the app's main
module is never imported again in it. After a fork the child process starts a
helper of its own when it needs one; at exit the helper's input is closed and it
ends.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import dataclasses
import io
import itertools
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, Final

from compliance.rules.load import load_rules
from compliance.rules.model import RuleSet
from compliance.sources.unpack import load_bundle

__all__ = ["helper_pid", "load_bundle_elsewhere", "load_rules_elsewhere"]

logger = logging.getLogger("compliance")

_HEADER: Final = struct.Struct("!I")
_PACKAGE_ROOT: Final = str(Path(__file__).resolve().parent.parent.parent)
_CALLS: Final[dict[str, Callable[..., RuleSet]]] = {"load_rules": load_rules, "load_bundle": load_bundle}


def load_rules_elsewhere(path: str) -> RuleSet:
    """`load_rules(path)`, read in the helper process where it can be."""
    return _call("load_rules", (path,))


def load_bundle_elsewhere(data: bytes, name: str, content_type: str | None) -> RuleSet:
    """`load_bundle(data, name, content_type)`, read in the helper process where it can be."""
    return _call("load_bundle", (data, name, content_type))


def _call(name: str, args: tuple[Any, ...]) -> RuleSet:
    with _LOCK:
        answer = _ask(name, args)
    if answer is None:
        return _CALLS[name](*args)
    kind, value = answer
    if kind == "error":
        raise value
    assert isinstance(value, RuleSet)
    return value


def helper_pid() -> int | None:
    """The helper process's id while one runs for this process, else None."""
    helper = _helper
    return None if helper is None or helper.poll() is not None else helper.pid


# --- the serving process's side -------------------------------------------------------------------

_LOCK = threading.Lock()
_helper: subprocess.Popen[bytes] | None = None
_given_up: str | None = None  # why the helper is not used any more in this process


def _ask(name: str, args: tuple[Any, ...]) -> tuple[str, Any] | None:
    """The helper's answer, or None where the rules must be read here."""
    global _helper, _given_up
    if _given_up is not None:
        return None
    try:
        if _helper is None or _helper.poll() is not None:
            _helper = _start()
        assert _helper.stdin is not None and _helper.stdout is not None
        _send(_helper.stdin, pickle.dumps((name, args), protocol=pickle.HIGHEST_PROTOCOL))
        kind, value = pickle.loads(_receive(_helper.stdout))
    except Exception as exc:  # cannot start, died, or garbled: read here, and from now on
        _given_up = f"{type(exc).__name__}: {exc}"
        _stop()
        logger.warning("compliance: rules are reloaded in the serving process (%s)", _given_up)
        return None
    if kind == "here":
        logger.info("compliance: this rule set is read in the serving process (%s)", value)
        return None
    return kind, value


def _start() -> subprocess.Popen[bytes]:
    code = f"import sys; sys.path.insert(0, {_PACKAGE_ROOT!r}); from compliance.sources.elsewhere import serve; serve()"
    helper = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    return helper


def _send(stream: IO[bytes], payload: bytes) -> None:
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def _receive(stream: IO[bytes]) -> bytes:
    head = stream.read(_HEADER.size)
    if len(head) != _HEADER.size:
        raise EOFError("the helper process ended")
    size = _HEADER.unpack(head)[0]
    payload = stream.read(size)
    if len(payload) != size:
        raise EOFError("the helper process ended mid-answer")
    return payload


def _stop() -> None:
    """End the helper: its input closed, it ends when it has read everything."""
    global _helper
    helper, _helper = _helper, None
    if helper is None:
        return
    for stream in (helper.stdin, helper.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    try:
        helper.wait(timeout=2)
    except subprocess.TimeoutExpired:
        helper.kill()
        helper.wait()


def _after_fork_in_child() -> None:
    """The parent's helper and its pipes are the parent's: this process starts its own when it needs one."""
    global _helper, _LOCK
    helper, _helper = _helper, None
    _LOCK = threading.Lock()  # a fresh lock: the parent's may have been held at the fork
    if helper is not None:
        for stream in (helper.stdin, helper.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        helper.returncode = 0  # not ours to wait for


atexit.register(_stop)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# --- the helper's side ----------------------------------------------------------------------------


def _mapping(items: dict[str, Any]) -> MappingProxyType[str, Any]:
    return MappingProxyType(items)


_new: Final = object.__new__
_set_field: Final = object.__setattr__
_drain: Final = collections.deque[object](maxlen=0).extend  # an iterator run out, in C


def _rebuild(cls: type, names: tuple[str, ...], values: tuple[Any, ...]) -> Any:
    """A frozen dataclass with slots, as it was: a tenth of the cost of the `__setstate__` dataclasses gives it.

    The fields are set by `map` and drained in C, not by a Python loop: a sixth less
    unpickling time in the serving process, where it holds the GIL.
    """
    obj: Any = _new(cls)
    if len(names) != len(values):
        raise pickle.UnpicklingError(f"{cls.__name__}: {len(values)} values for {len(names)} fields")
    _drain(map(_set_field, itertools.repeat(obj, len(names)), names, values))
    return obj


_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _slot_fields(cls: type) -> tuple[str, ...] | None:
    """The fields of a dataclass with slots and no state of its own to restore, else None."""
    found = _FIELDS.get(cls, ())
    if found == ():
        found = None
        if dataclasses.is_dataclass(cls) and "__slots__" in cls.__dict__ and "__reduce__" not in cls.__dict__:
            names = tuple(f.name for f in dataclasses.fields(cls))
            if set(names) == set(cls.__dict__["__slots__"]):
                found = names
        _FIELDS[cls] = found
    return found


class _Pickler(pickle.Pickler):
    """Pickles a rule set: its read-only mappings as the dicts they show, its slotted dataclasses field by field."""

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is MappingProxyType:
            return _mapping, (dict(obj),)
        names = _slot_fields(kind)
        if names is not None:
            return _rebuild, (kind, names, tuple([getattr(obj, name) for name in names]))
        return NotImplemented


def _dumps(value: Any) -> bytes:
    out = io.BytesIO()
    _Pickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return out.getvalue()


def _answer(name: str, args: tuple[Any, ...]) -> bytes:
    try:
        ruleset = _CALLS[name](*args)
    except Exception as exc:
        exc.__traceback__ = None
        try:
            return _dumps(("error", exc))
        except Exception as unpicklable:
            return _dumps(("here", f"its error does not pickle: {unpicklable}"))
    try:
        return _dumps(("ok", ruleset))
    except Exception as unpicklable:
        return _dumps(("here", f"it does not pickle: {unpicklable}"))


def _yield_the_cpu() -> None:
    """The lowest CPU priority (nice 19): where cores are short, the serving processes get them first.

    The helper's reading competes with the serving processes for cores; at the
    priority they have, on a busy host, it took them from the serving threads for
    hundreds of milliseconds at each reload, and the slowest requests were ten
    times slower than without one. At the lowest, it reads on what they leave.
    """
    with contextlib.suppress(AttributeError, OSError):  # no `os.nice` (Windows), or not allowed
        os.nice(19)


def serve() -> None:
    """The helper's loop: one request (a pickled call) in, one answer out, until its input ends."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    _yield_the_cpu()
    sys.stdout = sys.stderr  # nothing printed while loading may garble the answers
    while True:
        try:
            name, args = pickle.loads(_receive(stdin))
        except EOFError:
            return
        _send(stdout, _answer(name, args))
