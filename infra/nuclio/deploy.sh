#!/usr/bin/env bash
# Deploy every functions/<dir>/function.yaml to Nuclio with `nuctl deploy` (or only the names given).
#
#   infra/nuclio/deploy.sh [--dry-run] [NAME...]        NAME: a functions/ directory (detect) or function (pva-detect)
#
# Settings (environment variables; defaults in brackets):
#   NUCLIO_PLATFORM       kube | local                                [kube]
#   NUCLIO_NAMESPACE      Kubernetes namespace                        [nuclio]
#   NUCLIO_PROJECT        Nuclio project the functions belong to      [pva]
#   NUCLIO_REGISTRY       registry the built images are pushed to     (required for kube)
#   NUCLIO_RUN_REGISTRY   registry the cluster pulls from, if different
#   NUCLIO_BASE_IMAGE     image with this repository installed (infra/compose/Dockerfile)  [pva:latest]
#   NUCLIO_MIN_REPLICAS / NUCLIO_MAX_REPLICAS   override every function's minReplicas/maxReplicas
#   NUCLIO_REPLICAS_<DIR> "min:max" for one function, e.g. NUCLIO_REPLICAS_DETECT=2:8
#   NUCLIO_LIMITS         resource limits, comma separated            [memory=4Gi]
#   NUCLIO_REQUESTS       resource requests, comma separated          [cpu=250m,memory=512Mi]
#   NUCLIO_LIMITS_<DIR> / NUCLIO_REQUESTS_<DIR>   the same for one function (e.g. NUCLIO_LIMITS_TRANSCRIBE=cpu=2,memory=6Gi)
#   NUCLIO_DOCKER_NETWORK local platform: the Docker network the function containers join (compose: pva_default)
#   NUCLIO_ENV_SECRET     kube: a Secret whose keys become the functions' environment (spec.envFrom); it must
#                         hold PVA_FUNCTION_SECRET and the service settings below
#   PVA_FUNCTIONS_AMQP_URL  broker URL written into every rabbit-mq trigger (--triggers)  [PVA_AMQP_URL]
#   PVA_FUNCTIONS_ENV_FILE  a file of NAME=value lines passed to every function with --env
#   PVA_FUNCTION_SECRET   the gateway's signing secret: every function must have the gateway's value (required,
#                         here, in the env file or in NUCLIO_ENV_SECRET)
#   PVA_DATABASE_URL, PVA_S3_*, PVA_BUCKET_*, PVA_AMQP_URL, ...  passed with --env when set here
#   NUCTL                 the nuctl binary                            [nuctl]
#   PYTHON                Python with PyYAML to read function.yaml     [.venv/bin/python, else python3]
#
# The models (detect, faces, whisper) and tesseract come with the image (infra/compose/Dockerfile), not from here.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FUNCTIONS="$ROOT/functions"
DRY_RUN=0
NAMES=()
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY_RUN=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) echo "deploy.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
    *) NAMES+=("$arg") ;;
  esac
done

PLATFORM=${NUCLIO_PLATFORM:-kube}
NAMESPACE=${NUCLIO_NAMESPACE:-nuclio}
PROJECT=${NUCLIO_PROJECT:-pva}
BASE_IMAGE=${NUCLIO_BASE_IMAGE:-pva:latest}
NUCTL=${NUCTL:-nuctl}
AMQP_URL=${PVA_FUNCTIONS_AMQP_URL:-${PVA_AMQP_URL:-}}
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi

case "$PLATFORM" in
  kube)
    if [ -z "${NUCLIO_REGISTRY:-}" ]; then
      echo "deploy.sh: set NUCLIO_REGISTRY (the registry the function images are pushed to) for the kube platform" >&2
      exit 2
    fi ;;
  local) ;;
  *) echo "deploy.sh: NUCLIO_PLATFORM=$PLATFORM: use kube or local" >&2; exit 2 ;;
esac
if [ -z "$AMQP_URL" ]; then
  echo "deploy.sh: set PVA_FUNCTIONS_AMQP_URL (or PVA_AMQP_URL): the broker the functions' rabbit-mq triggers use" >&2
  exit 2
fi
if [ "$DRY_RUN" = 0 ] && ! command -v "$NUCTL" >/dev/null; then
  echo "deploy.sh: $NUCTL not found: install nuctl from https://github.com/nuclio/nuclio/releases (or set NUCTL)" >&2
  exit 2
