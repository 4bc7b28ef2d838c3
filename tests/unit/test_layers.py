"""The package's shape: imports flow one way, Kafka errors are mapped in one place,
and every `__all__` is in step with what other modules import."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[2] / "service"

# What each layer must never import: gateway → ingest/reporter → storage → models.
FORBIDDEN = {
    "service.storage": (
        "service.reporter",
        "service.ingest",
        "service.gateway",
        "service.consumer",
    ),
    "service.ingest.decide": ("service.storage", "service.cache", "service.bus"),
    "service.xmlhead": ("service.ingest", "service.gateway", "service.storage"),
    "service.models": (
        "service.storage",
        "service.ingest",
        "service.reporter",
        "service.gateway",
        "service.events",
    ),
    # The topics' payloads: models and nothing of a stage.
    "service.events": (
        "service.storage",
        "service.ingest",
        "service.reporter",
        "service.gateway",
        "service.cli",
    ),
    "service.xmltools": ("service.ingest", "service.gateway", "service.storage", "service.xmlhead"),
    # decoding is pure: the edges (gateway, ingest's decide, the CLI) call it
    "service.encoding": (
        "service.ingest",
        "service.gateway",
        "service.storage",
        "service.xmlhead",
        "lxml",
    ),
    "service.ingest": ("service.reporter", "service.gateway"),
    "service.reporter": ("service.ingest", "service.gateway"),
    # The gateway (its dashboard too) shows figures through service.figures, cuts big days
    # with service.chunking: never the reporter's or ingest's internals (the parser).
    "service.gateway": ("service.reporter", "service.ingest", "service.cli"),
    # Shared by gateway, CLI, ingest (chunking) and reporter, dashboard (figures): no stage.
    "service.chunking": (
        "service.gateway",
        "service.ingest",
        "service.reporter",
        "service.storage",
        "service.cli",
    ),
    "service.figures": ("service.gateway", "service.ingest", "service.reporter", "service.cli"),
    # The CLI starts the stages (their apps) but uses none of their internals.
    "service.cli": ("service.gateway.", "service.ingest.", "service.reporter."),
    # The staging registry knows nothing of storing a day (storage/days.py, staged_days.py).
    "service.storage.staging": ("service.storage.days", "service.storage.staged_days"),
    # A day's claim is Redis's alone; PostgreSQL's unique day is storage/days.py's.
    "service.ingest.claims": ("service.storage",),
}
# What a ban above still lets through: the CLI serves the stages' apps.
ALLOWED = {"service.cli": ("service.gateway.app", "service.ingest.app", "service.reporter.app")}


def _module(path: Path) -> str:
    parts = path.relative_to(SERVICE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in a file, relative imports resolved."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = (
                package.split(".")[: len(package.split(".")) - (node.level - 1)]
                if node.level
                else []
            )
            target = (
                ".".join([*base, node.module] if node.module else base)
                if node.level
                else node.module or ""
            )
            found.append((target, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((a.name, []) for a in node.names)
    return found


FILES = sorted(SERVICE.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: _module(p))
def test_imports_flow_one_way(path: Path) -> None:
    """No module imports a layer above its own (storage never the stages, decide never storage)."""
    module = _module(path)
    banned = [
        b
        for layer, bans in FORBIDDEN.items()
        if module == layer or module.startswith(layer + ".")
        for b in bans
    ]
    allowed = [a for layer, ok in ALLOWED.items() if module.startswith(layer) for a in ok]
    for target, _ in _imports(path):
        if target in allowed:
            continue
        assert not any(
            target == b.rstrip(".") or target.startswith(b if b.endswith(".") else b + ".")
            for b in banned
        ), f"{module} imports {target}"


def test_only_the_cli_imports_the_contracts_generator() -> None:
    """The contracts generator builds both stage apps: only the CLI may import it."""
    users = {
        _module(p)
        for p in FILES
        for target, _ in _imports(p)
        if target == "service.cli.contracts_gen"
    }
    assert all(u.startswith("service.cli") for u in users), users


def test_kafka_errors_are_mapped_in_one_place() -> None:
    """Only service/bus.py (Kafka away) and service/kafka_access.py (Kafka refusing a
    process: TLS, credentials, ACLs) know aiokafka's exceptions; the rest use theirs."""
    users = {
        _module(p)
        for p in FILES
        for target, _ in _imports(p)
        if target.startswith("aiokafka.errors")
    }
    assert users == {"service.bus", "service.kafka_access"}


def test_all_lists_match_use() -> None:
    """Every name in an `__all__` exists, and every name one service module imports from another is in it."""
    exported = {}
    for path in FILES:
        module = importlib.import_module(_module(path))
        names = getattr(module, "__all__", None)
        if names is not None:
            assert all(hasattr(module, n) for n in names), _module(path)
            exported[_module(path)] = set(names)
    for path in FILES:
        for target, names in _imports(path):
            if target in exported:
                missing = {n for n in names if not n.startswith("_")} - exported[target]
                assert not missing, (
                    f"{_module(path)} imports {sorted(missing)} from {target}, not in its __all__"
                )
