"""ARI over TLS (a node on another host): the engine's client trusts the CA `[ari] ca_file`
names, and one it cannot read is a configuration error naming the setting."""

import ssl
from pathlib import Path

import pytest

from pbx_engine.ari.client import AriClient
from pbx_engine.config import AriConfig, ConfigError


def _ari(**fields) -> AriConfig:
    return AriConfig(
        url="https://10.0.0.12:8089", username="engine", password="s3cret-Engine", **fields
    )


def test_without_a_ca_file_certificates_are_checked_against_the_systems_authorities():
    assert AriClient(_ari(), events=False).tls is True


def test_a_ca_file_is_what_the_nodes_certificates_are_checked_against(tmp_path: Path):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(Path(str(ssl.get_default_verify_paths().cafile)).read_bytes())
    tls = AriClient(_ari(ca_file=ca), events=False).tls
    assert isinstance(tls, ssl.SSLContext)
    assert tls.verify_mode is ssl.CERT_REQUIRED and tls.check_hostname


def test_a_ca_file_that_cannot_be_read_is_a_configuration_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="ari.ca_file: .*missing.pem"):
        AriClient(_ari(ca_file=tmp_path / "missing.pem"), events=False)
