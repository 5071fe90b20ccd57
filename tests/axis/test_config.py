"""Configuration from AXIS_* variables: defaults that work, one clear line for a bad value."""

from __future__ import annotations

import subprocess
import sys

import pytest

from axis.config import Config, mask_url
from axis.core.errors import ConfigError


def test_defaults_point_at_local_services() -> None:
    cfg = Config.from_env({})
    assert cfg.database_url.startswith("postgresql://") and "127.0.0.1:5432" in cfg.database_url
    assert cfg.amqp_url.startswith("amqp://") and "127.0.0.1:5672" in cfg.amqp_url
    assert cfg.blob_url.startswith("file://") and cfg.blob_url.endswith("/var/blobs")
    assert (cfg.listen_host, cfg.listen_port) == ("127.0.0.1", 8080)
    assert cfg.log_format == "json"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AXIS_DATABASE_URL", "mysql://localhost/axis"),
        ("AXIS_AMQP_URL", "http://localhost:5672"),
        ("AXIS_BLOB_URL", "ftp://example/blobs"),
        ("AXIS_BLOB_URL", "s3://minio:9000/bucket"),
        ("AXIS_LISTEN", "8080"),
        ("AXIS_LISTEN", "127.0.0.1:99999"),
        ("AXIS_LOG_FORMAT", "xml"),
        ("AXIS_MAX_DOCUMENT_BYTES", "-1"),
        ("AXIS_CERT_ORGAN_FIELDS", "uid,cn"),
        ("AXIS_CERT_ORGAN_FIELDS", ","),
        ("AXIS_TOKEN_CACHE_SECONDS", "-1"),
        ("AXIS_TOKEN_CACHE_SECONDS", "nan"),
        ("AXIS_TOKEN_CACHE_SECONDS", "86400"),
        ("AXIS_EVENT_LOOP", "trio"),
        ("AXIS_INLINE_MAX_BYTES", "-1"),
        ("AXIS_INLINE_MAX_BYTES", "64KB"),
        ("AXIS_INLINE_MAX_BYTES", str(64 * 1024 * 1024)),
    ],
)
def test_a_bad_value_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_env({variable: value})
    assert info.value.variable == variable
    assert str(info.value).startswith(variable + ":")


def test_certificate_organ_fields_default_to_every_place_and_may_be_narrowed() -> None:
    assert Config.from_env({}).cert_organ_fields == ("uid", "ou", "serialnumber", "san-uri")
    narrowed = Config.from_env({"AXIS_CERT_ORGAN_FIELDS": "OU, san-uri"})
    assert narrowed.cert_organ_fields == ("ou", "san-uri")
    assert narrowed.masked()["cert_organ_fields"] == "OU,subjectAltName URI"
    assert Config.from_env({"AXIS_CERT_ORGAN_FIELDS": "none"}).cert_organ_fields == ()
    with pytest.raises(ConfigError) as info:
        Config.from_env({"AXIS_CERT_ORGAN_FIELDS": "uid,cn"})
    assert str(info.value) == (
        "AXIS_CERT_ORGAN_FIELDS: 'cn' is not a place in a certificate; use uid, ou, "
        "serialNumber, san-uri (comma-separated, any case), or none"
    )


def test_s3_blob_url_is_accepted() -> None:
    cfg = Config.from_env({"AXIS_BLOB_URL": "s3://access:secret@127.0.0.1:9000/axis"})
    assert cfg.blob_url == "s3://access:secret@127.0.0.1:9000/axis"


def test_masked_configuration_hides_passwords_and_s3_secret() -> None:
    cfg = Config.from_env(
        {
            "AXIS_DATABASE_URL": "postgresql://axis:pg-pass@db:5432/axis",
            "AXIS_AMQP_URL": "amqp://axis:mq-pass@mq:5672/",
            "AXIS_BLOB_URL": "s3://key:s3-secret@minio:9000/axis",
        }
    )
    shown = str(cfg.masked())
    for secret in ("pg-pass", "mq-pass", "s3-secret"):
        assert secret not in shown
    assert mask_url("amqp://axis:mq-pass@mq:5672/") == "amqp://axis:***@mq:5672/"


def _axis(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "axis.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_axis_config_prints_json_with_secrets_masked() -> None:
    env = {"PATH": "/usr/bin:/bin", "AXIS_AMQP_URL": "amqp://u:topsecret@h:5672/"}
    result = _axis("config", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert '"amqp_url": "amqp://u:***@h:5672/"' in result.stdout
    assert "topsecret" not in result.stdout


def test_axis_config_refuses_a_bad_value_in_one_line() -> None:
    result = _axis("config", env={"PATH": "/usr/bin:/bin", "AXIS_LOG_FORMAT": "yaml"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: AXIS_LOG_FORMAT: must be json or text, not 'yaml'"
    ]


def test_axis_config_warns_of_a_misspelt_variable() -> None:
    result = _axis("config", env={"PATH": "/usr/bin:/bin", "AXIS_DATABSE_URL": "x"})
    assert result.returncode == 0
    assert "AXIS_DATABSE_URL is not a variable the axis reads" in result.stderr
