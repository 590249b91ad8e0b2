"""Live reload from disk: real files, real threads, the rules in force swapped in one piece."""

from __future__ import annotations

import functools
import gc
import logging
import os
import shutil
import statistics
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path

import pytest

from compliance import ConfigError, Jurisdiction, RuleFileError
from compliance.rules.decide import Engine
from compliance.sources.reload import RuleSource

INTERVAL = 0.05
RU = Jurisdiction("RU", None, False, "static")
DE = Jurisdiction("DE", None, False, "static")
WATCHER = "compliance rules watcher"


def rules_text(tag: str, countries: str = "RU") -> str:
    """A rule set whose two rules (`TAG-first`, `TAG-second`) both fire for `countries`."""
    return f"""\
notices:
  {tag}-one:
    title: First notice {tag}
    text: {{en: "First {tag}."}}
  {tag}-two:
    title: Second notice {tag}
    text: {{en: "Second {tag}."}}
rules:
  - id: {tag}-first
    notice: {tag}-one
    jurisdictions: [{countries}]
  - id: {tag}-second
    notice: {tag}-two
    jurisdictions: [{countries}]
"""


BROKEN = """\
notices:
  broken-one:
    title: Broken
    text: {en: "Broken."}
rules:
  - id: broken-first
    notice: no-such-notice
    jurisdictions: [RU]
  - id: broken-second
    notice: broken-one
    jurisdictions: [NOT-A-PLACE]
"""


