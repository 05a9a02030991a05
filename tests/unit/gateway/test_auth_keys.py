"""Key file format, keygen, hot reload, API_KEYS compatibility, and the open-mode rule."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import structlog
from tests.unit.gateway.auth_keys import SECRETS, write_key_file

from lectern_gateway.auth import keygen
from lectern_gateway.auth.keyring import KeyRing
from lectern_gateway.auth.keys import KeyFileError, hash_secret, load_key_file
from lectern_gateway.settings import GatewaySettings


def _keygen(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, str]:
    assert keygen.main(list(args)) == 0
    secret, entry = capsys.readouterr().out.split("\n", 1)
    return secret, entry


def test_keygen_prints_a_random_prefixed_secret_and_an_entry_without_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    secret, entry = _keygen(capsys, "--id", "ci", "--scopes", "read,write", "--rate-limit", "60")
    again, _ = _keygen(capsys, "--id", "ci")
    assert secret.startswith("lk_")
    assert len(secret) - 3 >= 22  # >= 128 bits in url-safe base64
    assert secret != again
    assert secret not in entry
    path = tmp_path / "keys.toml"
    path.write_text(entry)
    key = load_key_file(path).match(secret)
    assert key is not None
    assert key.id == "ci"
    assert key.scopes == {"read", "write"}
    assert key.collections == {"*"}
    assert key.rate_limit_per_minute == 60
    assert tomllib.loads(entry)["keys"][0]["sha256"] == hash_secret(secret)


def test_keygen_json_entry_loads_from_a_json_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    secret, entry = _keygen(capsys, "--id", "bot", "--scopes", "admin", "--format", "json")
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [json.loads(entry)]}))
    key = load_key_file(path).match(secret)
    assert key is not None
    assert key.allows("write")


def test_keygen_refuses_a_bad_scope(capsys: pytest.CaptureFixture[str]):
    assert keygen.main(["--id", "x", "--scopes", "root"]) == 2
    assert "scopes" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('[[keys]]\nid = "a"\nsha256 = "00"\nscopes = ["read"]', "sha256"),
        ('[[keys]]\nid = "a"\nsha256 = "' + "0" * 64 + '"\nscopes = ["root"]', "scopes"),
        (
            '[[keys]]\nid = "a"\nsha256 = "' + "0" * 64 + '"\nscopes = ["read"]\nsecret = "x"',
            "secret",
        ),
        ("[[keys]\n", "TOML"),
        ('[[keys]]\nid = "a b"\nsha256 = "' + "0" * 64 + '"\nscopes = ["read"]', "id"),
    ],
)
def test_a_bad_key_file_names_what_is_wrong(tmp_path: Path, text: str, names: str):
    path = tmp_path / "keys.toml"
    path.write_text(text)
    with pytest.raises(KeyFileError, match=names):
        load_key_file(path)


def test_duplicate_ids_are_refused(tmp_path: Path):
    path = write_key_file(tmp_path / "keys.toml")
    path.write_text(path.read_text() + path.read_text().split("\n\n")[-1])
    with pytest.raises(KeyFileError, match="unique"):
        load_key_file(path)


def test_limits_come_from_the_key_then_the_file_then_the_default(tmp_path: Path):
    path = write_key_file(
        tmp_path / "keys.toml",
        extra="[limits]\nread = 50\n",
        writer={"rate_limit_per_minute": {"write": 7}},
        admin={"rate_limit_per_minute": 3},
    )
    keys = load_key_file(path)
    by_id = {key.id: key for key in keys.keys}
    assert keys.limit_for(by_id["reader"], "read", 1000) == 50
    assert keys.limit_for(by_id["reader"], "write", 1000) == 1000
    assert keys.limit_for(by_id["writer"], "write", 1000) == 7
    assert keys.limit_for(by_id["writer"], "read", 1000) == 50
    assert keys.limit_for(by_id["admin"], "read", 1000) == 3


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_key_file_reloads_on_change_and_a_bad_one_keeps_the_last_good(tmp_path: Path):
    path = tmp_path / "keys.toml"
    path.write_text(write_key_file(tmp_path / "all.toml").read_text().split("\n\n")[0])
    clock = Clock()
    ring = KeyRing(path, check_every_s=2.0, clock=clock)
    assert ring.current().match(SECRETS["reader"]) is not None
    assert ring.current().match(SECRETS["admin"]) is None
    path.write_text((tmp_path / "all.toml").read_text())
    clock.now = 1.0
    assert ring.current().match(SECRETS["admin"]) is None  # not checked again yet
    clock.now = 2.5
    assert ring.current().match(SECRETS["admin"]) is not None
    with structlog.testing.capture_logs() as logs:
        path.write_text("[[keys]]\nid = 'broken'\n")
        clock.now = 5.0
        keys = ring.current()
    assert keys.match(SECRETS["admin"]) is not None
    assert [log["log_level"] for log in logs] == ["error"]
    assert logs[0]["event"] == "auth.key_file_rejected"
    assert "sha256" in logs[0]["error"]


def test_a_missing_key_file_stops_the_start(tmp_path: Path):
    with pytest.raises(KeyFileError, match=r"keys\.toml"):
        KeyRing(tmp_path / "keys.toml")


def test_api_keys_map_to_full_access_keys():
    ring = KeyRing(None, frozenset({"k-123456789"}))
    key = ring.current().match("k-123456789")
    assert key is not None
    assert key.id.startswith("env-")
    assert key.scopes == {"read", "write", "admin"}
    assert not ring.open
    assert KeyRing(None).open


def test_an_empty_key_file_is_not_open_mode(tmp_path: Path):
    path = tmp_path / "keys.json"
    path.write_text('{"keys": []}')
    assert not KeyRing(path).open


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "gateway.example", "::"])
def test_keyless_gateway_on_a_non_loopback_address_refuses_to_start(host: str):
    with pytest.raises(ValueError, match="API_KEYS_FILE") as refused:
        GatewaySettings(gateway_host=host)
    assert "ALLOW_ANONYMOUS=true" in str(refused.value)
    assert "GATEWAY_HOST" in str(refused.value)
    assert GatewaySettings(gateway_host=host, allow_anonymous=True).allow_anonymous
    assert GatewaySettings(gateway_host=host, api_keys="k-123456789")  # type: ignore[arg-type]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.0.1", "::1", "localhost"])
def test_keyless_gateway_on_loopback_starts(host: str):
    assert GatewaySettings(gateway_host=host).gateway_host == host


def test_a_bad_trusted_proxy_network_stops_the_start():
    with pytest.raises(ValueError, match=r"10\.0\.0\.300"):
        GatewaySettings(trusted_proxies="10.0.0.0/8, 10.0.0.300/32")
