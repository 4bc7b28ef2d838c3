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
    "service.models": ("service.storage", "service.ingest", "service.reporter", "service.gateway"),
    "service.ingest": ("service.reporter", "service.gateway"),
    "service.reporter": ("service.ingest", "service.gateway"),
}


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
    for target, _ in _imports(path):
        assert not any(target == b or target.startswith(b + ".") for b in banned), (
            f"{module} imports {target}"
        )


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