def fired(source: RuleSource, who: Jurisdiction = RU, path: str = "/news/story") -> tuple[str, ...]:
    return tuple(f.rule.id for f in source.engine.decide(who, "", path, time.time()).fired)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds until `condition()` held; fails the test past `timeout`."""
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.002)
    return time.perf_counter() - start


def watchers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == WATCHER}


def write_via_rename(path: Path, text: str) -> None:
    """Save as editors do: write a temporary file beside it, then rename it over the original."""
    temp = path.with_name(f".{path.name}.swp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def configmap(root: Path, files: dict[str, str], stamp: str) -> None:
    """Lay out (or update) `root` as the kubelet lays out a ConfigMap volume, swapping `..data` atomically."""
    root.mkdir(exist_ok=True)
    data = root / f"..{stamp}"
    data.mkdir()
    for name, text in files.items():
        (data / name).write_text(text, encoding="utf-8")
    current = root / "..data"
    old = os.readlink(current) if current.is_symlink() else None
    temp = root / "..data_tmp"
    os.symlink(data.name, temp)
    os.replace(temp, current)
    for name in files:
        link = root / name
        if not link.is_symlink():
            os.symlink(f"..data/{name}", link)
    for link in root.iterdir():
        if link.is_symlink() and not link.name.startswith("..") and link.name not in files:
            link.unlink()
    if old is not None:
        shutil.rmtree(root / old)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "rules"
    root.mkdir()
    (root / "ru.yaml").write_text(rules_text("old"), encoding="utf-8")
    return root


def test_rules_load_at_start_with_a_content_version(folder: Path) -> None:
    source = RuleSource(folder, interval=None)
    assert fired(source) == ("old-first", "old-second")
    assert len(source.version) == 64 and source.last_error is None
    assert time.time() - source.loaded_at < 60
    again = RuleSource(folder, interval=None)
    assert again.version == source.version


def test_broken_rules_at_start_raise(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(RuleFileError):
        RuleSource(path, interval=None)


def test_bundle_options_are_refused_for_a_path(folder: Path) -> None:
    with pytest.raises(ConfigError, match="bundle_sha256"):
        RuleSource(folder, interval=None, sha256="0" * 64)
    with pytest.raises(ConfigError, match="reload_interval"):
        RuleSource(folder, interval=0)


def test_a_changed_file_takes_effect_and_the_latency_is_measured(folder: Path) -> None:
    source = RuleSource(folder, interval=INTERVAL)
    source.start()
    try:
        latencies = []
        for i in range(5):
            expected = (f"v{i}-first", f"v{i}-second")
            (folder / "ru.yaml").write_text(rules_text(f"v{i}"), encoding="utf-8")
            latencies.append(wait_for(functools.partial(lambda want: fired(source) == want, expected)))
    finally:
        source.close()
    print(
        f"reload latency at interval={INTERVAL}s: median {statistics.median(latencies) * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms"
    )
    assert max(latencies) < 1.0


def test_an_editors_write_and_rename_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(rules_text("old"), encoding="utf-8")
    source = RuleSource(path, interval=INTERVAL)
    source.start()
    try:
        write_via_rename(path, rules_text("new"))
        wait_for(lambda: fired(source) == ("new-first", "new-second"))
    finally:
        source.close()


def test_files_added_to_and_removed_from_a_folder_count(folder: Path) -> None:
    source = RuleSource(folder, interval=INTERVAL)
    source.start()
    try:
        (folder / "de.yaml").write_text(rules_text("added", "DE"), encoding="utf-8")
        wait_for(lambda: fired(source, DE) == ("added-first", "added-second"))
        assert fired(source) == ("old-first", "old-second")
        (folder / "ru.yaml").unlink()
        wait_for(lambda: fired(source) == ())
        assert fired(source, DE) == ("added-first", "added-second")
    finally:
        source.close()


def test_a_configmap_symlink_swap_is_seen(tmp_path: Path) -> None:
    root = tmp_path / "config"
    configmap(root, {"ru.yaml": rules_text("old")}, "2026_01_01_00_00_00.1")
    assert (root / "ru.yaml").is_symlink() and (root / "..data").is_symlink()
    source = RuleSource(root, interval=INTERVAL)
    source.start()
    try:
        assert fired(source) == ("old-first", "old-second")
        configmap(root, {"ru.yaml": rules_text("new")}, "2026_01_01_00_01_00.2")
        wait_for(lambda: fired(source) == ("new-first", "new-second"))
        # A key added to the ConfigMap: a new file behind a new top-level symlink.
        configmap(root, {"ru.yaml": rules_text("new"), "de.yaml": rules_text("de", "DE")}, "2026_01_01_00_02_00.3")
        wait_for(lambda: fired(source, DE) == ("de-first", "de-second"))
        assert len(source.engine.ruleset.rules) == 4
    finally:
        source.close()


def test_a_single_rule_file_from_a_configmap_follows_the_symlink_swap(tmp_path: Path) -> None:
    root = tmp_path / "config"
    configmap(root, {"ru.yaml": rules_text("old")}, "2026_01_01_00_00_00.1")
    source = RuleSource(root / "ru.yaml", interval=INTERVAL)  # the file itself: a symlink into ..data
    source.start()
    try:
        # Past the time in which a fresh file's content is compared on every poll: from here on,
        # only the stat of the symlink's target can tell that the file changed.
        time.sleep(2.1)
        configmap(root, {"ru.yaml": rules_text("new")}, "2026_01_01_00_01_00.2")
        wait_for(lambda: fired(source) == ("new-first", "new-second"))
    finally:
        source.close()


def test_a_broken_change_is_logged_with_every_problem_and_the_rules_stay(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="compliance")
    source = RuleSource(folder, interval=INTERVAL)
    version = source.version
    source.start()
    try:
        (folder / "ru.yaml").write_text(BROKEN, encoding="utf-8")
        wait_for(lambda: source.last_error is not None)
        assert isinstance(source.last_error, RuleFileError)
        assert fired(source) == ("old-first", "old-second")
        assert source.version == version
        errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "compliance"]
        assert len(errors) == 1
        message = errors[0].getMessage()
        where = str(folder / "ru.yaml")
        assert f"{where}:7:13: error[" in message  # the notice that does not exist
        assert f"{where}:11:21: error[" in message  # the jurisdiction that does not exist
        time.sleep(INTERVAL * 4)
        assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1, "the same error is logged once"
        (folder / "ru.yaml").write_text(rules_text("fixed"), encoding="utf-8")
        wait_for(lambda: fired(source) == ("fixed-first", "fixed-second"))
        assert source.last_error is None and source.version != version
    finally:
        source.close()


def test_start_makes_one_thread_however_often_it_is_called(folder: Path) -> None:
    before = watchers()
    source = RuleSource(folder, interval=INTERVAL)
    assert watchers() == before and not source.watching

    def start_often() -> None:
        for _ in range(1000):
            source.start()

    calls = [threading.Thread(target=start_often) for _ in range(4)]
    for call in calls:
        call.start()
    for call in calls:
        call.join()
    assert len(watchers() - before) == 1 and source.watching
    source.close()
    assert watchers() == before and not source.watching
    source.start()
    assert not source.watching, "a closed source does not watch again"


def test_no_interval_means_no_thread(folder: Path) -> None:
    before = watchers()
    source = RuleSource(folder, interval=None)
    source.start()
    assert watchers() == before
    (folder / "ru.yaml").write_text(rules_text("manual"), encoding="utf-8")
    assert source.reload_now() is True
    assert fired(source) == ("manual-first", "manual-second")
    assert source.reload_now() is False


def test_the_thread_does_not_keep_its_source_alive(folder: Path) -> None:
    before = watchers()
    source = RuleSource(folder, interval=INTERVAL)
    source.start()
    (thread,) = watchers() - before
    ref = weakref.ref(source)
    del source
    wait_for(lambda: gc.collect() >= 0 and ref() is None, timeout=2)
    thread.join(timeout=2)
    assert not thread.is_alive()


def test_reload_under_concurrent_requests_never_shows_a_mixed_or_empty_rule_set(folder: Path) -> None:
    answers = {"old": ("old-first", "old-second"), "new": ("new-first", "new-second")}
    source = RuleSource(folder, interval=INTERVAL)
    source.start()
    stop = threading.Event()
    seen: list[dict[tuple[str, ...], int]] = []
    failures: list[BaseException] = []

    def hammer() -> None:
        counts: dict[tuple[str, ...], int] = {}
        seen.append(counts)
        try:
            while not stop.is_set():
                engine = source.engine
                for path in ("/news/a", "/news/b", "/"):
                    ids = tuple(f.rule.id for f in engine.decide(RU, "", path, time.time()).fired)
                    counts[ids] = counts.get(ids, 0) + 1
                ids = fired(source)
                counts[ids] = counts.get(ids, 0) + 1
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        swaps = 0
        for i in range(6):
            tag = "new" if i % 2 == 0 else "old"
            before = source.version
            (folder / "ru.yaml").write_text(rules_text(tag), encoding="utf-8")
            wait_for(functools.partial(lambda old: source.version != old, before))
            swaps += 1
            time.sleep(0.01)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
        source.close()
    assert not failures
    total: dict[tuple[str, ...], int] = {}
    for counts in seen:
        for ids, n in counts.items():
            total[ids] = total.get(ids, 0) + n
    assert swaps == 6
    assert set(total) <= set(answers.values()), f"a decision from neither rule set: {total}"
    assert set(total) == set(answers.values()), "both rule sets were in force while the requests ran"
    assert sum(total.values()) > 1000


def test_a_touch_without_a_change_keeps_the_engine(folder: Path) -> None:
    source = RuleSource(folder, interval=None)
    engine = source.engine
    os.utime(folder / "ru.yaml", ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    assert source.reload_now() is False
    assert source.engine is engine
    assert isinstance(engine, Engine)


def test_a_rule_file_removed_and_put_back_recovers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="compliance")
    path = tmp_path / "rules.yaml"
    path.write_text(rules_text("old"), encoding="utf-8")
    source = RuleSource(path, interval=None)
    path.unlink()
    assert source.reload_now() is False
    assert isinstance(source.last_error, RuleFileError) and fired(source) == ("old-first", "old-second")
    path.write_text(rules_text("old"), encoding="utf-8")
    assert source.reload_now() is False, "the content in force came back: nothing to swap"
    assert source.last_error is None
    assert any("can be read again" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_watches_on_its_own(folder: Path) -> None:
    # As under `gunicorn --preload`: the source is built in the master, then the worker forks.
    source = RuleSource(folder, interval=INTERVAL)
    source.start()
    assert source.watching
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running: the point of the test
        pid = os.fork()
    if pid == 0:  # the worker
        code = 1
        try:
            inherited = source.watching
            source.start()
            (folder / "ru.yaml").write_text(rules_text("child"), encoding="utf-8")
            deadline = time.monotonic() + 5
            while fired(source) != ("child-first", "child-second") and time.monotonic() < deadline:
                time.sleep(0.01)
            code = 0 if not inherited and source.watching and fired(source) == ("child-first", "child-second") else 3
        finally:
            os._exit(code)
    deadline = time.monotonic() + 10
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked worker hung")
        time.sleep(0.01)
    source.close()
    assert os.waitstatus_to_exitcode(status) == 0
