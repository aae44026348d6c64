"""`pva models pull`: install the detection model (sha256-verified)."""
from __future__ import annotations

from ._common import fail, group


def register(sub) -> None:
    _p, msub = group(sub, "models", "analysis models", "models_command")
    pull = msub.add_parser("pull", help="download the YOLO detection model (sha256-verified) into the models dir")
    pull.add_argument("--url", help="model URL, http(s):// or file:// (default: PVA_DETECT_MODEL_URL)")
    pull.add_argument("--sha256", help="expected sha256 (default: PVA_DETECT_MODEL_SHA256)")
    pull.add_argument("--dest", help="directory or file to install into (default: PVA_MODELS_DIR)")
    pull.add_argument("--no-progress", action="store_true", help="no progress bar")
    pull.set_defaults(func=_pull)


def _pull(args) -> int:
    from pva.services.models import ModelDownloadError, pull_detect_model
    from pva.config import get_settings

    try:
        path = pull_detect_model(url=args.url, sha256=args.sha256, dest=args.dest, progress=not args.no_progress)
    except ModelDownloadError as e:
        return fail(f"pva models pull: {e}")
    print(f"installed {path}")
    found = get_settings().effective_detect_model
    if found is None or found.resolve() != path.resolve():
        fail(f"note: the detector uses {found or 'no model'}; set PVA_DETECT_MODEL={path} to use this one")
    return 0