fi

# Environment for every function: the env file, then the PVA_* settings present here.
ENV_ARGS=()
if [ -n "${PVA_FUNCTIONS_ENV_FILE:-}" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    case "$line" in
      *=*) ENV_ARGS+=(--env "${line#export }") ;;
      *) echo "deploy.sh: $PVA_FUNCTIONS_ENV_FILE: '$line' is not NAME=value" >&2; exit 2 ;;
    esac
  done < "$PVA_FUNCTIONS_ENV_FILE"
fi
# Model paths (PVA_DETECT_MODEL, PVA_WHISPER_MODEL, PVA_VOSK_MODEL, PVA_MODELS_DIR) are left out on purpose: here
# they name files on this machine, and the image carries its own models in /opt/pva/models.
for var in PVA_DATABASE_URL PVA_S3_ENDPOINT PVA_S3_ACCESS_KEY PVA_S3_SECRET_KEY PVA_S3_REGION PVA_BUCKET_ORIGINALS \
           PVA_BUCKET_THUMBS PVA_BUCKET_INBOX PVA_AMQP_URL PVA_AMQP_EXCHANGE PVA_MAX_ATTEMPTS PVA_JOB_LEASE_SECONDS \
           PVA_FUNCTION_SECRET PVA_MAX_IMAGE_PIXELS PVA_OCR_LANG PVA_FACE_THRESHOLD PVA_LOG_LEVEL; do
  if [ -n "${!var:-}" ]; then ENV_ARGS+=(--env "$var=${!var}"); fi
done
# Without the gateway's PVA_FUNCTION_SECRET each pod would generate its own and refuse every call the gateway
# signs (401): stop here rather than deploy functions that cannot be invoked.
has_secret=0
for a in "${ENV_ARGS[@]}"; do case "$a" in PVA_FUNCTION_SECRET=?*) has_secret=1 ;; esac; done
if [ "$has_secret" = 0 ] && [ -z "${NUCLIO_ENV_SECRET:-}" ]; then
  echo "deploy.sh: set PVA_FUNCTION_SECRET (the value the gateway has; generate one with: openssl rand -base64 32)," \
       "or put it into PVA_FUNCTIONS_ENV_FILE or the Secret named by NUCLIO_ENV_SECRET" >&2
  exit 2
fi

# Which function directories.
DIRS=()
for d in "$FUNCTIONS"/*/; do
  d=${d%/}
  [ -f "$d/function.yaml" ] || continue
  DIRS+=("$d")
done
if [ ${#DIRS[@]} -eq 0 ]; then echo "deploy.sh: no functions/*/function.yaml under $FUNCTIONS" >&2; exit 2; fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# passwords in URLs and the values of *SECRET*/*PASSWORD* settings (printf %q escapes spaces as '\ ')
mask() { sed -E -e 's#(://[^:/@"]+:)[^@"]+@#\1***@#g' -e 's#([A-Z_]*(SECRET|PASSWORD)[A-Z_]*=)([^ ]|\\ )+#\1***#g'; }

