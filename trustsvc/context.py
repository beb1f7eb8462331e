"""The running service: configuration, database, key store and the self-test result, opened
once per process and handed to the CLI and the web app (no module-level globals)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hsm import KeyStore, SoftKeyStore, set_default_provider
from hsm.pin import resolve_pin
from hsm.selftest import SelfTestResult, require_self_test

from .config import Config
from .errors import ConfigurationError
from .storage import Database

__all__ = ["TrustService", "open_service", "pin_from_env"]


def pin_from_env(config: Config, env: Mapping[str, str]) -> bytes:
    """The key-store PIN from ``TRUSTSVC_HSM_PIN`` or the configured PIN file."""
    pin_file = config.hsm.pin_file
    if pin_file is None and (config.home / "hsm.pin").exists() and config.demo:
        pin_file = config.home / "hsm.pin"
    return resolve_pin(pin=env.get("TRUSTSVC_HSM_PIN") or None, pin_file=pin_file)


@dataclass
class TrustService:
    config: Config
    db: Database
    keystore: KeyStore
    self_test: SelfTestResult

    def close(self) -> None:
        self.keystore.close()
        self.db.dispose()


def _open_keystore(config: Config, env: Mapping[str, str], *, create: bool) -> KeyStore:
    if config.hsm.backend == "soft":
        return SoftKeyStore(config.hsm.keystore_dir, pin_from_env(config, env), create=create)
    if config.hsm.backend == "pkcs11":
        from hsm.pkcs11 import Pkcs11KeyStore

        assert config.hsm.module is not None  # load_config insists on it
        return Pkcs11KeyStore(
            config.hsm.module,
            config.hsm.token_label,
            pin_from_env(config, env),
            sm2_mechanism=config.hsm.sm2_mechanism,
            sm2_keygen_mechanism=config.hsm.sm2_keygen_mechanism,
        )
    raise ConfigurationError(f"key store backend {config.hsm.backend!r} is not available in this build")


def open_service(
    config: Config,
    env: Mapping[str, str] | None = None,
    *,
    create_keystore: bool = False,
    migrate: bool = True,
) -> TrustService:
    """Select the SM2 provider, run the known-answer self-test (raises on failure), open the
    key store and the database (migrating it to the newest schema)."""
    env = os.environ if env is None else env
    set_default_provider(config.hsm.provider)
    self_test = require_self_test(config.hsm.provider)
    keystore = _open_keystore(config, env, create=create_keystore)
    db = Database(config.database.url)
    if migrate:
        db.migrate()
        from .licences.type_store import sync_licence_types

        sync_licence_types(db, config.home)  # a malformed licence type file stops the start here
    return TrustService(config=config, db=db, keystore=keystore, self_test=self_test)


def home_exists(home: Path) -> bool:
    return (home / "config.toml").exists()
