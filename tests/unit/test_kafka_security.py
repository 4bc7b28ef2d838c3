"""Kafka security settings: what every client is given, secrets from files, refusals in one line."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import SaslAuthenticationFailed
from faststream.kafka.security import parse_security
from faststream.security import SASLScram512

from service.errors import ConfigError
from service.kafka_access import refusal
from service.kafka_security import (
    broker_security,
    client_options,
    principal,
    ssl_context,
    summary,
)
from service.settings import SECRET_SETTINGS, Settings


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def _sasl(**more: Any) -> Settings:
    values: dict[str, Any] = dict(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="ingest",
        kafka_sasl_password="s3cret-password",
    )
    return _settings(**(values | more))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and a client certificate signed by it (PEM), made with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    d = tmp_path_factory.mktemp("pki")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=t", "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=client", "-keyout", "client.key", "-out", "client.csr")  # fmt: skip
    run("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1", "-out", "client.pem")  # fmt: skip
    return d


def test_plaintext_adds_nothing() -> None:
    """The default (PLAINTEXT) gives the clients no option and FastStream no security object."""
    s = _settings()
    assert client_options(s) == {}
    assert broker_security(s) is None
    assert ssl_context(s) is None
    assert summary(s) == "PLAINTEXT"


def test_sasl_plaintext_options() -> None:
    """SASL without TLS: the protocol, mechanism and credentials, no SSL context."""
    assert client_options(_sasl()) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "ingest",
        "sasl_plain_password": "s3cret-password",
    }


def test_sasl_ssl_with_ca(pki: Path) -> None:
    """SASL_SSL verifies the broker against KAFKA_SSL_CAFILE, host names included."""
    opts = client_options(
        _sasl(kafka_security_protocol="SASL_SSL", kafka_ssl_cafile=str(pki / "ca.pem"))
    )
    ctx = opts["ssl_context"]
    assert opts["security_protocol"] == "SASL_SSL"
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.cert_store_stats()["x509_ca"] == 1


def test_ssl_client_certificate(pki: Path) -> None:
    """SSL with a client certificate and key (mTLS) loads them into the context."""
    s = _settings(
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=str(pki / "ca.pem"),
        kafka_ssl_certfile=str(pki / "client.pem"),
        kafka_ssl_keyfile=str(pki / "client.key"),
    )
    opts = client_options(s)
    assert set(opts) == {"security_protocol", "ssl_context"}
    assert principal(s) == f"the client certificate {pki / 'client.pem'}"


def test_unreadable_ca_is_a_config_error(tmp_path: Path) -> None:
    """A CA file that is missing names the setting and the path."""
    s = _sasl(kafka_security_protocol="SASL_SSL", kafka_ssl_cafile=str(tmp_path / "nope.pem"))
    with pytest.raises(ConfigError, match=r"KAFKA_SSL_CAFILE=.*nope\.pem"):
        client_options(s)


@pytest.mark.parametrize(
    ("protocol", "mechanism"),
    [
        ("SASL_PLAINTEXT", "PLAIN"),
        ("SASL_PLAINTEXT", "SCRAM-SHA-256"),
        ("SASL_PLAINTEXT", "SCRAM-SHA-512"),
        ("SASL_SSL", "SCRAM-SHA-512"),
        ("SSL", "PLAIN"),
    ],
)
def test_faststream_gets_the_same_options(protocol: str, mechanism: str, pki: Path) -> None:
    """FastStream's security object turns into exactly the options the aiokafka clients get."""
    s = _sasl(
        kafka_security_protocol=protocol,
        kafka_sasl_mechanism=mechanism,
        kafka_ssl_cafile=str(pki / "ca.pem"),
    )
    ours = client_options(s)
    theirs = {k: v for k, v in parse_security(broker_security(s)).items() if v is not None}
    assert set(theirs) == set(ours)
    assert {k: v for k, v in theirs.items() if k != "ssl_context"} == {
        k: v for k, v in ours.items() if k != "ssl_context"
    }


def test_scram512_object() -> None:
    """SCRAM-SHA-512 is FastStream's SASLScram512 with the process's user."""
    sec = broker_security(_sasl())
    assert isinstance(sec, SASLScram512) and sec.username == "ingest" and not sec.use_ssl


