"""Request bodies sent compressed (``Content-Encoding: gzip``, Telegraf's default): inflated within a limit.

The body limit of the web layer counts the bytes on the wire; a few kilobytes of gzip can unpack into
gigabytes (a "gzip bomb"). :func:`inflate` unpacks in bounded steps and stops the moment the output
passes its limit, so the server never holds more than the limit plus one step, and answers 413.

>>> import gzip
>>> inflate(gzip.compress(b"m,host=a v=1"), "gzip", limit=100)
b'm,host=a v=1'
>>> inflate(b"m v=1", None, limit=100)
b'm v=1'
>>> try:
...     inflate(gzip.compress(b"0" * 1000), "gzip", limit=100)
... except InflatedTooLarge as error:
...     print(error.status, error.english())
413 The request unpacks to more than 100 bytes. Send less at a time.
"""

from __future__ import annotations

import zlib

from smart365.core.errors import AppError, Invalid
from smart365.core.i18n import N_

#: How much one step of inflating may produce (the most held beyond the limit).
STEP_BYTES = 1024 * 1024
_IDENTITY = frozenset({"", "identity"})


class InflatedTooLarge(AppError):
    """A compressed body that unpacks past the limit (413): nothing of it is read."""

    status = 413
    code = "body_too_large"
    default_message = N_("The request unpacks to more than {limit} bytes. Send less at a time.")


class UnsupportedEncoding(AppError):
    """A ``Content-Encoding`` other than gzip or identity (415)."""

    status = 415
    code = "unsupported_encoding"
    default_message = N_("Content-Encoding '{encoding}' is not supported: send gzip or no encoding.")


def inflate(body: bytes, encoding: str | None, limit: int) -> bytes:
    """``body`` decoded as its ``Content-Encoding`` says (gzip or none), at most ``limit`` bytes unpacked.

    Raises :class:`InflatedTooLarge` past the limit, :class:`UnsupportedEncoding` for another encoding and
    :class:`~smart365.core.errors.Invalid` for a damaged or truncated gzip stream. Several gzip members in a
    row (``cat a.gz b.gz``) are read as one body, as ``gunzip`` does.

    >>> try:
    ...     inflate(b"not gzip", "gzip", limit=100)
    ... except Invalid as error:
    ...     print(error.english())
    The body is not valid gzip: Error -3 while decompressing data: incorrect header check
    """
    name = (encoding or "").strip().lower()
    if name in _IDENTITY:
        if len(body) > limit:
            raise InflatedTooLarge(limit=limit)
        return body
    if name not in ("gzip", "x-gzip"):
        raise UnsupportedEncoding(encoding=name[:40])
    out = bytearray()
    rest = body
    try:
        while True:
            stream = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            pending = rest
            while pending and not stream.eof:
                out += stream.decompress(pending, min(STEP_BYTES, limit - len(out) + 1))
                if len(out) > limit:
                    raise InflatedTooLarge(limit=limit)
                pending = stream.unconsumed_tail
            if not stream.eof:
                raise Invalid(N_("The body is not valid gzip: {detail}"), detail="the stream ends too early")
            rest = stream.unused_data
            if not rest.strip(b"\0"):
                return bytes(out)
    except zlib.error as exc:
        raise Invalid(N_("The body is not valid gzip: {detail}"), detail=str(exc)[:200]) from exc
