"""`pva certs [--host NAME] [--force] [--new-ca]`: the local CA and the TLS server certificate (pva/certs.py)."""
from __future__ import annotations

from pva.infra.certs import TLS_HOSTS_ENV

from ._common import fail


def register(sub) -> None:
    p = sub.add_parser("certs", help="make or renew the local CA and the TLS server certificate (idempotent)",
                       description="Files under <data_dir>/certs: ca.crt, ca.key, server.crt, server.key. The server "
                                   "certificate is re-issued when it nears expiry or the wanted names change.")
    p.add_argument("--host", action="append", default=[], metavar="NAME",
                   help=f"an extra host name or IP for the certificate (repeatable; also {TLS_HOSTS_ENV}=a,b)")
    p.add_argument("--force", action="store_true", help="re-issue the server certificate now (wanted names only)")
    p.add_argument("--new-ca", action="store_true",
                   help="replace the local CA too (clients must then trust the new ca.crt)")
    p.set_defaults(func=_certs)


def _certs(args) -> int:
    from pva.infra.certs import CertError, ensure_certs

    try:
        r = ensure_certs(extra_hosts=args.host, force=args.force or args.new_ca, new_ca=args.new_ca,
                         log=lambda m: print(m, flush=True))
    except CertError as e:
        return fail(f"pva certs: {e}")
    p = r.paths
    if not r.changed:
        print("certs: up to date")
    print(f"CA certificate:     {p.ca_cert}\nserver certificate: {p.cert} (valid until {r.not_after:%Y-%m-%d}; "
          f"names {', '.join(r.names)})\nserver key:         {p.key}")
    print(f"Trust the CA: curl --cacert {p.ca_cert} ...; on Debian: cp {p.ca_cert} "
          "/usr/local/share/ca-certificates/pva-local-ca.crt && update-ca-certificates; "
          "in a browser: import ca.crt as an authority.")
    return 0
