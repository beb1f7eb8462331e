"""Configuration: ``$TRUSTSVC_HOME/config.toml`` plus ``TRUSTSVC_*`` environment variables,
validated at start-up into frozen dataclasses. Unknown keys are errors, not surprises.

Environment overrides are ``TRUSTSVC_<SECTION>_<KEY>`` (e.g. ``TRUSTSVC_SERVER_PORT``), plus the
contract names ``TRUSTSVC_HOME``, ``DATABASE_URL``, ``TRUSTSVC_HSM_PIN`` and
``TRUSTSVC_HSM_PIN_FILE``. Secrets (the PIN) are read when needed and never kept in the config
object, so they cannot leak through a ``repr`` or a log line.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

__all__ = [
    "Config",
    "RegionConfig",
    "ServerConfig",
    "DatabaseConfig",
    "HSMConfig",
    "StatusConfig",
    "CodesConfig",
    "LimitsConfig",
    "TrustConfig",
    "load_config",
    "served_config",
    "base_url_warning",
    "write_config",
    "REGION_CODE_RE",
    "LIMIT_NAMES",
]

LIMIT_NAMES = ("verify", "verify_key", "auth_failures", "auth_failures_address", "tsa", "ocsp")
"""The rate limits of ``[limits]``: each has ``<name>_per_minute`` and ``<name>_burst``."""

REGION_CODE_RE = re.compile(r"^[1-8][0-9]{5}$")
"""GB/T 2260 administrative division code: six digits, province prefix 11..82."""


@dataclass(frozen=True)
class RegionConfig:
    code: str
    """GB/T 2260 code of the region this service speaks for (e.g. ``320000``)."""
    name: str
    """Its name (e.g. 江苏省)."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str = ""
    """Public URL peers and certificates point at (CRL, OCSP, trust and status lists); unset, it
    is http://host:port of the address actually served (see :func:`served_config`)."""
    workers: int = 2
    max_request_bytes: int = 16 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024
    """Largest JSON body parsed (413 above it); JSON never carries the large objects."""
    max_json_depth: int = 32
    """Deepest nesting of arrays and objects in a JSON body (400 ``json_too_deep`` beyond it),
    checked before parsing so no parser recursion depends on what a client sends."""
    proxy_hops: int = 0
    """Reverse proxies in front of the service that append to ``X-Forwarded-For`` (0..8). At 0
    the header is ignored and the client address is the connection's; at N the Nth address from
    the right is the client's (werkzeug's ProxyFix), so rate limits key on the real client. Set
    it only when that many proxies are really in front: otherwise a client names its own address."""
    session_secret_file: Path | None = None
    """File (mode 0600) holding the secret that signs console session cookies; ``TRUSTSVC_SECRET_KEY``
    overrides it. Demo mode creates ``session.key`` in the home when neither is set."""

    @property
    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")


@dataclass(frozen=True)
class DatabaseConfig:
    url: str


@dataclass(frozen=True)
class HSMConfig:
    backend: str = "soft"
    """``soft`` (sealed keys in ``keystore_dir``) or ``pkcs11``."""
    provider: str = "openssl"
    """SM2 provider: ``openssl`` (system libcrypto) or ``tongsuo``."""
    keystore_dir: Path = Path("keys")
    pin_file: Path | None = None
    key_algorithm: str = "sm2"
    """Algorithm of the keys ``init`` and ``department add`` create: ``sm2`` or ``ecdsa-p256``
    (for tokens without SM2, e.g. SoftHSM2; see README "Running with an HSM")."""
    module: Path | None = None
    """pkcs11: path of the PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so)."""
    token_label: str = ""
    """pkcs11: label of the token holding the keys (its user PIN comes from the PIN source)."""
    sm2_mechanism: int | None = None
    """pkcs11: vendor mechanism id of a raw SM2 signature over e = SM3(Z || M); unset: no SM2."""
    sm2_keygen_mechanism: int | None = None
    """pkcs11: vendor mechanism id of SM2 key-pair generation; unset: no SM2."""


@dataclass(frozen=True)
class StatusConfig:
    """How long signed status answers hold: relying parties cache them up to these limits, so
    they bound how late a revocation or suspension can be noticed offline."""

    list_next_update: int = 3600
    """Seconds from a status list's issue to its ``next_update`` (a changed licence status
    makes a new list at once; an unchanged one is re-signed only after this)."""
    ocsp_next_update: int = 3600
    """Seconds from an OCSP answer's thisUpdate to its nextUpdate."""


@dataclass(frozen=True)
class CodesConfig:
    """Service codes (docs/service-code.md)."""

    dynamic_ttl: int = 120
    """Default lifetime of a dynamic code in seconds (a request may ask for 30..900)."""


