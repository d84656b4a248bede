"""A password in a machine's address (``opc.tcp://user:password@plc:4840``, ``mqtt://user:password@broker``)
stays in the registry, where the connector reads it: pages, API answers, connector names, metrics and logs
show it masked. An address sent back with the mask keeps the password it had, so a person edits the rest
without retyping it.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

MASK = "****"


def redact_url(url: str | None) -> str | None:
    """``url`` with its password masked (unchanged when it has none).

    >>> redact_url("opc.tcp://operator:s3cret@plc:4840/ua?security=Basic256Sha256")
    'opc.tcp://operator:****@plc:4840/ua?security=Basic256Sha256'
    >>> redact_url("modbus://10.0.0.5:502/1"), redact_url(None)
    ('modbus://10.0.0.5:502/1', None)
    """
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:{MASK}@{host}"))


def keep_password(new: str | None, old: str | None) -> str | None:
    """``new``, with the password of ``old`` where ``new`` carries the mask in its place.

    >>> keep_password("opc.tcp://operator:****@plc:4841", "opc.tcp://operator:s3cret@plc:4840")
    'opc.tcp://operator:s3cret@plc:4841'
    >>> keep_password("opc.tcp://operator:new@plc:4840", "opc.tcp://operator:s3cret@plc:4840")
    'opc.tcp://operator:new@plc:4840'
    """
    if not new or not old or MASK not in new:
        return new
    kept, parts = urlsplit(old).password, urlsplit(new)
    if kept is None or parts.password != MASK:
        return new
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:{kept}@{host}"))
