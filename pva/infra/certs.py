"""`pva certs`: a local certificate authority and a server certificate for nginx (TLS on one machine).

    from pva.infra.certs import ensure_certs
    result = ensure_certs()          # idempotent; creates or renews only what needs it
    result.paths.cert, result.paths.key, result.paths.ca_cert

Files under <data_dir>/certs: ca.crt, ca.key (0600), server.crt (leaf + CA chain), server.key (0600).
Clients trust ca.crt (`curl --cacert`, the OS trust store, a browser's authorities list); the server certificate
names localhost, 127.0.0.1, ::1, this host's name, the host of PVA_PUBLIC_URL and every name in PVA_TLS_HOSTS
(comma separated) or given with --host.  It is re-issued when it expires within 30 days, when a wanted name is
missing from it (names added earlier are kept; --force starts from the wanted names only), or when it was not
signed by the current CA.  The CA itself (10 years) is only replaced when it is missing, broken or expiring:
clients must then trust the new ca.crt.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..config import get_settings

CA_DAYS = 3650
SERVER_DAYS = 825            # the longest validity Apple platforms accept for a locally trusted CA
RENEW_BEFORE = dt.timedelta(days=30)
TLS_HOSTS_ENV = "PVA_TLS_HOSTS"  # extra names/IPs for the server certificate (suggested setting: tls_hosts)
CA_NAME = "PhotoAndVideoAnalysis local CA"


class CertError(RuntimeError):
    """Certificates could not be made or read; the message says what to do."""


@dataclass(frozen=True)
class CertPaths:
    dir: Path
    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path


@dataclass
class CertResult:
    paths: CertPaths
    ca: str = "unchanged"        # created | renewed | unchanged
    server: str = "unchanged"    # created | renewed | unchanged
    reasons: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    not_after: dt.datetime | None = None

    @property
    def changed(self) -> bool:
        return self.ca != "unchanged" or self.server != "unchanged"


def cert_paths(settings=None) -> CertPaths:
    settings = settings or get_settings()
    d = Path(settings.data_dir) / "certs"
    return CertPaths(dir=d, ca_cert=d / "ca.crt", ca_key=d / "ca.key", cert=d / "server.crt", key=d / "server.key")


def wanted_names(settings=None, extra: Iterable[str] = ()) -> list[str]:
    """The subject alternative names the server certificate must carry (DNS names and IP addresses)."""
    settings = settings or get_settings()
    names = ["localhost", "127.0.0.1", "::1"]
    host = socket.gethostname().strip()
    if host:
        names.append(host)
    if settings.public_url:
        h = urlsplit(settings.public_url).hostname
        if h:
            names.append(h)
    names += [x.strip() for x in settings.tls_hosts.split(",")]
    names += [x.strip() for x in extra]
    out: list[str] = []
    for n in names:
        n = _normalize(n)
        if n and n not in out:
            out.append(n)
    return out


def _normalize(name: str) -> str:
    name = name.strip().strip("[]").rstrip(".")
    if not name:
        return ""
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    name = name.lower()
    label_ok = all(part and len(part) <= 63 and all(c.isalnum() or c in "-_*" for c in part)
                   for part in name.split("."))
    if not label_ok or len(name) > 253:
        raise CertError(f"{name!r} is neither an IP address nor a host name; fix {TLS_HOSTS_ENV} or --host")
    return name


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for n in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            entries.append(x509.DNSName(n))
    return x509.SubjectAlternativeName(entries)


def _names_in(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in san.get_values_for_type(x509.IPAddress)} | \
        {v.lower() for v in san.get_values_for_type(x509.DNSName)}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _not_after(cert: x509.Certificate) -> dt.datetime:
    return cert.not_valid_after_utc


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _same_key(cert: x509.Certificate, key) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_key().public_bytes(*fmt) == key.public_key().public_bytes(*fmt)


def _load_pair(cert_path: Path, key_path: Path):
    """(cert, key) or (None, reason)."""
    if not cert_path.is_file() or not key_path.is_file():
        return None, None, "missing"
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as e:
        return None, None, f"unreadable ({type(e).__name__}: {e})"
    if not _same_key(cert, key):
        return None, None, "the key does not match the certificate"
    return cert, key, ""


def _make_ca(paths: CertPaths) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    host = socket.gethostname() or "localhost"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{CA_NAME} ({host})"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PhotoAndVideoAnalysis")])
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    _write(paths.ca_key, _key_pem(key), 0o600)
    _write(paths.ca_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert, key


def _make_server(paths: CertPaths, ca: x509.Certificate, ca_key, names: list[str]) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    not_after = min(now + dt.timedelta(days=SERVER_DAYS), _not_after(ca))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(_san(names), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    # key first: a reader never sees a new certificate with the old key
    _write(paths.key, _key_pem(key), 0o600)
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    _write(paths.cert, chain, 0o644)
    return cert


def ensure_certs(settings=None, *, extra_hosts: Iterable[str] = (), force: bool = False, new_ca: bool = False,
                 log: Callable[[str], None] | None = None) -> CertResult:
    """Make or renew the local CA and the server certificate as needed (see the module docstring)."""
    settings = settings or get_settings()
    paths = cert_paths(settings)
    say = log or (lambda _m: None)
    try:
        paths.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(paths.dir, 0o700)
    except OSError as e:
        raise CertError(f"cannot create {paths.dir}: {e.strerror or e} (check PVA_DATA_DIR and its permissions)") \
            from None
    names = wanted_names(settings, extra_hosts)
    result = CertResult(paths=paths, names=names)
    now = _now()

    try:
        ca, ca_key, why = _load_pair(paths.ca_cert, paths.ca_key)
        if ca is not None and _not_after(ca) - now < RENEW_BEFORE:
            ca, why = None, f"expires {_not_after(ca):%Y-%m-%d}"
        if ca is not None and new_ca:
            ca, why = None, "--new-ca"
        if ca is None:
            result.ca = "created" if why == "missing" else "renewed"
            result.reasons.append(f"CA: {why}")
            ca, ca_key = _make_ca(paths)
            say(f"certs: {result.ca} the local CA {paths.ca_cert}"
                + ("" if result.ca == "created" else f" ({why}); clients must trust the new ca.crt"))

        cert, _key, why = _load_pair(paths.cert, paths.key)
        if cert is not None:
            have = _names_in(cert)
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                cert, why = None, "not signed by the current CA"
            else:
                if _not_after(cert) - now < RENEW_BEFORE:
                    cert, why = None, f"expires {_not_after(cert):%Y-%m-%d}"
                elif not set(names) <= have:
                    # names given once with --host stay until --force: only a missing wanted name re-issues
                    names = names + sorted(have - set(names))
                    result.names = names
                    cert, why = None, f"names changed, adding {', '.join(n for n in names if n not in have)}"
                elif force:
                    cert, why = None, "--force"
                else:
                    result.names = names + sorted(have - set(names))
        if cert is None:
            result.server = "created" if why == "missing" else "renewed"
            result.reasons.append(f"server: {why}")
            cert = _make_server(paths, ca, ca_key, names)
            say(f"certs: {result.server} the server certificate {paths.cert} ({', '.join(names)})")
    except OSError as e:
        raise CertError(f"cannot write certificates in {paths.dir}: {e.strerror or e}") from None
    result.not_after = _not_after(cert)
    return result
