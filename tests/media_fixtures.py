"""Generators of media test files (photos with any EXIF, all orientations, GPS hemispheres, other formats, videos).

Plain functions, no pytest dependency: each writes a file to the path you give and returns that path (as Path).
Reuse them in any test:

    from media_fixtures import make_jpeg, make_video
    jpg = make_jpeg(tmp_path / "a.jpg", make="Canon", model="EOS R", taken="2024:05:01 10:20:30",
                    offset="+02:00", gps=(48.8577, 2.2950, 35.0), orientation=6)
    mp4 = make_video(tmp_path / "a.mp4", duration=2, audio=True, location="+48.8577+002.2950+035.000/")

Images are small (a few KB) and videos short, so a test stays in the tens of milliseconds per file.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import piexif
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
EXIF_SAMPLES = SHARED / "fixtures" / "exif-samples"

#: The canonical test picture's colours: a displayed image is red top-left, green top-right, blue bottom-left,
#: white bottom-right — orientation mistakes show up as a wrong colour in a corner.
CORNERS = {"top_left": (255, 0, 0), "top_right": (0, 255, 0), "bottom_left": (0, 0, 255),
           "bottom_right": (255, 255, 255)}

# The transpose that turns the displayed picture into what a camera stores for each EXIF orientation
# (the inverse of what a viewer applies).
_STORE_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                    6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}

#: One position in each hemisphere combination: (name, lat, lon, alt).
HEMISPHERES = [("NE", 48.858222, 2.294500, 35.5), ("NW", 40.689247, -74.044502, 10.0),
               ("SE", -33.856784, 151.215297, 4.25), ("SW", -22.951916, -43.210487, -12.0)]


def corner_picture(size: tuple[int, int] = (80, 40)) -> Image.Image:
    """The canonical displayed picture: four solid quadrants with the CORNERS colours (landscape by default)."""
    w, h = size
    im = Image.new("RGB", size)
    d = ImageDraw.Draw(im)
    d.rectangle([0, 0, w // 2 - 1, h // 2 - 1], fill=CORNERS["top_left"])
    d.rectangle([w // 2, 0, w - 1, h // 2 - 1], fill=CORNERS["top_right"])
    d.rectangle([0, h // 2, w // 2 - 1, h - 1], fill=CORNERS["bottom_left"])
    d.rectangle([w // 2, h // 2, w - 1, h - 1], fill=CORNERS["bottom_right"])
    return im


def stored_for_orientation(displayed: Image.Image, orientation: int) -> Image.Image:
    """The pixels a camera would store so that applying EXIF ``orientation`` shows ``displayed``."""
    method = _STORE_TRANSPOSE.get(orientation)
    return displayed.transpose(method) if method is not None else displayed.copy()


def rational(value: float, den: int = 1_000_000) -> tuple[int, int]:
    """A positive EXIF RATIONAL (num, den) close to ``value``."""
    f = Fraction(abs(value)).limit_denominator(den)
    return f.numerator, f.denominator


def dms(value: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Decimal degrees as EXIF ((deg,1), (min,1), (sec*10000,10000)), sign dropped (it goes into the Ref tag)."""
    v = abs(value)
    deg = int(v)
    minutes_f = (v - deg) * 60
    minutes = int(minutes_f)
    seconds = round((minutes_f - minutes) * 60 * 10000)
    return (deg, 1), (minutes, 1), (seconds, 10000)


def gps_ifd(lat: float, lon: float, alt: float | None = None, *, with_refs: bool = True) -> dict:
    """A piexif GPS IFD for signed decimal degrees (and metres; negative = below sea level)."""
    g = {piexif.GPSIFD.GPSVersionID: (2, 3, 0, 0),
         piexif.GPSIFD.GPSLatitude: dms(lat), piexif.GPSIFD.GPSLongitude: dms(lon)}
    if with_refs:
        g[piexif.GPSIFD.GPSLatitudeRef] = b"S" if lat < 0 else b"N"
        g[piexif.GPSIFD.GPSLongitudeRef] = b"W" if lon < 0 else b"E"
    if alt is not None:
        g[piexif.GPSIFD.GPSAltitude] = rational(alt, 1000)
        g[piexif.GPSIFD.GPSAltitudeRef] = 1 if alt < 0 else 0
    return g


