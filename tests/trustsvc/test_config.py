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
    write_config(tmp_path / "config.toml", {"region": {"code": "220000", "name": "吉林省"}, "server": {"port": 9001}})
    env = {
        "TRUSTSVC_SERVER_PORT": "9100",
        "DATABASE_URL": "postgresql://u@h/db",
        "TRUSTSVC_HSM_PIN_FILE": "secret.pin",
        "TRUSTSVC_SERVER_BASE_URL": "https://tl.example.cn/",
    }
    cfg = load_config(env, home=tmp_path)
    assert cfg.region is not None and (cfg.region.code, cfg.region.name) == ("220000", "吉林省")
    assert cfg.server.port == 9100
    assert cfg.server.public_url == "https://tl.example.cn"
    assert cfg.database.url == "postgresql://u@h/db"
    assert cfg.hsm.pin_file == tmp_path.resolve() / "secret.pin"


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[server]\nprot = 1\n", "prot"),
        ("[nonsense]\nx = 1\n", "nonsense"),
        ("[server]\nport = 'abc'\n", "port"),
        ("[server]\nport = 70000\n", "port"),
        ("[region]\ncode = '12345'\nname = 'x'\n", "GB/T 2260"),
        ("[region]\ncode = '320000'\n", "code and name"),
        ("[hsm]\nbackend = 'floppy'\n", "backend"),
        ("[hsm]\nprovider = 'gmssl'\n", "provider"),
        ("not toml ==", "cannot read"),
    ],
)
def test_invalid_configuration_is_refused(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigurationError) as err:
        load_config({}, home=tmp_path)
    assert needle in err.value.message


def test_the_pin_never_enters_the_config_object(tmp_path: Path) -> None:
    cfg = load_config({"TRUSTSVC_HSM_PIN": "sup3r-secret"}, home=tmp_path)
    assert "sup3r-secret" not in repr(cfg)


def test_served_config_makes_the_public_url_follow_the_served_address(tmp_path: Path) -> None:
    from trustsvc.config import base_url_warning, served_config

    cfg = load_config({}, home=tmp_path)
    served = served_config(cfg, port=9123)
    assert served.server.public_url == "http://127.0.0.1:9123"
    assert served_config(cfg, host="10.0.0.5", port=9124).server.public_url == "http://10.0.0.5:9124"
    assert served_config(cfg).server.public_url == "http://127.0.0.1:8000"
    # no option: the environment (or config file) decides
    from_env = load_config({"TRUSTSVC_SERVER_PORT": "9200"}, home=tmp_path)
    assert served_config(from_env).server.public_url == "http://127.0.0.1:9200"
    assert served_config(from_env, port=9300).server.port == 9300  # the option wins
    warning = base_url_warning(served)
    assert warning is not None and "base_url" in warning and "http://127.0.0.1:9123" in warning
    wildcard = base_url_warning(served_config(cfg, host="0.0.0.0", port=9123))
    assert wildcard is not None and "cannot fetch" in wildcard
    # a configured base_url is published whatever the port served
    fixed = served_config(load_config({"TRUSTSVC_SERVER_BASE_URL": "https://tl.example.cn"}, home=tmp_path), port=9123)
    assert fixed.server.public_url == "https://tl.example.cn" and base_url_warning(fixed) is None
    with pytest.raises(ConfigurationError):
        served_config(cfg, port=70000)
