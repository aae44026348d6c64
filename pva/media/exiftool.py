"""exiftool (Debian's libimage-exiftool-perl) as one long-lived process per worker process: the reader of last resort.

The fast path (Pillow/piexif for photos, ffprobe for videos) answers most files in a few milliseconds; exiftool is
asked only for what it cannot answer (dates and makes kept in maker notes, Canon's CIFF block, APP12 picture info,
RIFF and Matroska dates, a video whose streams ffprobe refuses).  Starting exiftool costs ~0.5 s of Perl, so one
``exiftool -stay_open True -@ -`` process is kept per worker process and fed one command at a time (batch mode,
JSON out).  ``read(path)`` is thread-safe (one command at a time per process), bounded in time (a file that takes
longer than ``timeout`` gets the process killed, and the next call starts a new one), and survives exiftool dying.
"""
from __future__ import annotations

import atexit
import ctypes
import json
import logging
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import threading
import time

from .errors import MediaTimeoutError, MediaToolError

log = logging.getLogger(__name__)

TIMEOUT = 10.0
# Numbers as numbers (-n), every copy of a tag (-a: a Make in the maker notes as well as in IFD0) named by its group
# and, from the second copy in one group on, its copy number (-G1:4: "Matroska:Copy1:Duration" beside
# "Matroska:Duration", which JSON would otherwise merge), UTF-8 file names, files over 2 GB.
COMMON_ARGS = ("-j", "-n", "-G1:4", "-a", "-charset", "filename=utf8", "-api", "largefilesupport=1")
_MAX_OUTPUT = 8 << 20  # bytes of JSON for one file: more is a hostile file, not metadata


def available() -> bool:
    """exiftool is installed (the caller then skips what only exiftool can read)."""
    return shutil.which("exiftool") is not None


def _die_with_parent():  # pragma: no cover - runs in the child between fork and exec
    """exiftool in stay_open mode keeps polling its closed stdin forever: let the kernel end it with us."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _Launcher:
    """Starts exiftool from one thread that lives as long as this process: PR_SET_PDEATHSIG fires when the *thread*
    that forked the child ends, so a process started from a short-lived request thread would die with it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue | None = None
        self._pid: int | None = None

    def popen(self, *args, **kwargs) -> subprocess.Popen:
        with self._lock:
            if self._jobs is None or self._pid != os.getpid():  # (a forked child has no copy of the thread)
                self._jobs, self._pid = queue.SimpleQueue(), os.getpid()
                threading.Thread(target=self._serve, args=(self._jobs,), name="pva-exiftool-launcher",
                                 daemon=True).start()
            jobs = self._jobs
        done: queue.SimpleQueue = queue.SimpleQueue()
        jobs.put((args, kwargs, done))
        ok, value = done.get()
        if not ok:
            raise value
        return value

    @staticmethod
    def _serve(jobs: queue.SimpleQueue) -> None:
        while True:
            args, kwargs, done = jobs.get()
            try:
                done.put((True, subprocess.Popen(*args, **kwargs)))
            except BaseException as e:  # handed to the caller's thread
                done.put((False, e))


_launcher = _Launcher()


try:  # resolved before any fork: the child only calls it
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):  # pragma: no cover
    _PRCTL = None