def build_exif(*, make: str | None = None, model: str | None = None, lens: str | None = None,
               taken: str | None = None, offset: str | None = None, digitized: str | None = None,
               gps: tuple | None = None, orientation: int | None = None, iso: int | None = None,
               f_number: float | None = None, exposure: tuple[int, int] | None = None,
               focal_length: float | None = None, extra_0th: dict | None = None, extra_exif: dict | None = None,
               extra_gps: dict | None = None) -> bytes:
    """EXIF bytes (piexif.dump) with the given tags.  ``taken`` is 'YYYY:MM:DD HH:MM:SS' (DateTimeOriginal),
    ``offset`` '+02:00' (OffsetTimeOriginal), ``gps`` (lat, lon[, alt]) in signed decimal degrees.
    ``extra_*`` dicts add raw piexif tags (tag id -> value) to the 0th/Exif/GPS IFDs."""
    zeroth: dict = {}
    exif: dict = {}
    gps_d: dict = {}
    if make is not None:
        zeroth[piexif.ImageIFD.Make] = make.encode()
    if model is not None:
        zeroth[piexif.ImageIFD.Model] = model.encode()
    if orientation is not None:
        zeroth[piexif.ImageIFD.Orientation] = orientation
    if taken is not None:
        exif[piexif.ExifIFD.DateTimeOriginal] = taken.encode()
    if digitized is not None:
        exif[piexif.ExifIFD.DateTimeDigitized] = digitized.encode()
    if offset is not None:
        exif[piexif.ExifIFD.OffsetTimeOriginal] = offset.encode()
    if lens is not None:
        exif[piexif.ExifIFD.LensModel] = lens.encode()
    if iso is not None:
        exif[piexif.ExifIFD.ISOSpeedRatings] = iso
    if f_number is not None:
        exif[piexif.ExifIFD.FNumber] = rational(f_number, 100)
    if exposure is not None:
        exif[piexif.ExifIFD.ExposureTime] = exposure
    if focal_length is not None:
        exif[piexif.ExifIFD.FocalLength] = rational(focal_length, 100)
    if gps is not None:
        gps_d = gps_ifd(*gps)
    zeroth.update(extra_0th or {})
    exif.update(extra_exif or {})
    gps_d.update(extra_gps or {})
    return piexif.dump({"0th": zeroth, "Exif": exif, "GPS": gps_d, "1st": {}, "thumbnail": None})


def xmp_packet(props: dict[str, str]) -> bytes:
    """An XMP packet with simple properties, e.g. {'exif:GPSLatitude': '51,30.5N', 'xmp:CreateDate': '...'}."""
    ns = {"exif": "http://ns.adobe.com/exif/1.0/", "xmp": "http://ns.adobe.com/xap/1.0/",
          "photoshop": "http://ns.adobe.com/photoshop/1.0/", "tiff": "http://ns.adobe.com/tiff/1.0/",
          "aux": "http://ns.adobe.com/exif/1.0/aux/", "exifEX": "http://cipa.jp/exif/1.0/"}
    used = sorted({k.split(":")[0] for k in props})
    decl = " ".join(f'xmlns:{p}="{ns[p]}"' for p in used)
    attrs = " ".join(f'{k}="{v}"' for k, v in props.items())
    return (f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" {decl} {attrs}/></rdf:RDF></x:xmpmeta>'
            f'<?xpacket end="w"?>').encode("utf-8")


def _jpeg_with_xmp(jpeg: bytes, xmp: bytes) -> bytes:
    """Insert an APP1 XMP segment right after SOI."""
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + xmp
    seg = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + seg + jpeg[2:]


def make_jpeg(path: str | os.PathLike, *, size: tuple[int, int] = (80, 40), image: Image.Image | None = None,
              exif: bytes | None = None, xmp: bytes | dict | None = None, icc_profile: bytes | None = None,
              quality: int = 90, **exif_fields) -> Path:
    """A JPEG at ``path``.  Pixels: ``image`` or the corner picture of ``size``.  EXIF: raw ``exif`` bytes, or
    built from ``exif_fields`` (see build_exif: make, model, taken, offset, gps, orientation, ...).  ``xmp``: a
    packet (bytes) or a dict for xmp_packet.  ``icc_profile``: embedded ICC bytes."""
    path = Path(path)
    im = image if image is not None else corner_picture(size)
    if exif is None and exif_fields:
        exif = build_exif(**exif_fields)
    kwargs = {"quality": quality}
    if exif:
        kwargs["exif"] = exif
    if icc_profile:
        kwargs["icc_profile"] = icc_profile
    buf = io.BytesIO()
    im.convert("RGB" if im.mode not in ("L", "CMYK") else im.mode).save(buf, "JPEG", **kwargs)
    data = buf.getvalue()
    if xmp is not None:
        data = _jpeg_with_xmp(data, xmp_packet(xmp) if isinstance(xmp, dict) else xmp)
    path.write_bytes(data)
    return path


