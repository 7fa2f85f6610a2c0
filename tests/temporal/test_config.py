"""The temporal section: defaults and errors of spec/temporal.md §2 (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rr.config import Section
from rr.errors import ConfigError
from rr.temporal.config import TemporalConfig


def cfg(data: dict[str, object]) -> TemporalConfig:
    return TemporalConfig.from_section(Section(data, "temporal"))


def test_defaults() -> None:
    c = cfg({})
    assert (c.address, c.namespace, c.cache_size) == ("localhost:7233", "default", 10000)
    assert c.disable_activity_workers is False and c.tls is None and c.metrics is None


def test_zero_cache_size_is_the_default() -> None:
    assert cfg({"cache_size": 0}).cache_size == 10000
    assert cfg({"cache_size": "25"}).cache_size == 25


def test_negative_cache_size() -> None:
    with pytest.raises(ConfigError, match="temporal.cache_size"):
        cfg({"cache_size": -1})


def test_tls_files_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="private key file '/nope.key' does not exist"):
        cfg({"tls": {"key": "/nope.key"}})
    with pytest.raises(ConfigError, match="public certificate file '/nope.crt' does not exist"):
        cfg({"tls": {"cert": "/nope.crt"}})
    with pytest.raises(ConfigError, match="root CA file '/nope.ca' does not exist"):
        cfg({"tls": {"root_ca": "/nope.ca"}})
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    t = cfg({"tls": {"root_ca": str(ca), "client_auth_type": "bogus"}}).tls
    assert t is not None and t.client_auth_type == "no_client_cert"


def test_metrics_driver_and_flat_legacy_form() -> None:
    with pytest.raises(ConfigError, match="unknown driver provided: influx"):
        cfg({"metrics": {"driver": "influx"}})
    m = cfg({"metrics": {"prometheus": {"address": "127.0.0.1:1"}, "address": "127.0.0.1:2"}})
    assert m.metrics is not None and m.metrics.address == "127.0.0.1:2"


def test_interceptor_and_data_converter_errors() -> None:
    with pytest.raises(ConfigError, match="interceptor name must not be empty"):
        cfg({"interceptors": [""]})
    with pytest.raises(ConfigError, match='duplicate interceptor name "a"'):
        cfg({"interceptors": ["a", "a"]})
    with pytest.raises(ConfigError, match='interceptor "a" is not registered'):
        cfg({"interceptors": ["a"]})
    with pytest.raises(ConfigError, match='data converter with encoding "x" is not registered'):
        cfg({"data_converters": ["x"]})


def test_context_json_key_order() -> None:
    from rr.temporal.codec import Context

    assert Context().to_json() == b'{"rr_id":"","continue_as_new_suggested":false}'
    assert Context(task_queue="default", rr_id="").to_json() == \
        b'{"taskQueue":"default","rr_id":"","continue_as_new_suggested":false}'
    full = Context("default", "2026-05-15T11:29:48Z", True, 8, 1203, "r", False).to_json()
    assert full == (b'{"taskQueue":"default","tickTime":"2026-05-15T11:29:48Z","replay":true,'
                    b'"history_length":8,"history_size":1203,"rr_id":"r",'
                    b'"continue_as_new_suggested":false}')


def test_envelope_field_numbers() -> None:
    """temporal.v1.Message fields as the PHP SDK encodes them (§3.4)."""
    from rr.temporal.proto import Message

    fields = {f.name: f.number for f in Message.DESCRIPTOR.fields}
    assert fields == {"id": 1, "command": 2, "options": 3, "failure": 4, "payloads": 5,
                      "header": 6, "history_length": 7, "run_id": 8, "task_queue": 9,
                      "tick_time": 10, "replay": 11, "continue_as_new_suggested": 12,
                      "history_size": 13, "wwpid": 14}