def _arg_line(arg: str) -> bytes:
    """One argument for the -@ argument file: a C string when it has what a plain line cannot carry (a newline,
    white space at the start, a leading '#')."""
    if "\n" in arg or "\r" in arg or arg[:1].isspace() or arg.startswith("#") or "\\" in arg:
        escaped = (arg.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
        return b"#[CSTR]" + escaped.encode("utf-8", "surrogateescape") + b"\n"
    return arg.encode("utf-8", "surrogateescape") + b"\n"


class ExifTool:
    """One ``exiftool -stay_open`` process, started on first use and again after it dies or is killed."""

    def __init__(self, executable: str | None = None, timeout: float = TIMEOUT):
        self.executable = executable
        self.timeout = timeout
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._pid: int | None = None  # the process that started exiftool (a forked child starts its own)
        self._seq = 0
        self.starts = 0

    # ------------------------------------------------------------------------------------------- process
    def _start(self) -> subprocess.Popen:
        exe = self.executable or shutil.which("exiftool")
        missing = MediaToolError("exiftool is not installed; install Debian's libimage-exiftool-perl package")
        if not exe:
            raise missing
        try:
            proc = _launcher.popen([exe, "-stay_open", "True", "-@", "-", "-common_args", *COMMON_ARGS],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   preexec_fn=_die_with_parent if _PRCTL is not None else None)
        except FileNotFoundError:
            raise missing from None
        except OSError as e:
            raise MediaToolError(f"exiftool could not be started ({e.strerror or e})") from None
        self._proc, self._pid = proc, os.getpid()
        self.starts += 1
        return proc

    def _alive(self) -> subprocess.Popen | None:
        proc = self._proc
        if proc is None:
            return None
        if self._pid != os.getpid():  # inherited through fork: the pipes belong to the parent's conversation
            self._proc = None
            return None
        if proc.poll() is not None:
            log.warning("exiftool (pid %s) exited with %s; starting a new one", proc.pid, proc.returncode)
            self._discard(proc)
            return None
        return proc

    def _discard(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        for f in (proc.stdin, proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        if self._proc is proc:
            self._proc = None

    def close(self) -> None:
        """Ask exiftool to exit (``-stay_open False``); kill it if it does not within a second."""
        with self._lock:
            proc = self._proc
            if proc is None or self._pid != os.getpid():
                self._proc = None
                return
            try:
                proc.stdin.write(b"-stay_open\nFalse\n")
                proc.stdin.flush()
                proc.wait(timeout=1)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
            self._discard(proc)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    # ------------------------------------------------------------------------------------------- commands
    def execute(self, args: list[str], timeout: float | None = None) -> bytes:
        """Run one exiftool command (the arguments after the common ones) and return its stdout.

        Raises MediaTimeoutError when it takes longer than ``timeout`` seconds (the process is killed; the next
        command starts a new one) and MediaToolError when exiftool is missing or dies twice in a row."""
        timeout = self.timeout if timeout is None else timeout
        with self._lock:
            for attempt in (1, 2):
                proc = self._alive() or self._start()
                self._seq += 1
                ready = b"{ready%d}" % self._seq
                try:
                    proc.stdin.write(b"".join(_arg_line(a) for a in args) + b"-execute%d\n" % self._seq)
                    proc.stdin.flush()
                except (BrokenPipeError, ValueError, OSError):
                    self._discard(proc)
                    if attempt == 2:
                        raise MediaToolError("exiftool stopped accepting commands") from None
                    continue
                out = self._read_until(proc, ready, timeout)
                if out is not None:
                    return out
                if attempt == 2:
                    raise MediaToolError("exiftool exited while reading this file")
            raise AssertionError("unreachable")  # pragma: no cover

    def _read_until(self, proc: subprocess.Popen, ready: bytes, timeout: float) -> bytes | None:
        """stdout up to the ``{readyN}`` line; None when exiftool exited first (the caller retries once).  Only a
        whole line counts: a tag value reading "{ready7}" is inside a JSON string, on a line with its name."""
        fd = proc.stdout.fileno()
        buf = bytearray()
        deadline = time.monotonic() + timeout
        line = ready + b"\n"
        while True:
            if buf.startswith(line):
                return b""
            end = buf.find(b"\n" + line)
            if end >= 0:
                return bytes(buf[:end + 1])
            left = deadline - time.monotonic()
            if left <= 0 or len(buf) > _MAX_OUTPUT:
                self._discard(proc)
                if left <= 0:
                    raise MediaTimeoutError(f"reading the metadata (exiftool) took longer than {timeout:g} s; the "
                                            "file may be damaged, or the machine overloaded (retry later)")
                raise MediaToolError("exiftool gave more output than any metadata needs; the file was skipped")
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                self._discard(proc)
                return None
            buf += chunk

    def read(self, path: str | os.PathLike, tags: list[str] | tuple[str, ...] = (), *, fast: bool = False,
             timeout: float | None = None) -> dict:
        """exiftool's JSON for one file as {"Group:Tag": value}: every tag, or only ``tags`` (names without
        group, e.g. ["Make", "DateTimeOriginal"]; every group's copy is returned).  ``fast`` stops reading a
        JPEG at its image data and skips the body of a video (-fast).  {} when exiftool found nothing."""
        args = (["-fast"] if fast else []) + [f"-{t}" for t in tags] + [os.path.abspath(os.fspath(path))]
        out = self.execute(args, timeout)
        try:
            data = json.loads(out.decode("utf-8", "replace")) if out.strip() else []
        except ValueError:
            raise MediaToolError("exiftool gave no usable answer for this file") from None
        return data[0] if data and isinstance(data[0], dict) else {}


_shared: ExifTool | None = None
_shared_lock = threading.Lock()


def shared() -> ExifTool:
    """This process's exiftool (started on first use, closed at exit)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ExifTool()
            atexit.register(_shared.close)
        return _shared


def read(path: str | os.PathLike, tags: list[str] | tuple[str, ...] = (), *, fast: bool = False,
         timeout: float | None = None) -> dict:
    """:meth:`ExifTool.read` on this process's exiftool."""
    return shared().read(path, tags, fast=fast, timeout=timeout)


SKIP_GROUPS = ("File", "System", "ExifTool", "Composite")


def values(data: dict, tag: str, skip_groups: tuple[str, ...] = SKIP_GROUPS):
    """(group, value) of every copy of ``tag`` in :func:`read`'s answer, in the order exiftool gave them, leaving
    out the groups that describe the file on disk (or are computed) rather than what the camera wrote."""
    for key, value in data.items():
        parts = key.split(":")
        if parts[-1] == tag and parts[0] not in skip_groups and value not in (None, ""):
            yield parts[0], value
