"""`pva certs`: the local CA and the server certificate — made once, kept, renewed only when needed."""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import socket
import stat
import subprocess
import sys

import pytest
from cryptography import x509

from pva.infra import certs
from pva.config import REPO_ROOT, get_settings


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.delenv(certs.TLS_HOSTS_ENV, raising=False)
    return dataclasses.replace(get_settings(), data_dir=tmp_path, public_url="")


def load(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def sans(cert: x509.Certificate) -> set[str]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in ext.get_values_for_type(x509.IPAddress)} | set(ext.get_values_for_type(x509.DNSName))


def test_first_run_makes_a_ca_and_a_server_certificate_it_signed(settings):
    r = certs.ensure_certs(settings)
    assert (r.ca, r.server) == ("created", "created")
    p = r.paths
    assert p.dir == settings.data_dir / "certs"
    for key in (p.ca_key, p.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ca, leaf = load(p.ca_cert), load(p.cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    leaf.verify_directly_issued_by(ca)
    assert {"localhost", "127.0.0.1", "::1", socket.gethostname().lower()} <= sans(leaf)
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    # server.crt carries the chain (leaf, then CA), as nginx wants it
    assert p.cert.read_bytes().count(b"BEGIN CERTIFICATE") == 2
    # openssl agrees the chain is valid for TLS servers
    out = subprocess.run(["openssl", "verify", "-purpose", "sslserver", "-CAfile", str(p.ca_cert), str(p.cert)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_second_run_changes_nothing(settings):
    first = certs.ensure_certs(settings)
    before = {f: f.read_bytes() for f in (first.paths.ca_cert, first.paths.ca_key, first.paths.cert,
                                          first.paths.key)}
    again = certs.ensure_certs(settings)
    assert not again.changed and (again.ca, again.server) == ("unchanged", "unchanged")
    assert {f: f.read_bytes() for f in before} == before


def test_a_new_name_reissues_the_server_certificate_and_keeps_the_ca(settings, monkeypatch):
    first = certs.ensure_certs(settings)
    ca_before = first.paths.ca_cert.read_bytes()
    r = certs.ensure_certs(dataclasses.replace(settings, tls_hosts="photos.example.org, 192.168.1.20"))
    assert (r.ca, r.server) == ("unchanged", "renewed")
    assert any("adding" in why and "photos.example.org" in why for why in r.reasons)
    assert {"photos.example.org", "192.168.1.20"} <= sans(load(r.paths.cert))
    assert r.paths.ca_cert.read_bytes() == ca_before
    # the public URL's host is wanted too
    with_url = dataclasses.replace(settings, public_url="https://pva.example.net:8443/")
    assert "pva.example.net" in sans(load(certs.ensure_certs(with_url).paths.cert))


def test_expiring_server_certificate_is_renewed(settings, monkeypatch):
    first = certs.ensure_certs(settings)
    old_serial = load(first.paths.cert).serial_number
    # the server certificate lasts SERVER_DAYS, the CA ten years: a window longer than the first is "expiring"
    monkeypatch.setattr(certs, "RENEW_BEFORE", certs.dt.timedelta(days=certs.SERVER_DAYS + 1))
    r = certs.ensure_certs(settings)
    assert (r.ca, r.server) == ("unchanged", "renewed")
    assert any("expires" in why for why in r.reasons)
    assert load(r.paths.cert).serial_number != old_serial


def test_a_server_certificate_from_another_ca_is_replaced(settings):
    first = certs.ensure_certs(settings)
    first.paths.ca_cert.unlink()
    first.paths.ca_key.unlink()
    r = certs.ensure_certs(settings)
    assert (r.ca, r.server) == ("created", "renewed")
    assert "server: not signed by the current CA" in r.reasons
    load(r.paths.cert).verify_directly_issued_by(load(r.paths.ca_cert))


def test_a_damaged_key_is_replaced(settings):
    first = certs.ensure_certs(settings)
    first.paths.key.write_text("not a key")
    r = certs.ensure_certs(settings)
    assert r.server == "renewed" and any("unreadable" in why for why in r.reasons)


def test_a_bad_extra_name_is_a_clear_error(settings):
    with pytest.raises(certs.CertError, match="neither an IP address nor a host name"):
        certs.ensure_certs(settings, extra_hosts=["bad name!"])
    assert str(ipaddress.ip_address("::1")) in certs.wanted_names(settings)


def test_pva_certs_command(tmp_path):
    env = dict(os.environ, PVA_DATA_DIR=str(tmp_path), PVA_LOG_JSON="false")
    env.pop(certs.TLS_HOSTS_ENV, None)
    run = [sys.executable, "-m", "pva.cli", "certs"]
    r = subprocess.run(run + ["--host", "nas.local"], env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "created the local CA" in r.stdout and "nas.local" in r.stdout
    r = subprocess.run(run, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "up to date" in r.stdout
    assert "nas.local" in sans(load(tmp_path / "certs" / "server.crt"))  # kept until --force
    r = subprocess.run(run + ["--force"], env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "renewed the server certificate" in r.stdout
    assert "nas.local" not in sans(load(tmp_path / "certs" / "server.crt"))