def make_oriented_jpeg(path: str | os.PathLike, orientation: int, *, displayed_size: tuple[int, int] = (80, 40),
                       **exif_fields) -> Path:
    """A JPEG whose stored pixels are the corner picture transformed so that, once EXIF ``orientation`` is applied,
    it shows the corner picture of ``displayed_size`` (red top-left...)."""
    stored = stored_for_orientation(corner_picture(displayed_size), orientation)
    return make_jpeg(path, image=stored, orientation=orientation, **exif_fields)


def make_photo(path: str | os.PathLike, fmt: str, *, size: tuple[int, int] = (80, 40), exif: bytes | None = None,
               mode: str = "RGB", **exif_fields) -> Path:
    """A photo in ``fmt`` ('jpeg', 'png', 'webp', 'gif', 'tiff', 'heic') with optional EXIF (raw bytes or fields for
    build_exif; GIF has no EXIF).  HEIC is written by pillow-heif (x265)."""
    path = Path(path)
    if fmt == "jpeg":
        return make_jpeg(path, size=size, exif=exif, **exif_fields)
    im = corner_picture(size)
    if mode != "RGB":
        im = im.convert(mode)
    if exif is None and exif_fields:
        exif = build_exif(**exif_fields)
    kwargs: dict = {}
    if exif and fmt != "gif":
        kwargs["exif"] = exif
    if fmt == "heic":
        import pillow_heif

        pillow_heif.register_heif_opener()
        im.save(path, "HEIF", quality=80, **kwargs)
    elif fmt == "png":
        im.save(path, "PNG", **kwargs)
    elif fmt == "webp":
        im.save(path, "WEBP", quality=80, **kwargs)
    elif fmt == "gif":
        im.convert("P").save(path, "GIF")
    elif fmt == "tiff":
        im.save(path, "TIFF", **kwargs)
    else:
        raise ValueError(f"unknown photo format {fmt!r}")
    return path


def make_animated_gif(path: str | os.PathLike, frames: int = 3, size: tuple[int, int] = (40, 30)) -> Path:
    """An animated GIF whose first frame is the corner picture."""
    path = Path(path)
    colours = [(255, 255, 0), (0, 255, 255), (255, 0, 255), (128, 128, 128)]
    imgs = [corner_picture(size)] + [Image.new("RGB", size, colours[i % len(colours)]) for i in range(frames - 1)]
    imgs[0].save(path, "GIF", save_all=True, append_images=imgs[1:], duration=100, loop=0)
    return path


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


_CONTAINER = {  # container -> (video codec args, audio codec args)
    "mp4": (["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"], ["-c:a", "aac"]),
    "mov": (["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"], ["-c:a", "aac"]),
    "mkv": (["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"], ["-c:a", "aac"]),
    "avi": (["-c:v", "mpeg4", "-q:v", "5"], ["-c:a", "libmp3lame"]),
    "webm": (["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k"], ["-c:a", "libopus"]),
}


