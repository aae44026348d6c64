"""The production compose file and the Nuclio deploy script, checked without Docker or nuctl (neither runs here):
the compose file parses, every file it references exists, every variable it uses is documented in .env.example,
MinIO announces inbox drops to RabbitMQ as DESIGN.md says, the nginx site it uses is valid for nginx, and
deploy.sh produces one `nuctl deploy` per function with the broker URL overridden."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess

import pytest
import yaml

from pva.config import REPO_ROOT, Settings
from pva.runtime.spec import discover

COMPOSE_DIR = REPO_ROOT / "infra" / "compose"
COMPOSE = COMPOSE_DIR / "docker-compose.yml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
SITE_TEMPLATE = REPO_ROOT / "infra" / "nginx" / "pva-site.conf.template"
DEPLOY = REPO_ROOT / "infra" / "nuclio" / "deploy.sh"
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, ${NAME:+alt}; $$ escapes a dollar
VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")
# every MinIO AMQP target setting (internal/event/target/amqp.go in minio/minio)
MINIO_AMQP_SETTINGS = {"ENABLE", "URL", "EXCHANGE", "ROUTING_KEY", "EXCHANGE_TYPE", "DELIVERY_MODE", "MANDATORY",
                       "IMMEDIATE", "DURABLE", "INTERNAL", "NO_WAIT", "AUTO_DELETED", "ARGUMENTS",
                       "PUBLISHING_CONFIRMS", "QUEUE_DIR", "QUEUE_LIMIT"}


def env_example() -> dict[str, str]:
    out = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f".env.example: bad line {line!r}"
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key] = value
    return out


def interpolate(text: str, env: dict[str, str], unescape: bool = True) -> str:
    """Compose-style ${VAR...} substitution (enough for this file)."""
    def sub(m):
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = env.get(name)
        if op in (":-", "-"):
            return value if value not in (None, "") or (op == "-" and value is not None) else arg
        if op in (":?", "?") and not value:
            raise KeyError(f"{name}: {arg}")
        return value or ""
    out = VAR.sub(sub, text)
    return out.replace("$$", "$") if unescape else out


@pytest.fixture(scope="module")
def compose() -> dict:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict) and doc.get("services"), "docker-compose.yml has no services"
    return doc


def test_compose_has_the_production_services(compose):
    services = compose["services"]
    assert {"postgres", "rabbitmq", "minio", "minio-setup", "gateway", "nginx", "nuclio"} <= set(services)
    assert services["postgres"]["image"].startswith("pgvector/pgvector:pg16")
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        for dep in svc.get("depends_on") or {}:
            assert dep in services, f"{name} depends on unknown service {dep}"
        restart = svc.get("restart", "no")
        one_shot = restart == "no"
        # long-running services say how to tell they are healthy; one-shot jobs are waited for by their dependents
        if not one_shot and name != "nuclio":
            assert "healthcheck" in svc, f"{name} has no healthcheck"


def test_every_variable_is_documented_in_env_example_and_every_documented_one_is_used(compose):
    text = COMPOSE.read_text()
    used = {m.group(1) for m in VAR.finditer(text)}
    documented = env_example()
    assert used, "no ${VAR} in docker-compose.yml?"
    assert used <= set(documented), f"undocumented in .env.example: {sorted(used - set(documented))}"
    assert set(documented) <= used, f"documented but unused: {sorted(set(documented) - used)}"
    # secrets are required (${VAR:?...}) and shipped empty
    required = {m.group(1) for m in VAR.finditer(text) if m.group(2) in (":?", "?")}
    assert {"POSTGRES_PASSWORD", "RABBITMQ_PASSWORD", "MINIO_ROOT_PASSWORD", "PVA_S3_SECRET_KEY",
            "PVA_SECRET_KEY", "PVA_WEBHOOK_SECRET", "PVA_FUNCTION_SECRET"} <= required
    for name in required - {"PVA_NGINX_CSP"}:
        assert documented[name] == "", f"{name} has a value in .env.example; secrets must be filled in by the user"
    # with the secrets filled in, every reference resolves (compose interpolates the parsed values)
    filled = {k: (v or "x") for k, v in documented.items()}

    def walk(node):
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return interpolate(node, filled, unescape=False) if isinstance(node, str) else node

    resolved = walk(compose)
    assert not VAR.search(json.dumps(resolved))
    assert resolved["services"]["nginx"]["ports"][0] == "443:443"


def test_every_referenced_file_exists(compose):
    checked = 0
    for name, svc in compose["services"].items():
        build = svc.get("build")
        if build:
            build = {"context": build} if isinstance(build, str) else build
            context = (COMPOSE_DIR / build.get("context", ".")).resolve()
            assert context.is_dir(), f"{name}: build context {context} missing"
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
            for src in re.findall(r"^COPY\s+(?!--from)(.+?)\s+\S+$", dockerfile.read_text(), re.M):
                for part in shlex.split(src):
                    assert (context / part).exists(), f"{dockerfile.name}: COPY {part}: missing in the context"
            checked += 1
        for vol in svc.get("volumes") or []:
            src = vol["source"] if isinstance(vol, dict) else vol.split(":")[0]
            if src.startswith((".", "/")) and not src.startswith("/var/run/"):
                assert (COMPOSE_DIR / src).exists(), f"{name}: volume source {src} missing"
                checked += 1
            elif not src.startswith("/"):
                assert src in (compose.get("volumes") or {}), f"{name}: named volume {src} is not declared"
        for f in svc.get("env_file") or []:
            assert (COMPOSE_DIR / f).is_file(), f"{name}: env_file {f} missing"
    assert checked >= 4


def test_minio_announces_inbox_drops_to_rabbitmq_as_designed(compose):
    env = compose["services"]["minio"]["environment"]
    amqp = {k: v for k, v in env.items() if k.startswith("MINIO_NOTIFY_AMQP_")}
    targets = set()
    for key in amqp:
        setting, _, target = key.removeprefix("MINIO_NOTIFY_AMQP_").rpartition("_")
        assert setting in MINIO_AMQP_SETTINGS, f"{key}: MinIO has no AMQP setting {setting}"
        targets.add(target)
    assert targets == {"PRIMARY"}
    get = lambda s: str(amqp[f"MINIO_NOTIFY_AMQP_{s}_PRIMARY"])  # noqa: E731
    assert get("ENABLE") == "on"
    assert get("EXCHANGE") == Settings().amqp_exchange == "pva"
    assert get("EXCHANGE_TYPE") == "topic"
    assert get("ROUTING_KEY") == "storage.inbox"
    assert get("DURABLE") == "on" and get("DELIVERY_MODE") == "2" and get("PUBLISHING_CONFIRMS") == "on"
    assert get("URL").startswith("amqp://") and "@rabbitmq:5672" in get("URL")
    queue_dir = get("QUEUE_DIR")
    assert queue_dir.startswith("/"), "MinIO wants an absolute queue_dir"
    mounts = [v.split(":")[1] for v in compose["services"]["minio"]["volumes"]]
    assert queue_dir in mounts, "the event queue dir must be on a volume (events survive a restart)"
    # the ingest function listens on that routing key
    ingest_topics = {t for s in discover(REPO_ROOT / "functions") for tr in s.triggers.values()
                     if tr.kind == "rabbit-mq" for t in tr.attributes["topics"]}
    assert "storage.inbox" in ingest_topics
    # and the setup job subscribes the inbox bucket's object-created events to the PRIMARY AMQP target
    setup = (COMPOSE_DIR / "minio-setup.sh").read_text()
    assert re.search(r'mc event add "local/\$PVA_BUCKET_INBOX" "\$ARN" --event put', setup)
    assert "ARN=arn:minio:sqs::PRIMARY:amqp" in setup
    assert subprocess.run(["sh", "-n", str(COMPOSE_DIR / "minio-setup.sh")]).returncode == 0


def test_production_nginx_gets_every_site_placeholder_and_the_site_is_valid_for_nginx(compose, tmp_path):
    from pva.infra.certs import ensure_certs
    from pva.stack import nginx as pva_nginx

    svc = compose["services"]["nginx"]
    env = dict(svc["environment"])
    placeholders = set(re.findall(r"\$\{(PVA_NGINX_[A-Z_]+)\}", SITE_TEMPLATE.read_text()))
    assert placeholders == {k for k in env if k.startswith("PVA_NGINX_")}
    assert any(v.endswith("/etc/nginx/templates/pva.conf.template:ro") for v in svc["volumes"])
    binary = pva_nginx.nginx_binary()
    if not binary:
        pytest.skip("nginx is not installed: cannot run nginx -t on the production site")
    # resolve the compose values as `docker compose` would with .env.example (+ placeholders for secrets),
    # then point the certificate and the upstream at things that exist on this machine
    filled = {k: (v or "x") for k, v in env_example().items()}
    values = {k: interpolate(str(v), filled) for k, v in env.items()}
    certs = ensure_certs(Settings(data_dir=tmp_path)).paths
    values.update(PVA_NGINX_CERT=str(certs.cert), PVA_NGINX_KEY=str(certs.key), PVA_NGINX_UPSTREAM="127.0.0.1:9",
                  PVA_NGINX_LISTEN="127.0.0.1")
    site = tmp_path / "site.conf"
    site.write_text(pva_nginx.fill(SITE_TEMPLATE.read_text(), values))
    (tmp_path / "tmp").mkdir()
    main = tmp_path / "nginx.conf"
    main.write_text(f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; events {{}}\n"
                    f"http {{ client_body_temp_path {tmp_path}/tmp/b; proxy_temp_path {tmp_path}/tmp/p; "
                    f"fastcgi_temp_path {tmp_path}/tmp/f; uwsgi_temp_path {tmp_path}/tmp/u; "
                    f"scgi_temp_path {tmp_path}/tmp/s; access_log off; include {site}; }}\n")
    r = subprocess.run([binary, "-t", "-p", f"{tmp_path}/", "-c", str(main), "-e", str(tmp_path / "error.log")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"client_max_body_size {env_example()['PVA_MAX_UPLOAD_BYTES']};" in site.read_text()


# ------------------------------------------------------------------------------------------------ deploy.sh
def run_deploy(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PVA_", "NUCLIO_"))}
    base["PVA_FUNCTION_SECRET"] = "test-function-secret"  # required by deploy.sh (tests/test_infra_nuclio.py)
    return subprocess.run(["bash", str(DEPLOY), *args], env={**base, **env}, capture_output=True, text=True,
                          timeout=120)


def parse_commands(stdout: str) -> list[list[str]]:
    return [shlex.split(line) for line in stdout.splitlines() if line.startswith("nuctl ")]


def flag_values(cmd: list[str], flag: str) -> list[str]:
    return [cmd[i + 1] for i, a in enumerate(cmd) if a == flag]


def test_deploy_script_syntax():
    assert subprocess.run(["bash", "-n", str(DEPLOY)]).returncode == 0
    assert os.access(DEPLOY, os.X_OK)


def test_deploy_runs_nuctl_deploy_for_every_function_with_the_broker_url_overridden():
    url = "amqp://pva:s3cret@rabbitmq.pva.svc:5672/"
    r = run_deploy("--dry-run", NUCLIO_REGISTRY="registry.example.com", PVA_FUNCTIONS_AMQP_URL=url,
                   NUCLIO_REPLICAS_DETECT="2:8", NUCLIO_LIMITS_TRANSCRIBE="cpu=2,memory=6Gi",
                   PVA_DATABASE_URL="postgresql://pva:dbpw@postgres/pva")
    assert r.returncode == 0, r.stderr
    assert "s3cret" not in r.stdout and "dbpw" not in r.stdout, "dry run must not print passwords"
    cmds = parse_commands(r.stdout)
    specs = {s.name: s for s in discover(REPO_ROOT / "functions")}
    assert sorted(c[2] for c in cmds) == sorted(specs)
    for cmd in cmds:
        name = cmd[2]
        spec = specs[name]
        assert cmd[:2] == ["nuctl", "deploy"]
        assert flag_values(cmd, "--path") == [str(spec.path)]
        assert flag_values(cmd, "--platform") == ["kube"] and flag_values(cmd, "--namespace") == ["nuclio"]
        assert flag_values(cmd, "--project-name") == ["pva"]
        assert flag_values(cmd, "--registry") == ["registry.example.com"]
        triggers = json.loads(flag_values(cmd, "--triggers")[0])
        original = yaml.safe_load(spec.yaml_path.read_text())["spec"]["triggers"]
        assert set(triggers) == set(original), name
        for tname, t in triggers.items():
            expected = dict(original[tname])
            if t["kind"] == "rabbit-mq":
                assert t["url"] == "amqp://pva:***@rabbitmq.pva.svc:5672/"  # masked in the dry run
                expected["url"] = t["url"]
            if t["kind"] == "http":  # cluster-internal on kube (tests/test_infra_nuclio.py)
                expected["attributes"] = {**expected["attributes"], "serviceType": "ClusterIP"}
            assert t == expected, (name, tname)
        limits = flag_values(cmd, "--resource-limit")
        if name == "pva-detect":
            assert flag_values(cmd, "--min-replicas") == ["2"] and flag_values(cmd, "--max-replicas") == ["8"]
        else:
            assert flag_values(cmd, "--max-replicas") == [str(spec.raw["spec"]["maxReplicas"])]
        assert limits == (["cpu=2", "memory=6Gi"] if name == "pva-transcribe" else ["memory=4Gi"])
        assert "PVA_DATABASE_URL=postgresql://pva:***@postgres/pva" in flag_values(cmd, "--env")


def test_deploy_one_function_on_local_docker_joins_the_compose_network():
    r = run_deploy("--dry-run", "detect", NUCLIO_PLATFORM="local", NUCLIO_DOCKER_NETWORK="pva_default",
                   PVA_AMQP_URL="amqp://guest:guest@rabbitmq:5672/")
    assert r.returncode == 0, r.stderr
    (cmd,) = parse_commands(r.stdout)
    assert cmd[2] == "pva-detect" and flag_values(cmd, "--platform") == ["local"]
    assert json.loads(flag_values(cmd, "--platform-config")[0]) == {"attributes": {"network": "pva_default"}}
    assert flag_values(cmd, "--registry") == []


def test_deploy_says_what_is_missing():
    r = run_deploy("--dry-run", PVA_AMQP_URL="amqp://x@y/")
    assert r.returncode == 2 and "NUCLIO_REGISTRY" in r.stderr
    r = run_deploy("--dry-run", NUCLIO_PLATFORM="local")
    assert r.returncode == 2 and "PVA_FUNCTIONS_AMQP_URL" in r.stderr
    r = run_deploy("--dry-run", "nosuch", NUCLIO_PLATFORM="local", PVA_AMQP_URL="amqp://x@y/")
    assert r.returncode == 2 and "no function matches nosuch" in r.stderr
    if not shutil.which("nuctl"):
        r = run_deploy(NUCLIO_PLATFORM="local", PVA_AMQP_URL="amqp://x@y/")
        assert r.returncode == 2 and "nuctl" in r.stderr and "releases" in r.stderr