deployed=0
for d in "${DIRS[@]}"; do
  dir=$(basename "$d")
  # name, triggers JSON (rabbit-mq urls replaced), replicas and the function.yaml to deploy (envFrom added if asked)
  info=$("$PYTHON" - "$d/function.yaml" "$AMQP_URL" "${NUCLIO_ENV_SECRET:-}" "$TMP/$dir.yaml" "$PLATFORM" <<'PY'
import json, sys
import yaml

path, url, secret, out, platform = sys.argv[1:6]
doc = yaml.safe_load(open(path, encoding="utf-8"))
spec = doc.get("spec") or {}
triggers = spec.get("triggers") or {}
notes = []
for name, t in triggers.items():
    # Nuclio registers the RabbitMQ trigger under both spellings (pkg/processor/trigger/rabbitmq/factory.go)
    if t.get("kind") in ("rabbit-mq", "rabbitMq"):
        t["url"] = url
        if int(t.get("numWorkers") or 1) > 1:
            notes.append(f"trigger {name}: Nuclio's rabbit-mq trigger handles one message at a time per replica "
                         "whatever numWorkers says (pkg/processor/trigger/rabbitmq); scale it with replicas")
    if t.get("kind") == "http" and platform == "kube":
        # reachable inside the cluster only (service nuclio-<name>, port 8080), whatever the platform's default
        # service type; the yaml's port is the local platform's host port and would be a NodePort otherwise
        t.setdefault("attributes", {})["serviceType"] = "ClusterIP"
if secret:
    env_from = [e for e in spec.get("envFrom") or [] if e.get("secretRef", {}).get("name") != secret]
    spec["envFrom"] = env_from + [{"secretRef": {"name": secret}}]
    doc["spec"] = spec
with open(out, "w", encoding="utf-8") as f:
    yaml.safe_dump(doc, f, sort_keys=False)
print(doc["metadata"]["name"])
print(json.dumps(triggers, separators=(",", ":")))
print(spec.get("minReplicas", ""))
print(spec.get("maxReplicas", ""))
print("; ".join(notes))
PY
  ) || { echo "deploy.sh: cannot read $d/function.yaml (run: pva functions list)" >&2; exit 1; }
  name=$(sed -n 1p <<<"$info")
  triggers=$(sed -n 2p <<<"$info")
  min=$(sed -n 3p <<<"$info")
  max=$(sed -n 4p <<<"$info")
  notes=$(sed -n 5p <<<"$info")

  if [ ${#NAMES[@]} -gt 0 ]; then
    wanted=0
    for n in "${NAMES[@]}"; do [ "$n" = "$dir" ] || [ "$n" = "$name" ] && wanted=1; done
    [ "$wanted" = 1 ] || continue
  fi

  key=$(tr '[:lower:]-' '[:upper:]_' <<<"$dir")
  if [ -n "$notes" ]; then echo "deploy.sh: note: functions/$dir: $notes (NUCLIO_REPLICAS_$key=min:max)" >&2; fi
  min=${NUCLIO_MIN_REPLICAS:-$min}
  max=${NUCLIO_MAX_REPLICAS:-$max}
  per="NUCLIO_REPLICAS_$key"
  if [ -n "${!per:-}" ]; then min=${!per%%:*}; max=${!per##*:}; fi
  limits_var="NUCLIO_LIMITS_$key"; requests_var="NUCLIO_REQUESTS_$key"
  limits=${!limits_var:-${NUCLIO_LIMITS:-memory=4Gi}}
  requests=${!requests_var:-${NUCLIO_REQUESTS:-cpu=250m,memory=512Mi}}

  cmd=("$NUCTL" deploy "$name" --platform "$PLATFORM" --namespace "$NAMESPACE" --project-name "$PROJECT"
       --path "$d" --file "$TMP/$dir.yaml" --base-image "$BASE_IMAGE" --triggers "$triggers")
  if [ -n "${NUCLIO_REGISTRY:-}" ]; then cmd+=(--registry "$NUCLIO_REGISTRY"); fi
  if [ -n "${NUCLIO_RUN_REGISTRY:-}" ]; then cmd+=(--run-registry "$NUCLIO_RUN_REGISTRY"); fi
  if [ -n "$min" ]; then cmd+=(--min-replicas "$min"); fi
  if [ -n "$max" ]; then cmd+=(--max-replicas "$max"); fi
  IFS=',' read -ra parts <<<"$limits"
  for r in "${parts[@]}"; do [ -n "$r" ] && cmd+=(--resource-limit "$r"); done
  IFS=',' read -ra parts <<<"$requests"
  for r in "${parts[@]}"; do [ -n "$r" ] && cmd+=(--resource-request "$r"); done
  if [ "$PLATFORM" = local ] && [ -n "${NUCLIO_DOCKER_NETWORK:-}" ]; then
    cmd+=(--platform-config "{\"attributes\":{\"network\":\"$NUCLIO_DOCKER_NETWORK\"}}")
  fi
  cmd+=("${ENV_ARGS[@]}")

  if [ "$DRY_RUN" = 1 ]; then
    printf '%q ' "${cmd[@]}" | mask
    echo
  else
    echo "deploy.sh: deploying $name from functions/$dir ($PLATFORM, namespace $NAMESPACE, project $PROJECT)"
    "${cmd[@]}"
  fi
  deployed=$((deployed + 1))
done

if [ "$deployed" = 0 ]; then
  echo "deploy.sh: no function matches ${NAMES[*]} (directories: $(cd "$FUNCTIONS" && ls -d */ | tr -d / | tr '\n' ' '))" >&2
  exit 2
fi
[ "$DRY_RUN" = 1 ] || echo "deploy.sh: $deployed function(s) deployed"