@dataclass(frozen=True)
class TrustConfig:
    """Trust lists between regions (docs/trust-namespaces.md, README "Mutual recognition")."""

    list_next_update: int = 86400
    """Seconds from a published trust list's issue to its ``next_update`` (re-signed half-way,
    at once when its content changes)."""
    grace: int = 86400
    """Seconds a peer's list is still relied on after its ``next_update``; later it is stale and
    every verification relying on it is INDETERMINATE / TRUST_LIST_STALE."""
    refresh_interval: int = 900
    """Seconds between background refreshes of peers' lists and status lists in ``serve``
    (0: no background refresher; run ``trustsvc trust refresh`` from cron instead)."""
    code_signer_overlap: int = 30 * 86400
    """Seconds a retired code signer stays in the published list after ``code rotate-signer``
    (longer while codes it signed are still unexpired)."""
    fetch_timeout: int = 10
    """Seconds one fetch from a peer (connect, headers and body together) may take: a wall-clock
    deadline, so a peer trickling a byte at a time cannot hold an import or a refresh open."""
    peer_budget: int = 30
    """Seconds all fetches for one peer in one import or refresh (its list, then its issuers'
    status lists) may take together; status lists not fetched by then wait for the next refresh."""
    refresh_concurrency: int = 4
    """Peers refreshed at once (each with its own deadline), so a slow peer delays no other."""
    national_issuers: tuple[str, ...] = ()
    """Issuers any peer may vouch for whatever its region: USCCs, or GB/T 2260 division prefixes
    of 2, 4 or 6 digits (e.g. ``100000``, national-level registrations); env: comma-separated."""


@dataclass(frozen=True)
class LimitsConfig:
    """Rate limits (``api/limits.py``, Flask-Limiter). ``*_burst`` requests are allowed in any
    window of ``burst / per_minute`` minutes, so ``*_per_minute`` is the long-run rate; a rate of 0
    turns that limit off. Counted in ``storage_url``: in memory per process by default (with N
    gunicorn workers or hosts a client may get N times the figures), or in one Redis shared by
    every worker and host of the region."""

    storage_url: str = ""
    """Where the counts live: empty or ``memory://`` (each process its own), or ``redis://``,
    ``rediss://`` (TLS) or ``redis+unix://`` for one store shared by several workers or hosts.
    While Redis is unreachable each process counts in memory."""
    verify_per_minute: int = 300
    """Verifications (``POST /api/v1/verify``, the ``/verify`` page) per client address without a key."""
    verify_burst: int = 300
    verify_key_per_minute: int = 1200
    """Verifications per API key (a keyed verifier is limited by its key, not its address)."""
    verify_key_burst: int = 600
    auth_failures_per_minute: int = 10
    """Failed authentications (a wrong, malformed or revoked API key; a refused console
    sign-in) per presented key id and client address; when they are used up that key id gets 429
    from that address, while other keys behind the same address (a proxy) still work."""
    auth_failures_burst: int = 20
    auth_failures_address_per_minute: int = 60
    """Failed authentications per client address whatever the key id, so cycling through
    invented key ids is slow too; when used up every attempt from the address gets 429."""
    auth_failures_address_burst: int = 120
    tsa_per_minute: int = 120
    """Time-stamp requests (``POST /api/v1/tsa``, unauthenticated, one signature each) per address."""
    tsa_burst: int = 120
    ocsp_per_minute: int = 600
    """OCSP requests (GET and POST ``/api/v1/ocsp``) per client address."""
    ocsp_burst: int = 600


