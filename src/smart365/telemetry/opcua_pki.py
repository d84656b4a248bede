"""This installation's OPC UA identity and the servers it trusts (a file-based PKI, as OPC UA stacks keep one).

``<data_dir>/opcua/own/`` holds the application instance certificate (made on first use, self-signed, 2048-bit
RSA, valid a year and made again after, its application URI ``urn:smart365:<installation>``) that a secured
session presents; a machine's server must trust it (download it from the admin page and put it in the server's
trust list). ``trusted/`` holds the servers' certificates this installation trusts: a secured session to a
server whose certificate is not there is refused, and that certificate is kept in ``rejected/`` so the
administrator can look at it and trust it with one click (the way UaExpert and the OPC UA stacks do it), never
silently.

>>> import tempfile
>>> pki = Pki(Path(tempfile.mkdtemp()))
>>> pki.certificates("trusted"), pki.application_uri("plant-7")
([], 'urn:smart365:plant-7')
"""

from __future__ import annotations

import hashlib
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from smart365.core.lazy import lazy

if TYPE_CHECKING:
    from asyncua import Client, ua
    from asyncua.common import utils
    from asyncua.crypto import cert_gen, truststore, validator
else:  # asyncua loads with the first secured session, not with every process
    ua, utils = lazy("asyncua.ua"), lazy("asyncua.common.utils")
    cert_gen, truststore, validator = (lazy(f"asyncua.crypto.{m}") for m in ("cert_gen", "truststore", "validator"))

Folder = Literal["trusted", "rejected"]


@dataclass(frozen=True)
class Certificate:
    """A certificate as the admin page lists it."""

    thumbprint: str  # SHA-1 of the DER bytes, as OPC UA tools show it
    subject: str
    not_after: datetime
    file: Path


def read_certificate(path: Path) -> Certificate:
    """A DER (or PEM) certificate file's thumbprint, subject common name and expiry."""
    data = path.read_bytes()
    cert = x509.load_pem_x509_certificate(data) if data.startswith(b"-----") else x509.load_der_x509_certificate(data)
    der = cert.public_bytes(Encoding.DER)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    subject = str(names[0].value) if names else cert.subject.rfc4514_string()
    return Certificate(hashlib.sha1(der).hexdigest(), subject, cert.not_valid_after_utc, path)


class Pki:
    """The OPC UA certificates under one folder (``<data_dir>/opcua``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.own_cert, self.own_key = root / "own" / "cert.der", root / "own" / "key.pem"

    @staticmethod
    def application_uri(installation: str) -> str:
        return f"urn:smart365:{installation or 'smart365'}"

    def folder(self, which: Folder) -> Path:
        path = self.root / which
        path.mkdir(parents=True, exist_ok=True)
        return path

    def certificates(self, which: Folder) -> list[Certificate]:
        """The certificates in ``trusted`` or ``rejected``, by subject."""
        found = [read_certificate(p) for p in sorted(self.folder(which).glob("*.der"))]
        return sorted(found, key=lambda c: (c.subject, c.thumbprint))

    async def own(self, installation: str) -> Certificate:
        """This installation's certificate, made now if there is none (or it expired or no longer fits)."""
        uri = self.application_uri(installation)
        self.own_cert.parent.mkdir(parents=True, exist_ok=True)
        await cert_gen.setup_self_signed_certificate(self.own_key, self.own_cert, uri, socket.gethostname(),
                                            [ExtendedKeyUsageOID.CLIENT_AUTH], {})  # fmt: skip
        return read_certificate(self.own_cert)

    def trust(self, thumbprint: str) -> Certificate:
        """Move a rejected server certificate to the trusted ones; returns it."""
        found = self._find("rejected", thumbprint)
        target = self.folder("trusted") / found.file.name
        found.file.replace(target)
        return read_certificate(target)

    def untrust(self, thumbprint: str) -> Certificate:
        """Stop trusting a server certificate (its next secured session is refused and listed again)."""
        found = self._find("trusted", thumbprint)
        found.file.unlink()
        return found

    def _find(self, which: Folder, thumbprint: str) -> Certificate:
        for cert in self.certificates(which):
            if cert.thumbprint == thumbprint:
                return cert
        raise KeyError(thumbprint)

    async def secure(self, client: Client, installation: str, policy: Any, mode: Any) -> None:
        """Make ``client`` open a secured session: this installation's certificate (made on first use), and a
        server certificate check against the trust list that keeps a refused certificate in ``rejected``."""
        client.application_uri = self.application_uri(installation)
        await self.own(installation)
        checker = None
        if any(self.folder("trusted").glob("*.der")):  # asyncua's store cannot be empty: nothing trusted yet
            store = truststore.TrustStore([self.folder("trusted")], [])
            await store.load()
            # within its validity, its URI the server's own, and trusted
            options = validator.CertificateValidatorOptions
            checker = validator.CertificateValidator(options.TIME_RANGE | options.URI | options.TRUSTED, store)

        async def validate(cert: x509.Certificate, application: Any) -> None:
            try:
                if checker is None:
                    raise utils.ServiceError(ua.StatusCodes.BadCertificateUntrusted)
                await checker(cert, application)
            except Exception:
                der = cert.public_bytes(Encoding.DER)
                (self.folder("rejected") / f"{hashlib.sha1(der).hexdigest()}.der").write_bytes(der)
                raise

        client.certificate_validator = validate
        await client.set_security(policy, str(self.own_cert), str(self.own_key), mode=mode)