def test_sasl_needs_credentials() -> None:
    """A SASL protocol without a user or password refuses to start, naming what is missing."""
    with pytest.raises(ConfigError, match="KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        _settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="x")


def test_summary_and_errors_hold_no_password() -> None:
    """The log summary, the settings' repr and a refusal never show the password."""
    s = _sasl(kafka_security_protocol="SASL_SSL", kafka_ssl_cafile="/etc/ca.pem")
    line = refusal(SaslAuthenticationFailed("bad"), broker="b:9093", settings=s)
    assert line is not None
    for text in (summary(s), repr(s), str(s.model_dump()), line):
        assert "s3cret-password" not in text
    assert "user 'ingest' (SCRAM-SHA-512)" in line and "b:9093" in line


def test_refusals_are_one_line(tmp_path: Path) -> None:
    """A wrong CA and a refused handshake each make one line; a broker away makes none."""
    s = _sasl(kafka_security_protocol="SASL_SSL", kafka_ssl_cafile="/ca.pem")
    bad_ca = ssl.SSLCertVerificationError(1, "certificate verify failed")
    bad_ca.verify_message = "unable to get local issuer certificate"
    line = refusal(bad_ca, broker="127.0.0.1:9093", settings=s)
    assert line is not None and "\n" not in line
    assert "failed TLS verification" in line and "KAFKA_SSL_CAFILE=/ca.pem" in line
    assert refusal(ConnectionRefusedError(), broker="x:1", settings=s) is None
    assert refusal(TimeoutError(), broker="x:1", settings=s) is None


def test_secret_from_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NAME_FILE gives a secret from a file, without its trailing line break."""
    (tmp_path / "pw").write_text("from-a-file\n")
    (tmp_path / "db").write_text("postgresql://u:p@h/db\n")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "pw"))
    monkeypatch.setenv("DATABASE_URL_FILE", str(tmp_path / "db"))
    s = _settings()
    assert s.kafka_sasl_password.get_secret_value() == "from-a-file"
    assert s.database_url.get_secret_value() == "postgresql://u:p@h/db"


def test_secret_file_and_value_both_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NAME and NAME_FILE together are refused (which one wins would be a guess)."""
    (tmp_path / "t").write_text("x" * 20)
    monkeypatch.setenv("ACCESS_TOKEN_FILE", str(tmp_path / "t"))
    monkeypatch.setenv("ACCESS_TOKEN", "y" * 20)
    with pytest.raises(ConfigError, match="both ACCESS_TOKEN and ACCESS_TOKEN_FILE"):
        _settings()


def test_secret_file_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreadable NAME_FILE names the variable and the path."""
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match=r"OPENAI_API_KEY_FILE=.*absent: cannot read"):
        _settings()


def test_every_secret_is_a_secretstr() -> None:
    """Each setting that may come from a file is a SecretStr (hidden in repr and logs)."""
    by_alias = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", [alias])
        for choice in choices:
            by_alias[choice] = (name, field)
    for env_name in SECRET_SETTINGS:
        _, field = by_alias[env_name]
        assert field.annotation is not None and "SecretStr" in str(field.annotation), env_name


def test_client_certificate_refused_is_one_line() -> None:
    """The broker's alert, seen as a closed connection caused by a TLS error, is a refusal."""
    s = _sasl(kafka_security_protocol="SASL_SSL", kafka_ssl_certfile="/other.pem")
    closed = ConnectionResetError("Connection at b:9093 closed")
    alert = ssl.SSLError(1, "sslv3 alert certificate unknown")
    alert.reason = "SSLV3_ALERT_CERTIFICATE_UNKNOWN"
    closed.__cause__ = alert
    line = refusal(closed, broker="b:9093", settings=s)
    assert line is not None
    assert "refused the TLS handshake" in line and "client certificate" in line
    assert "KAFKA_SSL_CERTFILE=/other.pem" in line


def test_grants_are_least_privilege() -> None:
    """Each process's ACLs name only our topics and its own group; the gateway reads nothing."""
    from service.kafka_admin import GRANTS
    from service.names import ALL_TOPICS, GROUP_INGEST, GROUP_REPORTS, TOPIC_RAW, TOPIC_REPORTS

    assert set(GRANTS) == {"gateway", "ingest", "reporter", "cli"}
    for grants in GRANTS.values():
        for g in grants:
            assert g.name in (ALL_TOPICS if g.kind == "topic" else (GROUP_INGEST, GROUP_REPORTS))
    assert all(g.operation == "write" for g in GRANTS["gateway"])
    groups = {u: {g.name for g in gs if g.kind == "group"} for u, gs in GRANTS.items()}
    assert groups == {
        "gateway": set(),
        "ingest": {GROUP_INGEST},
        "reporter": {GROUP_REPORTS},
        "cli": set(),
    }
    writers_of_raw = {
        u for u, gs in GRANTS.items() for g in gs if (g.name, g.operation) == (TOPIC_RAW, "write")
    }
    readers_of_reports = {
        u
        for u, gs in GRANTS.items()
        for g in gs
        if (g.name, g.operation) == (TOPIC_REPORTS, "read")
    }
    assert writers_of_raw == {"gateway", "cli"} and readers_of_reports == {"cli"}
