"""Shared fixtures; GeNN-marked tests are skipped, loudly, where GeNN is absent."""

from __future__ import annotations

import shutil
import uuid

import pytest

from graders import backends, settings


def _genn_reason() -> str | None:
    table = {b.name: b for b in backends.detect()}
    return None if table["genn-cpu"].available else table["genn-cpu"].reason


def _cuda_reason() -> str | None:
    table = {b.name: b for b in backends.detect()}
    return None if table["genn"].available else table["genn"].reason


_SKIPPED: list[str] = []
_PG_SELECTED: list[str] = []  # postgres-marked: skipped where no server is found or starts


def pytest_collection_modifyitems(config, items):
    genn, cuda = _genn_reason(), _cuda_reason()
    cxx = backends.compiler()
    from postgres_server import find_bindir  # tests/, like banks

    pg_missing = find_bindir()[1]
    for item in items:
        # Markers, not keywords: keywords also hold folder names and parameter ids, so a clone
        # in a folder named "genn" would skip every test.
        marks = {m.name for m in item.iter_markers()}
        if "genn" in marks and genn:
            item.add_marker(pytest.mark.skip(reason=f"GeNN 4.9 not found ({genn}); set GENN_PATH"))
            _SKIPPED.append(item.nodeid)
        elif "cuda" in marks and cuda:
            item.add_marker(pytest.mark.skip(reason=f"no GeNN CUDA backend here ({cuda})"))
            _SKIPPED.append(item.nodeid)
        elif "standalone" in marks and not cxx:
            item.add_marker(pytest.mark.skip(reason="no C++ compiler"))
        elif "postgres" in marks:
            _PG_SELECTED.append(item.nodeid)
            if pg_missing:
                item.add_marker(pytest.mark.skip(reason=pg_missing))


def pytest_terminal_summary(terminalreporter):
    # Only those that were selected and skipped (not those that -m or -k deselected).
    skipped = {r.nodeid for r in terminalreporter.stats.get("skipped", [])}
    count = sum(1 for nodeid in _SKIPPED if nodeid in skipped)
    if count:
        terminalreporter.write_sep("!", "GeNN-only tests SKIPPED", yellow=True, bold=True)
        genn = _genn_reason()
        why = (
            f"{genn}. Set GENN_PATH to a GeNN 4.9 build to run them"
            if genn
            else f"{_cuda_reason()}. They need GeNN's CUDA backend on an NVIDIA GPU"
        )
        terminalreporter.write_line(f"{count} tests did not run: {why}.")
    if _BROWSER_SKIPPED:
        terminalreporter.write_sep("!", "browser tests SKIPPED", yellow=True, bold=True)
        terminalreporter.write_line(
            f"The pages were not opened in a browser: {_BROWSER_SKIPPED[0]}"
        )
    hub = [
        r
        for r in terminalreporter.stats.get("skipped", [])
        if "JupyterHub test:" in str(r.longrepr)
    ]
    if hub:
        terminalreporter.write_sep("!", "JupyterHub tests SKIPPED", yellow=True, bold=True)
        terminalreporter.write_line(f"{len(hub)} tests did not run: {hub[0].longrepr[-1]}")
    pg = [r for r in terminalreporter.stats.get("skipped", []) if r.nodeid in _PG_SELECTED]
    if pg:
        terminalreporter.write_sep("!", "PostgreSQL tests SKIPPED", yellow=True, bold=True)
        reason = pg[0].longrepr[-1] if isinstance(pg[0].longrepr, tuple) else str(pg[0].longrepr)
        reason = reason.removeprefix("Skipped: ")
        terminalreporter.write_line(f"{len(pg)} tests did not run: {reason}")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test session gets its own result cache, never the user's."""
    cache = tmp_path_factory.getbasetemp() / "autograde-cache"
    monkeypatch.setenv(settings.CACHE_ENV, str(cache))
    monkeypatch.delenv(settings.BACKEND_ENV, raising=False)
    yield


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache for tests that count builds."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(settings.CACHE_ENV, str(cache))
    yield cache
    shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium (Playwright, the system's binary: tests/browser.py); the test is
    skipped, with the reason in the summary, where Playwright or Chromium is missing."""
    import browser as b  # tests/, like banks

    why = b.missing()
    if why:
        _BROWSER_SKIPPED.append(why)
        pytest.skip(f"browser test: {why}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=b.chromium_path(), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


_BROWSER_SKIPPED: list[str] = []


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server of this test session's own (tests/postgres_server.py), stopped at the
    end. Use it from tests marked ``postgres`` (skipped, with a summary line, where the server's
    binaries are missing); where the server cannot start, the test is skipped with its words."""
    import subprocess

    from postgres_server import Server, find_bindir

    bindir, why = find_bindir()
    if bindir is None:
        pytest.skip(why)
    server = None
    try:
        server = Server(bindir)
        server.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
        if server is not None:
            server.stop()
        pytest.skip(f"PostgreSQL ({bindir}) could not be started here: {err}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request):
    """The gradebook's URL the store follows: None (SQLite beside it, the default), or a fresh
    database on the session's PostgreSQL server (the service's tables go there)."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("pg_server").createdb(f"t{uuid.uuid4().hex[:16]}")