@dataclass(frozen=True)
class Config:
    home: Path
    database: DatabaseConfig
    server: ServerConfig = field(default_factory=ServerConfig)
    hsm: HSMConfig = field(default_factory=HSMConfig)
    region: RegionConfig | None = None
    status: StatusConfig = field(default_factory=StatusConfig)
    codes: CodesConfig = field(default_factory=CodesConfig)
    trust: TrustConfig = field(default_factory=TrustConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    demo: bool = False
    """Demo mode: ``init`` may create a PIN file and an admin key file under ``home``."""

    @property
    def config_path(self) -> Path:
        return self.home / "config.toml"


_SECTIONS: dict[str, type] = {
    "region": RegionConfig,
    "server": ServerConfig,
    "database": DatabaseConfig,
    "hsm": HSMConfig,
    "status": StatusConfig,
    "codes": CodesConfig,
    "limits": LimitsConfig,
    "trust": TrustConfig,
}


def _coerce(cls: type, section: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    known = {f.name: f for f in fields(cls)}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in known:
            raise ConfigurationError(f"unknown setting [{section}] {key}")
        kind = known[name].type
        try:
            if kind == "int":
                value = int(value)
                if value < 0:
                    raise ValueError
            elif kind == "int | None":  # mechanism ids: TOML integers, or env text like 0x80000101
                if value in (None, ""):
                    value = None
                else:
                    value = value if isinstance(value, int) and not isinstance(value, bool) else int(str(value), 0)
                    if value < 0:
                        raise ValueError
            elif kind in ("Path", "Path | None"):
                value = Path(value) if value not in (None, "") else None
            elif kind == "str":
                if not isinstance(value, str):
                    raise ValueError
            elif kind == "tuple[str, ...]":  # TOML arrays, or env text "a,b"
                if isinstance(value, str):
                    value = value.split(",")
                if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                    raise ValueError
                value = tuple(v.strip() for v in value if v.strip())
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"[{section}] {key}: invalid value {value!r}") from exc
        out[name] = value
    return out


def _is_uscc(text: str) -> bool:
    from .formats.uscc import validate_uscc

    try:
        return validate_uscc(text) == text
    except ValueError:
        return False


def load_config(env: Mapping[str, str] | None = None, *, home: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the configuration for ``home`` (default ``$TRUSTSVC_HOME`` or ``./var``).

    :raises ConfigurationError: unknown keys, bad values, or an unreadable file.
    """
    env = os.environ if env is None else env
    home_path = Path(home or env.get("TRUSTSVC_HOME") or "var").resolve()
    path = home_path / "config.toml"
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"cannot read {path}: {exc}") from exc
    top_unknown = set(data) - set(_SECTIONS) - {"demo"}
    if top_unknown:
        raise ConfigurationError(f"unknown section(s) in {path}: {', '.join(sorted(top_unknown))}")

    sections: dict[str, dict[str, Any]] = {}
    for name, cls in _SECTIONS.items():
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise ConfigurationError(f"[{name}] must be a table")
        merged = dict(raw)
        for f in fields(cls):
            env_name = f"TRUSTSVC_{name.upper()}_{f.name.upper()}"
            if env_name in env:
                merged[f.name] = env[env_name]
        sections[name] = _coerce(cls, name, merged)

    if "DATABASE_URL" in env:
        sections["database"]["url"] = env["DATABASE_URL"]
    if "TRUSTSVC_HSM_PIN_FILE" in env:
        sections["hsm"]["pin_file"] = Path(env["TRUSTSVC_HSM_PIN_FILE"])
    if "TRUSTSVC_SM2_PROVIDER" in env:
        sections["hsm"]["provider"] = env["TRUSTSVC_SM2_PROVIDER"]
    db_url = sections["database"].get("url") or f"sqlite:///{home_path / 'trustsvc.db'}"

    hsm = HSMConfig(**sections["hsm"])
    if hsm.backend not in ("soft", "pkcs11"):
        raise ConfigurationError(f"[hsm] backend must be 'soft' or 'pkcs11', not {hsm.backend!r}")
    if hsm.provider not in ("openssl", "tongsuo"):
        raise ConfigurationError(f"[hsm] provider must be 'openssl' or 'tongsuo', not {hsm.provider!r}")
    if hsm.key_algorithm not in ("sm2", "ecdsa-p256"):
        raise ConfigurationError(f"[hsm] key_algorithm must be 'sm2' or 'ecdsa-p256', not {hsm.key_algorithm!r}")
    if hsm.backend == "pkcs11" and (hsm.module is None or not hsm.token_label):
        raise ConfigurationError("[hsm] backend = 'pkcs11' needs module (the PKCS#11 library) and token_label")
    if not hsm.keystore_dir.is_absolute():
        hsm = replace(hsm, keystore_dir=home_path / hsm.keystore_dir)
    if hsm.pin_file is not None and not hsm.pin_file.is_absolute():
        hsm = replace(hsm, pin_file=home_path / hsm.pin_file)

    region = None
    if sections["region"]:
        try:
            region = RegionConfig(**sections["region"])
        except TypeError as exc:
            raise ConfigurationError("[region] needs both code and name") from exc
        if not REGION_CODE_RE.match(region.code):
            raise ConfigurationError(f"[region] code {region.code!r} is not a GB/T 2260 code")
        if not region.name.strip():
            raise ConfigurationError("[region] name is empty")

    server = ServerConfig(**sections["server"])
    if server.session_secret_file is not None and not server.session_secret_file.is_absolute():
        server = replace(server, session_secret_file=home_path / server.session_secret_file)
    if not 0 < server.port < 65536:
        raise ConfigurationError(f"[server] port {server.port} is out of range")
    if not 1 <= server.max_json_depth <= 256 or server.max_json_bytes < 1:
        raise ConfigurationError("[server] max_json_depth must be 1..256 and max_json_bytes at least 1")
    if not 0 <= server.proxy_hops <= 8:
        raise ConfigurationError("[server] proxy_hops must be 0..8")
    status = StatusConfig(**sections["status"])
    for name in ("list_next_update", "ocsp_next_update"):
        if not 60 <= getattr(status, name) <= 7 * 86400:
            raise ConfigurationError(f"[status] {name} must be 60..604800 seconds")
    codes = CodesConfig(**sections["codes"])
    if not 30 <= codes.dynamic_ttl <= 900:
        raise ConfigurationError(f"[codes] dynamic_ttl {codes.dynamic_ttl} must lie in 30..900 seconds")
    trust = TrustConfig(**sections["trust"])
    if not 300 <= trust.list_next_update <= 30 * 86400:
        raise ConfigurationError("[trust] list_next_update must be 300..2592000 seconds")
    if trust.grace > 30 * 86400:
        raise ConfigurationError("[trust] grace must be 0..2592000 seconds")
    if trust.refresh_interval and not 10 <= trust.refresh_interval <= 86400:
        raise ConfigurationError("[trust] refresh_interval must be 0 (off) or 10..86400 seconds")
    if not 1 <= trust.fetch_timeout <= 300 or not trust.fetch_timeout <= trust.peer_budget <= 3600:
        raise ConfigurationError("[trust] fetch_timeout must be 1..300 seconds and peer_budget fetch_timeout..3600")
    if not 1 <= trust.refresh_concurrency <= 64:
        raise ConfigurationError("[trust] refresh_concurrency must be 1..64")
    for entry in trust.national_issuers:
        if not (re.fullmatch(r"[0-9]{2}|[0-9]{4}|[0-9]{6}", entry) or _is_uscc(entry)):
            raise ConfigurationError(
                f"[trust] national_issuers: {entry!r} is neither a USCC nor a 2, 4 or 6-digit GB/T 2260 division prefix"
            )
    limits = LimitsConfig(**sections["limits"])
    for name in LIMIT_NAMES:
        if getattr(limits, f"{name}_per_minute") and getattr(limits, f"{name}_burst") < 1:
            raise ConfigurationError(f"[limits] {name}_burst must be at least 1 when {name}_per_minute is set")
    scheme, sep, _ = limits.storage_url.partition("://")
    if limits.storage_url and (not sep or scheme.lower() not in ("memory", "redis", "rediss", "redis+unix")):
        raise ConfigurationError("[limits] storage_url must be memory:// or a redis://, rediss:// or redis+unix:// URL")
    demo_raw = env.get("TRUSTSVC_DEMO", data.get("demo", False))
    demo = demo_raw if isinstance(demo_raw, bool) else str(demo_raw).lower() in ("1", "true", "yes")
    return Config(
        home=home_path,
        database=DatabaseConfig(url=db_url),
        server=server,
        hsm=hsm,
        region=region,
        status=status,
        codes=codes,
        limits=limits,
        trust=trust,
        demo=demo,
    )


_WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")


def served_config(config: Config, *, host: str | None = None, port: int | None = None) -> Config:
    """``config`` as served on ``host``:``port`` (None: the configured value, itself from
    ``TRUSTSVC_SERVER_HOST`` / ``_PORT`` or ``[server]``). Without ``base_url`` the public URL
    (trust list, status-list, CRL and OCSP URLs) then names the address actually served, not
    the configured default that a peer would find nothing at.

    :raises ConfigurationError: a port outside 1..65535.
    """
    server = replace(
        config.server,
        host=config.server.host if host is None else host,
        port=config.server.port if port is None else port,
    )
    if not 0 < server.port < 65536:
        raise ConfigurationError(f"port {server.port} is out of range")
    return replace(config, server=server)


def base_url_warning(config: Config) -> str | None:
    """Why the published URLs may be unreachable for peers: ``base_url`` unset (they then name
    this listen address, fine for one machine, wrong behind a proxy or a NAT), worse when the
    listen address is a wildcard nobody can connect to. None when ``base_url`` is set."""
    if config.server.base_url:
        return None
    url = config.server.public_url
    why = (
        f"{config.server.host or '(all addresses)'} is a listen-everywhere address that peers cannot fetch from"
        if config.server.host in _WILDCARD_HOSTS
        else "right only if peers reach this address as it is"
    )
    return (
        f"[server] base_url is not set, so certificates, the trust list and its status-list URLs point at "
        f"{url} ({why}); set base_url (or TRUSTSVC_SERVER_BASE_URL) to the URL peers and relying "
        f"parties use"
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def write_config(path: Path, sections: Mapping[str, Mapping[str, Any]], *, demo: bool = False) -> None:
    """Write a small config file (only the settings given); used by ``trustsvc init``."""
    lines = ["# trustsvc configuration (see README: Configuration)", f"demo = {_toml_value(demo)}", ""]
    for section, values in sections.items():
        if section not in _SECTIONS:
            raise ConfigurationError(f"unknown section {section}")
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None)
        lines.append("")
    from .private_files import write_private

    write_private(path, "\n".join(lines).encode("utf-8"))  # 0600: it may name PIN and secret files
