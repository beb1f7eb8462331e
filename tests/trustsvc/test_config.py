"""Configuration: TOML + TRUSTSVC_* environment, validated, unknown keys refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from trustsvc.config import load_config, write_config
from trustsvc.errors import ConfigurationError


def test_defaults_live_under_home(tmp_path: Path) -> None:
    cfg = load_config({}, home=tmp_path)
    assert cfg.home == tmp_path.resolve()
    assert cfg.database.url == f"sqlite:///{tmp_path.resolve() / 'trustsvc.db'}"
    assert cfg.hsm.keystore_dir == tmp_path.resolve() / "keys"
    assert cfg.region is None and cfg.demo is False
    assert cfg.server.public_url == "http://127.0.0.1:8000"


def test_file_and_environment_are_merged(tmp_path: Path) -> None:
    write_config(tmp_path / "config.toml", {"region": {"code": "220000", "name": "吉林省"},
                                            "server": {"port": 9001}})
    env = {"TRUSTSVC_SERVER_PORT": "9100", "DATABASE_URL": "postgresql://u@h/db",
           "TRUSTSVC_HSM_PIN_FILE": "secret.pin", "TRUSTSVC_SERVER_BASE_URL": "https://tl.example.cn/"}
    cfg = load_config(env, home=tmp_path)
    assert cfg.region is not None and (cfg.region.code, cfg.region.name) == ("220000", "吉林省")
    assert cfg.server.port == 9100
    assert cfg.server.public_url == "https://tl.example.cn"
    assert cfg.database.url == "postgresql://u@h/db"
    assert cfg.hsm.pin_file == tmp_path.resolve() / "secret.pin"


@pytest.mark.parametrize("text, needle", [
    ("[server]\nprot = 1\n", "prot"),
    ("[nonsense]\nx = 1\n", "nonsense"),
    ("[server]\nport = 'abc'\n", "port"),
    ("[server]\nport = 70000\n", "port"),
    ("[region]\ncode = '12345'\nname = 'x'\n", "GB/T 2260"),
    ("[region]\ncode = '320000'\n", "code and name"),
    ("[hsm]\nbackend = 'floppy'\n", "backend"),
    ("[hsm]\nprovider = 'gmssl'\n", "provider"),
    ("not toml ==", "cannot read"),
])
def test_invalid_configuration_is_refused(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigurationError) as err:
        load_config({}, home=tmp_path)
    assert needle in err.value.message


def test_the_pin_never_enters_the_config_object(tmp_path: Path) -> None:
    cfg = load_config({"TRUSTSVC_HSM_PIN": "sup3r-secret"}, home=tmp_path)
    assert "sup3r-secret" not in repr(cfg)