def make_video(path: str | os.PathLike, *, duration: float = 2.0, size: tuple[int, int] = (160, 120),
               fps: int = 10, audio: bool = False, container: str | None = None, location: str | None = None,
               apple_location: str | None = None, creation_time: str | None = None,
               rotate_tag: int | None = None, metadata: dict[str, str] | None = None) -> Path:
    """A short test video made by ffmpeg (testsrc pattern; a 440 Hz sine when ``audio``).

    ``container`` defaults to the path's suffix (mp4, mov, mkv, avi, webm).  ``location`` sets the Android-style
    ``location`` tag (ISO 6709, e.g. '+48.8577+002.2950+035.000/'), ``apple_location`` sets
    com.apple.quicktime.location.ISO6709 (both with -movflags use_metadata_tags for mp4/mov); ``creation_time`` is
    ISO 8601.  ``rotate_tag`` writes the legacy stream 'rotate' tag by remuxing (the resulting display rotation is
    whatever this ffmpeg makes of it: compare with exiftool rather than assuming a direction).
    """
    path = Path(path)
    container = container or path.suffix.lstrip(".").lower()
    vargs, aargs = _CONTAINER[container]
    w, h = size
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc=size={w}x{h}:rate={fps}:duration={duration}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={duration}"]
    cmd += vargs + (aargs if audio else ["-an"])
    meta = dict(metadata or {})
    if location:
        meta["location"] = location
    if apple_location:
        meta["com.apple.quicktime.location.ISO6709"] = apple_location
    if creation_time:
        meta["creation_time"] = creation_time
    for k, v in meta.items():
        cmd += ["-metadata", f"{k}={v}"]
    if container in ("mp4", "mov") and meta:
        cmd += ["-movflags", "use_metadata_tags"]
    target = path if rotate_tag is None else path.with_name(path.stem + ".norot" + path.suffix)
    cmd += ["-f", {"mkv": "matroska", "mov": "mov"}.get(container, container), str(target)]
    subprocess.run(cmd, check=True, timeout=60)
    if rotate_tag is not None:
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(target), "-c", "copy",
                        "-map_metadata", "0", "-metadata:s:v:0", f"rotate={rotate_tag}",
                        *(["-movflags", "use_metadata_tags"] if meta else []), str(path)], check=True, timeout=60)
        target.unlink()
    return path


def make_audio_only(path: str | os.PathLike, duration: float = 1.0) -> Path:
    """An MPEG-4 file with only an AAC audio track (ftyp isom, so it sniffs as mp4 but has no video stream)."""
    path = Path(path)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency=440:duration={duration}", "-c:a", "aac", "-f", "mp4", str(path)],
                   check=True, timeout=60)
    return path


def truncated_copy(src: str | os.PathLike, dst: str | os.PathLike, keep: float | int = 0.5) -> Path:
    """A copy of ``src`` cut after ``keep`` bytes (int) or that fraction of its length (float)."""
    data = Path(src).read_bytes()
    n = keep if isinstance(keep, int) else int(len(data) * keep)
    Path(dst).write_bytes(data[:n])
    return Path(dst)


def exif_samples_dir() -> Path | None:
    """../shared/fixtures/exif-samples when present (real camera files), else None (tests then skip)."""
    return EXIF_SAMPLES if EXIF_SAMPLES.is_dir() else None


# sRGB colorants adapted to D50 (the ICC PCS white), as in the sRGB ICC profile.
SRGB_PRIMARIES_D50 = {"r": (0.4360747, 0.2225045, 0.0139322), "g": (0.3850649, 0.7168786, 0.0971045),
                      "b": (0.1430804, 0.0606169, 0.7141733)}


def make_icc_profile(primaries: dict[str, tuple[float, float, float]] | None = None, gamma: float = 2.2,
                     description: str = "pva test RGB") -> bytes:
    """A minimal ICC v2 RGB display profile (matrix/TRC) with the given D50 colorants and a pure gamma.

    ``primaries`` defaults to sRGB's; pass e.g. {'r': SRGB g, 'g': SRGB r, 'b': SRGB b} to get a profile whose
    'red' channel means green, so a colour-management step is visible in the pixels.
    """
    import struct

    prim = primaries or SRGB_PRIMARIES_D50

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(v) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(s15(c) for c in v)

    desc_ascii = description.encode("ascii") + b"\0"
    tags = [
        (b"desc", b"desc\0\0\0\0" + struct.pack(">I", len(desc_ascii)) + desc_ascii
         + struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\0" * 67),
        (b"cprt", b"text\0\0\0\0" + b"public domain\0"),
        (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
        (b"rXYZ", xyz(prim["r"])), (b"gXYZ", xyz(prim["g"])), (b"bXYZ", xyz(prim["b"])),
    ]
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags += [(b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        while (offset + len(body)) % 4:
            body += b"\0"
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    while len(body) % 4:
        body += b"\0"
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0) + s15(0.9642) + s15(1.0) + s15(0.8249)
              + b"\0" * 4)
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body
