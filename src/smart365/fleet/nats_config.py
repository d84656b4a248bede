"""nats-server configurations for the hub (the centre) and a plant's leaf node, written from data.

The hub has one account, ``FLEET``, with JetStream. The centre's workers log in as ``centre`` and may do
anything in it; each firm's leaf node logs in as its own user, who may publish only on the firm's subjects
(``s365.<brn>.>``) and receive only replies to its own inbox prefix (``_INBOX_<brn>``): a plant can neither
write as another firm nor read anything of another firm, nor reach the hub's JetStream API.

>>> conf = hub_config(4222, 7422, "/var/lib/nats", {"1018600011": "pw"}, centre_password="c")
>>> 'publish: ["s365.1018600011.>"]' in conf, 'domain: "hub"' in conf
(True, True)
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from smart365.fleet.wire import firm_subjects

log = logging.getLogger(__name__)

HUB_DOMAIN = "hub"
CENTRE_USER = "centre"


def inbox_prefix(brn: str) -> str:
    """The reply-subject prefix a firm's clients use: the hub lets the firm receive only these replies.

    >>> inbox_prefix("1018600011")
    '_INBOX_1018600011'
    """
    return f"_INBOX_{brn}"


async def log_nats_error(exc: Exception) -> None:
    """nats-py's error callback: one log line (its default prints a traceback at every failed reconnect)."""
    log.warning("NATS: %s", exc or type(exc).__name__)


def new_password() -> str:
    """A password for a firm's leaf connection (given to the plant once, kept in the hub's user file)."""
    return secrets.token_urlsafe(24)


def _q(value: str | Path) -> str:
    return json.dumps(str(value))  # a JSON string is a valid quoted string in nats-server's config syntax


def firm_user(brn: str, password: str) -> str:
    """One firm's user entry: publish on its own subjects, receive replies to its own inbox only."""
    return (
        f"{{user: {_q(brn)}, password: {_q(password)}, permissions: "
        f"{{publish: [{_q(firm_subjects(brn))}], subscribe: [{_q(inbox_prefix(brn) + '.>')}]}}}}"
    )


def hub_config(
    port: int,
    leaf_port: int,
    store_dir: str | Path,
    firms: Mapping[str, str],
    *,
    centre_password: str,
    host: str = "0.0.0.0",
    monitor_port: int | None = None,
    leaf_advertise: str | None = None,
) -> str:
    """The centre's nats-server: JetStream in domain ``hub``, a leaf-node listener, one user per firm.

    ``leaf_advertise`` (``host:port``) is the leaf-node address the plants reach the hub at (its public name,
    or a WAN link's): nats-server tells every leaf node its leaf-node URLs and a leaf node that lost its link
    reconnects to those too, so without it a plant behind NAT tries an address it cannot reach, and one behind
    a relay goes around it (``no_advertise`` does not stop this in nats-server 2.9).

    >>> conf = hub_config(4222, 7422, "/js", {}, centre_password="c", leaf_advertise="hub.example:7422")
    >>> 'advertise: "hub.example:7422"' in conf
    True
    """
    users = ",\n    ".join(
        [f"{{user: {CENTRE_USER}, password: {_q(centre_password)}}}"]
        + [firm_user(brn, password) for brn, password in sorted(firms.items())]
    )
    monitor = f"http_port: {monitor_port}\n" if monitor_port else ""
    advertise = f", advertise: {_q(leaf_advertise)}" if leaf_advertise else ""
    return (
        f"server_name: smart365-hub\nhost: {_q(host)}\nport: {port}\n{monitor}"
        f"jetstream {{ domain: {_q(HUB_DOMAIN)}, store_dir: {_q(store_dir)} }}\n"
        f"accounts {{ FLEET {{ jetstream: enabled, users = [\n    {users}\n  ] }} }}\n"
        f"leafnodes {{ host: {_q(host)}, port: {leaf_port}{advertise} }}\n"
    )


def leaf_config(
    port: int,
    hub_leaf_url: str,
    brn: str,
    password: str,
    store_dir: str | Path,
    *,
    plant: str,
    host: str = "127.0.0.1",
) -> str:
    """A plant's nats-server: local JetStream in its own domain (the outbox), a leaf node of the hub.

    >>> print(leaf_config(4222, "nats://hub.example:7422", "1018600011", "pw", "/data", plant="p1"))
    ... # doctest: +ELLIPSIS
    server_name: "smart365-p1"
    ...
    leafnodes { remotes = [ { url: "nats://1018600011:pw@hub.example:7422" } ] }
    """
    scheme, _, rest = hub_leaf_url.partition("://")
    url = f"{scheme}://{brn}:{quote(password, safe='')}@{rest}"
    return (
        f"server_name: {_q('smart365-' + plant)}\nhost: {_q(host)}\nport: {port}\n"
        f"jetstream {{ domain: {_q('plant-' + plant)}, store_dir: {_q(store_dir)} }}\n"
        f"leafnodes {{ remotes = [ {{ url: {_q(url)} }} ] }}\n"
    )


class NatsServer:
    """A ``nats-server`` process run from a configuration text (the tests', the simulator's, the benchmark's)."""

    def __init__(self, config: str, workdir: Path, name: str, port: int) -> None:
        self.config_path = workdir / f"{name}.conf"
        self.log_path = workdir / f"{name}.log"
        self.port = port
        self.config_path.write_text(config)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> NatsServer:
        """Start the server and wait until it accepts connections."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [shutil.which("nats-server") or "nats-server", "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self
            time.sleep(0.05)
        raise RuntimeError(f"nats-server did not open port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (tests and the simulator run beside other installations)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
