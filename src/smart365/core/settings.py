"""One typed settings object, read from ``SMART365_*`` environment variables (and ``.env``)."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Locale = Literal["ko", "en"]


class Settings(BaseSettings):
    """Smart365 settings. Embedded defaults: everything lives under ``data_dir``.

    >>> Settings(data_dir=Path("/tmp/x")).records_url
    'sqlite:////tmp/x/records.db'
    """

    model_config = SettingsConfigDict(env_prefix="SMART365_", env_file=".env", extra="ignore")

    data_dir: Path = Path(".smart365")
    database_url: str | None = None
    timeseries_url: str | None = None
    secret_key: str | None = None
    default_locale: Locale = "ko"
    host: str = "127.0.0.1"
    port: int = 8365
    session_max_age_s: int = 12 * 3600
    token_ttl_s: int = 24 * 3600
    max_upload_bytes: int = 20 * 1024 * 1024
    collect: bool | None = None  # run the registry's connectors in `serve`; None: when the store is embedded
    collect_every_s: float = 5.0  # how often collection re-reads the registry and renews its leases
    lease_ttl_s: float = 15.0  # a dead worker's connectors move to another after at most this + collect_every_s
    warm_up: bool = True  # train the ticket classifier at start-up where the centre works (centre staff sign in here)
    https: bool = False  # served over HTTPS (behind a TLS proxy): Secure cookies and HSTS
    metrics_token: str | None = None  # when set, /metrics wants "Authorization: Bearer <token>"
    #: Proxies (addresses or networks) whose ``X-Forwarded-For`` is believed; empty: the peer is the client.
    trusted_proxies: list[str] = []
    #: Where failed-login counters live: ``memory://`` (one process) or ``redis://host:6379`` (shared).
    login_throttle_url: str = "memory://"
    #: The largest request body read, counted while it arrives; a file upload (multipart form) may carry
    #: ``max_upload_bytes`` plus the form around it instead.
    max_body_bytes: int = 16 * 1024 * 1024
    #: Rows read from one tag-history file (CSV, Excel, Parquet) before it is refused.
    max_import_rows: int = 1_000_000
    #: What an Excel or Parquet file may unpack to, by its own declared sizes, checked before it is opened.
    max_import_unpacked_bytes: int = 200 * 1024 * 1024
    #: Rows read from one company registry or survey response file (a census is tens of thousands of firms).
    max_registry_rows: int = 100_000
    #: The Sparkplug host id the registry's Sparkplug connectors announce as primary host application
    #: (``spBv1.0/STATE/<id>``); empty: they only listen, and edges set to wait for a primary host never send.
    sparkplug_host_id: str = Field(default="smart365", pattern=r"^[^/#+]*$", max_length=64)
    #: Tells this installation's MQTT client ids from another's on a shared broker (the same id on one broker
    #: makes the two kick each other off); unset: generated once into the data directory. Give every worker of
    #: one installation the same value, so a connector keeps its MQTT session when it moves between workers.
    installation_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    #: The plant's own NATS server, a leaf node of the centre's hub (``smart365 fleet leaf-config``); set, ``serve``
    #: forwards the firm's rollups, tag catalogue and alarms to the centre through it.
    fleet_leaf_url: str | None = None
    #: The firm this plant belongs to, by business registration number: its NATS user publishes only as it.
    fleet_brn: str | None = Field(default=None, pattern=r"^\d{10}$")
    #: The centre's hub NATS, with the centre user (``nats://centre:<password>@hub:4222``), for
    #: ``smart365 worker --role centre``.
    fleet_hub_url: str | None = None
    fleet_every_s: float = 60.0  # how often a plant publishes what is due
    fleet_ack_wait_s: float = 30.0  # a centre worker's unacknowledged messages go to another after this
    #: The mail server alarm e-mails go through: ``smtp://user:password@host:587`` (STARTTLS when the server
    #: offers it), ``smtps://…:465`` (TLS from the start); unset: e-mail channels cannot be added.
    smtp_url: str | None = None
    smtp_from: str = "smart365@localhost"  # the sender of alarm e-mails
    #: The address people open Smart365 at (``https://smart365.example.kr``): alarm messages link to the alarm.
    public_url: str | None = None
    notify_every_s: float = 2.0  # how often queued alarm notifications are sent
    #: Whether alarm webhooks may call this machine (127.0.0.1): off, so a channel cannot reach what only the
    #: server can; a link-local address (a cloud's metadata service) is never called.
    notify_allow_local: bool = False

    @property
    def opcua_pki(self) -> str:
        """The OPC UA certificates: this installation's own and the servers it trusts (``<data_dir>/opcua``)."""
        return str(self.data_dir / "opcua")

    @property
    def records_url(self) -> str:
        """The records database: ``database_url`` when set, else a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.absolute() / 'records.db'}"

    @property
    def timeseries_target(self) -> str:
        """The time-series store: ``timeseries_url`` (PostgreSQL) when set, else a DuckDB file in the data directory."""
        return self.timeseries_url or str(self.data_dir.absolute() / "timeseries.duckdb")

    @cached_property
    def installation(self) -> str:
        """This installation's id: the setting, else one generated once and kept in the data directory.

        >>> import tempfile
        >>> settings = Settings(data_dir=Path(tempfile.mkdtemp()))
        >>> settings.installation == Settings(data_dir=settings.data_dir).installation != ""
        True
        """
        if self.installation_id:
            return self.installation_id
        path = self.data_dir / "installation_id"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(6))
        return path.read_text().strip()

    @cached_property
    def signing_key(self) -> str:
        """The cookie signing key: the setting, else one generated once and kept in the data directory."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()
