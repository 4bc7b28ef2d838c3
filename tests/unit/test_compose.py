"""docker-compose.yml, deploy/Dockerfile and .env.example agree with each other and with Settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"

APP_SERVICES = ("gateway", "ingest", "reporter")
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}; $${...} is an escape.
_INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
# NAME=value, or "# NAME=value" for an optional variable left at its default.
_ENV_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
_SECRET_WORDS = {"KEY", "TOKEN", "TOKENS", "PASSWORD", "PASSWD", "SECRET", "CREDENTIALS"}


def _looks_secret(name: str) -> bool:
    """OPENAI_API_KEY, ACCESS_TOKEN, POSTGRES_PASSWORD...; not counts such as LLM_MAX_TOKENS."""
    words = name.upper().split("_")
    return bool(_SECRET_WORDS & set(words)) and "MAX" not in words


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _env_example() -> dict[str, str]:
    """Each listed variable -> the comment block just above it."""
    listed: dict[str, str] = {}
    comment: list[str] = []
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        m = _ENV_LINE.match(line)
        if m:
            listed.setdefault(m.group(1), "\n".join(comment))
            comment = []
        elif line.startswith("#"):
            comment.append(line)
        else:
            comment = []
    return listed


def _compose_only() -> set[str]:
    return {name for name, comment in _env_example().items() if "compose only" in comment.lower()}


def _settings_names() -> set[str]:
    names: set[str] = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(c for c in alias.choices if isinstance(c, str))
        elif isinstance(alias, str):
            names.add(alias)
        else:  # no alias: pydantic-settings reads the field name itself
            names.add(field_name.upper())
    return names


def _primary_settings_names() -> set[str]:
    """The first (documented, assignable) name of each field."""
    names: set[str] = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            first = alias.choices[0]
            assert isinstance(first, str)
            names.add(first)
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(field_name.upper())
    return names


def _app_env(service: str) -> dict[str, Any]:
    env = _compose()["services"][service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(env)


def test_compose_variables_are_in_env_example() -> None:
    """Every ${VAR} that docker-compose.yml substitutes is listed in .env.example."""
    lines = COMPOSE.read_text(encoding="utf-8").splitlines()
    code = "\n".join(ln for ln in lines if not ln.lstrip().startswith("#"))
    used = set(_INTERPOLATION.findall(code))
    assert used, "no ${VAR} found in docker-compose.yml"
    missing = used - set(_env_example())
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_settings_variables_are_in_env_example() -> None:
    """Every environment variable Settings reads is in .env.example (primary names as NAME= lines)."""
    listed = set(_env_example())
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert not _primary_settings_names() - listed, sorted(_primary_settings_names() - listed)
    unmentioned = {n for n in _settings_names() if not re.search(rf"\b{n}\b", text)}
    assert not unmentioned, f"mention these aliases in .env.example: {sorted(unmentioned)}"


def test_original_service_names_are_documented() -> None:
    """The original service's .env names appear in .env.example (DB_NAME as a note)."""
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    for name in (
        "OPENAI_API_KEY",
        "APP_TITLE",
        "NAME_OF_API_MODEL",
        "ACCESS_TOKEN",
        "DATABASE_URL",
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_DB",
        "DB_NAME",
        "REDIS_PASSWORD",
        "REDIS_URL",
        "REDIS_CONNECT_URL",
        "CACHE_LIFE_PERIOD",
    ):
        assert re.search(rf"\b{name}\b", text), name


@pytest.mark.parametrize("service", [*APP_SERVICES, "migrate"])
def test_app_environment_keys_are_known(service: str) -> None:
    """Every key in an app service's environment is a name Settings reads or a compose-only one."""
    keys = set(_app_env(service))
    assert {"ACCESS_TOKEN", "KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "REDIS_URL"} <= keys
    unknown = keys - _settings_names() - _compose_only()
    assert not unknown, f"{service}: not read by Settings: {sorted(unknown)}"


def test_compose_only_variables_are_not_settings() -> None:
    """The variables marked compose only in .env.example are indeed not read by Settings."""
    only = _compose_only()
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "REDIS_PASSWORD"} <= only
    assert not only & _settings_names()


def test_required_secrets_are_required_and_empty_in_example() -> None:
    """Compose refuses to start without the secrets, and .env.example ships none."""
    text = COMPOSE.read_text(encoding="utf-8")
    for name in ("ACCESS_TOKEN", "POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        assert re.search(rf"\$\{{{name}:\?", text), f"{name} must be ${{{name}:?...}}"
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if m and _looks_secret(m.group(1)):
            assert m.group(2).strip() == "", f"{m.group(1)} has a value in .env.example"


def test_app_runs_in_production() -> None:
    """The containers run with APP_ENV=production and the gateway's default of two workers."""
    for service in (*APP_SERVICES, "migrate"):
        assert _app_env(service)["APP_ENV"] == "production"
    assert "GATEWAY_WORKERS:-2" in str(_app_env("gateway")["GATEWAY_WORKERS"])


def test_app_commands_are_real_subcommands() -> None:
    """The app services run `serve gateway|ingest|reporter`, migrate runs migrate then topics."""
    from service.cli.main import _parser

    services = _compose()["services"]
    parser = _parser()
    for name in APP_SERVICES:
        command = services[name]["command"]
        assert command == ["serve", name]
        args = parser.parse_args(command)
        assert (args.command, args.process) == ("serve", name)
        assert (
            services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        )
        for dep in ("kafka", "postgres", "redis"):
            assert services[name]["depends_on"][dep]["condition"] == "service_healthy"
    migrate = services["migrate"]
    assert migrate["entrypoint"] == ["sh", "-c"]
    steps = [s.split() for s in migrate["command"][0].split("&&")]
    assert steps == [["sales-analyzer", "migrate"], ["sales-analyzer", "topics"]]
    for step in steps:
        assert parser.parse_args(step[1:]).command == step[1]


def test_scalable_services_publish_no_host_ports() -> None:
    """ingest and reporter have no fixed host ports, so `--scale` works; the gateway is on loopback."""
    services = _compose()["services"]
    assert "ports" not in services["ingest"] and "ports" not in services["reporter"]
    assert services["gateway"]["ports"] == ["127.0.0.1:8000:8000"]
    assert set(_compose()["volumes"]) >= {"kafka-data", "pg-data"}


def test_dockerfile_is_non_root_and_has_no_secrets() -> None:
    """The Dockerfile ends as a non-root USER and sets no ENV/ARG that looks like a secret."""
    lines: list[str] = []
    for raw in DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ").splitlines():
        stripped = raw.strip()
        if stripped and not stripped.startswith("#"):
            lines.append(stripped)
    users = [ln.split(None, 1)[1] for ln in lines if ln.upper().startswith("USER ")]
    assert users, "no USER instruction"
    assert users[-1].split(":")[0] not in ("root", "0")
    for ln in lines:
        instr, _, rest = ln.partition(" ")
        if instr.upper() not in ("ENV", "ARG"):
            continue
        for name, value in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)(?:=(\"[^\"]*\"|\S*))?", rest):
            if _looks_secret(name):
                assert not value.strip('"'), f"{instr} {name} has a value in the Dockerfile"
    assert any(ln.startswith("ENTRYPOINT") and "sales-analyzer" in ln for ln in lines)
    assert any(re.match(r"ENV\b.*\bGATEWAY_HOST=0\.0\.0\.0\b", ln) for ln in lines)
