"""Photo metadata: EXIF (Pillow), XMP fallback (defusedxml), decompression-bomb protection.

``extract_photo(path)`` never lets a malformed EXIF block crash the caller: it returns what could be read plus a
list of ``warnings``.  It raises only :class:`UnsupportedFormatError` (not a photo we take),
:class:`CorruptMediaError` (the image itself cannot be opened) and :class:`ImageTooLargeError`.

What the fast path (Pillow's EXIF, the XMP packet) cannot answer -- a date, make or model kept only in maker notes
(Reconyx), an APP12 picture-info segment (old Olympus) or Canon's CIFF block (PowerShot A5) -- is asked of exiftool
(:mod:`pva.media.exiftool`), and only then: a photo with its EXIF complete never waits for it.

A camera RAW (DNG, CR2, CR3, NEF, ARW, ORF, RW2, RAF) has no Pillow reader: its tags come from exiftool, mapped onto
the same EXIF fields and read by the same code as a JPEG's (dates and offsets, GPS, exposure), and its size is the
full sensor image's (LibRaw, :mod:`pva.media.raw`).
"""
from __future__ import annotations

import logging
import os
import re
import warnings as _warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

from PIL import ExifTags, Image, UnidentifiedImageError

from ..config import get_settings
from .detect import HEAD_BYTES, FormatInfo, detect_file, is_raw, unsupported_reason
from . import exiftool
from .errors import CorruptMediaError, ImageTooLargeError, MediaError, UnsupportedFormatError, public_reason
from .image import HEIF_OK as _HEIF_OK  # the HEIF opener is registered there, once per process
from .limits import check_image_header, check_pixels
from .sanitize import clean_text, rational_to_float, to_jsonable
from .xmp import XmpError, parse_datetime, parse_offset, parse_xmp, parse_xmp_coordinate, parse_xmp_rational

log = logging.getLogger(__name__)


# Pillow plugin names to try for each detected format (never let Pillow guess from other plugins).
PIL_FORMATS = {"jpeg": ["JPEG"], "png": ["PNG"], "gif": ["GIF"], "tiff": ["TIFF"], "webp": ["WEBP"],
               "heic": ["HEIF"], "heif": ["HEIF"], "avif": ["AVIF", "HEIF"]}
_TRANSFORMED_BY_DECODER = {"heic", "heif", "avif"}  # libheif applies irot/imir: size is already as displayed

IFD_EXIF, IFD_GPS = 0x8769, 0x8825
T_MAKE, T_MODEL, T_ORIENTATION, T_XMP = 0x010F, 0x0110, 0x0112, 700
T_DTO, T_DTD = 0x9003, 0x9004
T_OFFSET, T_OFFSET_ORIG, T_OFFSET_DIG = 0x9010, 0x9011, 0x9012
T_SUBSEC_ORIG, T_SUBSEC_DIG = 0x9291, 0x9292
T_EXPOSURE, T_FNUMBER, T_ISO, T_FOCAL, T_LENS_MODEL, T_LENS_MAKE = 0x829A, 0x829D, 0x8827, 0x920A, 0xA434, 0xA433

# exiftool is asked only about the places the fast path does not read: its answers from IFD0/ExifIFD/GPS/XMP would
# only repeat (or, for a block the fast path refused, overrule) what the fast path decided.
_FAST_PATH_GROUPS = ("IFD0", "IFD1", "ExifIFD", "GPS", "InteropIFD", "SubIFD")
_EXIFTOOL_TAGS = ("Make", "Model", "DateTimeOriginal", "CreateDate")
_OVER_LIMIT = "-byte limit; it was ignored"
_DATE_ONLY = re.compile(r"^\s*\d{4}[-:]\d{2}[-:]\d{2}\s*$")


@dataclass
class PhotoMeta:
    """What a photo says about itself.  ``width``/``height`` are as displayed (orientation applied)."""
    format: str
    mime: str
    width: int | None = None
    height: int | None = None
    orientation: int | None = None          # EXIF 1..8 as written in the file
    camera_make: str | None = None
    camera_model: str | None = None
    lens: str | None = None
    taken_at: datetime | None = None        # aware when the file gives an offset, else naive wall-clock time
    taken_at_local: datetime | None = None  # wall-clock time as the camera recorded it (naive)
    taken_at_offset: int | None = None      # minutes east of UTC, when the file says so
    gps_lat: float | None = None            # signed decimal degrees (south negative)
    gps_lon: float | None = None            # signed decimal degrees (west negative)
    gps_alt: float | None = None            # metres, negative below sea level
    iso: int | None = None
    f_number: float | None = None
    exposure_time: float | None = None      # seconds
    focal_length: float | None = None       # millimetres
    raw: dict = field(default_factory=dict)  # JSON-serialisable: {'exif': {...}, 'gps': {...}, 'xmp': {...}, ...}
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-serialisable dict (datetimes as ISO 8601 strings)."""
        d = asdict(self)
        for k in ("taken_at", "taken_at_local"):
            if d[k] is not None:
                d[k] = d[k].isoformat()
        return d


# ---------------------------------------------------------------------------------------------------- opening
def open_image(path: str | os.PathLike, info: FormatInfo | None = None, *, max_pixels: int | None = None
               ) -> tuple[Image.Image, FormatInfo]:
    """Open a photo lazily (header only) with the Pillow plugin its content calls for, after the pixel check.

    The size is read from the header by pva.media.limits before Pillow sees the file, and Pillow's size is checked
    again before anything is decoded.  Returns (image, FormatInfo).  Raises UnsupportedFormatError,
    CorruptMediaError or ImageTooLargeError.  The caller closes the image.
    """
    if info is None:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
            info = detect_file(f, head)
        if info is None:
            raise UnsupportedFormatError(unsupported_reason(head))
    if info.kind != "photo":
        raise UnsupportedFormatError(f"this is a {info.format} video, not a photo")
    if is_raw(info):  # no Pillow plugin: the embedded preview or a demosaic, loaded and already oriented
        from .raw import decode

        return decode(path, info, max_pixels=max_pixels)[0], info
    if info.format in ("heic", "heif") and not _HEIF_OK:  # pragma: no cover
        raise UnsupportedFormatError("HEIC/HEIF support is not installed (pip install pillow-heif)")
    check_image_header(path, info, max_pixels=max_pixels)
    try:
        with _warnings.catch_warnings():  # EXIF complaints are collected by extract_photo; the size is checked below
            _warnings.simplefilter("ignore")
            im = Image.open(path, formats=PIL_FORMATS.get(info.format))
    except Image.DecompressionBombError:
        raise ImageTooLargeError("image is too large to open safely (decompression-bomb protection, "
                                 "PVA_MAX_IMAGE_PIXELS)") from None
    except UnidentifiedImageError:
        raise CorruptMediaError(f"cannot read this {info.format.upper()} image: the decoder does not recognise its "
                                "data; the file is damaged or truncated — re-export or re-copy it from the original"
                                ) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, MemoryError) as e:
        raise CorruptMediaError(f"cannot read this {info.format.upper()} image: {_short(e)}; the file is damaged "
                                "or truncated — re-export or re-copy it from the original") from None
    try:
        check_pixels(*im.size, max_pixels=max_pixels)
    except ImageTooLargeError:
        im.close()
        raise
    return im, info


def _short(e: BaseException) -> str:
    return clean_text(public_reason(e, 200), 200)


# ---------------------------------------------------------------------------------------------------- EXIF
def _tag_name(tag: int, table: dict) -> str:
    return table.get(tag) or f"0x{tag:04X}"


def _read_exif(im: Image.Image, info: FormatInfo, warnings: list[str]) -> tuple[dict, dict, dict]:
    """(IFD0, Exif IFD, GPS IFD) as {tag: value}; empty dicts plus a warning for whatever cannot be parsed.
    Pillow's own complaints about corrupt EXIF (Python warnings) are added to ``warnings``."""
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        result = _read_exif_inner(im, info, warnings)
    for w in caught[:20]:
        text = f"EXIF: {clean_text(str(w.message), 200)}"
        if text not in warnings:
            warnings.append(text)
    return result


def _read_exif_inner(im: Image.Image, info: FormatInfo, warnings: list[str]) -> tuple[dict, dict, dict]:
    limit = get_settings().max_exif_bytes
    try:
        if info.format == "tiff":
            exif = im.getexif()
        else:
            raw = im.info.get("exif")
            if not raw:
                return {}, {}, {}
            if limit and len(raw) > limit:
                warnings.append(f"EXIF block of {len(raw)} bytes is over the {limit}{_OVER_LIMIT}")
                return {}, {}, {}
            exif = Image.Exif()
            exif.load(raw)
        ifd0 = dict(exif.items())
    except Exception as e:  # untrusted binary parser: any failure is a warning, never a crash
        warnings.append(f"EXIF could not be read ({type(e).__name__}: {_short(e)})")
        return {}, {}, {}
    sub = {}
    for ifd_tag, name in ((IFD_EXIF, "Exif"), (IFD_GPS, "GPS")):
        try:
            sub[ifd_tag] = dict(exif.get_ifd(ifd_tag).items())
        except Exception as e:
            warnings.append(f"EXIF {name} directory could not be read ({type(e).__name__}: {_short(e)})")
            sub[ifd_tag] = {}
    return ifd0, sub[IFD_EXIF], sub[IFD_GPS]


def _text(v) -> str | None:
    """An EXIF/XMP string: a NUL ends it (what follows is the rest of the camera's buffer: 'ION230\\0F' is
    'ION230'), control characters dropped, capped."""
    if v is None:
        return None
    if isinstance(v, (tuple, list)):
        v = v[0] if v else None
        if v is None:
            return None
    if isinstance(v, (bytes, bytearray)):
        v = bytes(v).split(b"\x00", 1)[0]
    elif isinstance(v, str):
        v = v.split("\x00", 1)[0]
    else:
        v = str(v)
    s = clean_text(v, 500)
    return s or None


def _number(v) -> float | None:
    if isinstance(v, (tuple, list)):
        v = v[0] if v else None
    if v is None or isinstance(v, (str, bytes)):
        return None
    return rational_to_float(v)


def _gps_coordinate(value, ref, axis: str, warnings: list[str]) -> float | None:
    """EXIF GPS (deg, min, sec) rationals + 'N'/'S'/'E'/'W' ref as signed decimal degrees, validated."""
    if value is None:
        return None
    parts = list(value) if isinstance(value, (tuple, list)) else [value]
    if not parts or len(parts) > 3:
        warnings.append(f"GPS {axis} has {len(parts)} components; ignored")
        return None
    total = 0.0
    for i, p in enumerate(parts):
        den = getattr(p, "denominator", 1)
        num = getattr(p, "numerator", p)
        if isinstance(p, tuple) and len(p) == 2:
            num, den = p
        if den == 0:
            if num == 0 and i > 0:
                continue  # 0/0 minutes or seconds: written as "unknown", means 0
            warnings.append(f"GPS {axis} has a zero denominator; ignored")
            return None
        f = rational_to_float(p)
        if f is None:
            warnings.append(f"GPS {axis} is not a number; ignored")
            return None
        total += f / (60 ** i)
    ref_s = _text(ref)
    ref_c = ref_s[0].upper() if ref_s else None
    negative, positive = ("S", "N") if axis == "latitude" else ("W", "E")
    if ref_c == negative:
        total = -abs(total)
    elif ref_c != positive:
        warnings.append(f"GPS {axis} has no valid {positive}/{negative} reference; taken as {positive}")
    bound = 90 if axis == "latitude" else 180
    if abs(total) > bound:
        warnings.append(f"GPS {axis} {total} is out of range; ignored")
        return None
    return total


def _gps_altitude(value, ref) -> float | None:
    alt = _number(value)
    if alt is None:
        return None
    if isinstance(ref, (bytes, bytearray)):
        ref = ref[0] if ref else 0
    try:
        below = int(ref or 0) == 1
    except (TypeError, ValueError):
        below = False
    return -abs(alt) if below else alt


def _exif_to_raw(ifd0: dict, exif_ifd: dict, gps: dict) -> dict:
    out: dict = {}
    exif: dict = {}
    for tags in (ifd0, exif_ifd):
        for tag, val in tags.items():
            if tag in (IFD_EXIF, IFD_GPS, 0xA005, T_XMP):  # pointers and the XMP packet (kept separately)
                continue
            name = _tag_name(tag, ExifTags.TAGS)
            if name == "MakerNote" and isinstance(val, (bytes, bytearray)):
                exif[name] = {"bytes": len(val)}
                continue
            exif[name] = val
    if exif:
        out["exif"] = to_jsonable(exif)
    if gps:
        out["gps"] = to_jsonable({_tag_name(t, ExifTags.GPSTAGS): v for t, v in gps.items()})
    return out


# ---------------------------------------------------------------------------------------------------- XMP
def _raw_xmp(im: Image.Image, info: FormatInfo) -> bytes | None:
    data = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    if not data and info.format == "tiff":
        data = getattr(im, "tag_v2", {}).get(T_XMP)
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    if isinstance(data, (tuple, list)):  # some TIFF writers store XMP as a BYTE array
        data = bytes(data)
    return data or None


def _read_xmp(im: Image.Image, info: FormatInfo, warnings: list[str]) -> dict:
    try:
        data = _raw_xmp(im, info)
    except Exception as e:
        warnings.append(f"XMP could not be located ({type(e).__name__})")
        return {}
    if not data:
        return {}
    limit = get_settings().max_exif_bytes
    if limit and len(data) > limit:
        warnings.append(f"XMP packet of {len(data)} bytes is over the {limit}{_OVER_LIMIT}")
        return {}
    try:
        return parse_xmp(data)
    except XmpError as e:
        warnings.append(str(e))
        return {}


# ---------------------------------------------------------------------------------------------------- main
def extract_photo(path: str | os.PathLike, *, max_pixels: int | None = None) -> PhotoMeta:
    """Metadata of the photo at ``path`` (format detected by content).  See PhotoMeta for the fields.

    Malformed EXIF/XMP give partial metadata and ``warnings``; raises UnsupportedFormatError (not a supported photo),
    CorruptMediaError (cannot be opened at all) or ImageTooLargeError (over ``max_pixels``, default
    settings.max_image_pixels).
    """
    info = detect_file(path)
    if is_raw(info):
        return _extract_raw(path, info, max_pixels)
    im, info = open_image(path, info, max_pixels=max_pixels)
    try:
        meta = _extract(im, info)
    finally:
        im.close()
    if (meta.camera_make is None or meta.camera_model is None or meta.taken_at is None) and meta.format != "gif":
        _fill_from_exiftool(meta, path)  # (a GIF has no EXIF, maker notes or camera segments)
    return meta


def _extract(im: Image.Image, info: FormatInfo) -> PhotoMeta:
    warnings: list[str] = []
    meta = PhotoMeta(format=info.format, mime=info.mime, warnings=warnings)
    ifd0, exif_ifd, gps = _read_exif(im, info, warnings)
    xmp = _read_xmp(im, info, warnings)

    meta.camera_make = _text(ifd0.get(T_MAKE)) or _text(xmp.get("tiff:Make"))
    meta.camera_model = _text(ifd0.get(T_MODEL)) or _text(xmp.get("tiff:Model"))
    meta.lens = (_text(exif_ifd.get(T_LENS_MODEL)) or _text(xmp.get("exifEX:LensModel"))
                 or _text(xmp.get("aux:Lens")))

    # Orientation: EXIF, else XMP tiff:Orientation; HEIF decoders apply it themselves (pillow-heif keeps the
    # original value in info['original_orientation']).
    orientation = ifd0.get(T_ORIENTATION)
    if info.format in _TRANSFORMED_BY_DECODER and im.info.get("original_orientation"):
        orientation = im.info["original_orientation"]  # pillow-heif resets the EXIF copy to 1 after rotating
    if orientation is None:
        orientation = im.info.get("original_orientation") or xmp.get("tiff:Orientation")
    try:
        orientation = int(orientation[0] if isinstance(orientation, (tuple, list)) else orientation) \
            if orientation not in (None, "") else None
    except (TypeError, ValueError):
        orientation = -1
    if orientation is not None and not 1 <= orientation <= 8:
        warnings.append(f"orientation {orientation!r} is not an EXIF orientation (1..8); ignored")
        orientation = None
    meta.orientation = orientation

    w, h = im.size
    if orientation in (5, 6, 7, 8) and info.format not in _TRANSFORMED_BY_DECODER:
        w, h = h, w
    meta.width, meta.height = w, h

    _fill_date(meta, ifd0, exif_ifd, xmp, warnings)
    _fill_gps(meta, gps, xmp, warnings)

    iso = exif_ifd.get(T_ISO)
    iso_f = _number(iso)
    meta.iso = int(iso_f) if iso_f is not None and 0 < iso_f < 10_000_000 else None
    meta.f_number = _positive(_number(exif_ifd.get(T_FNUMBER)))
    meta.exposure_time = _positive(_number(exif_ifd.get(T_EXPOSURE)))
    meta.focal_length = _positive(_number(exif_ifd.get(T_FOCAL)))
    if meta.f_number is None and xmp.get("exif:FNumber"):
        meta.f_number = _positive(parse_xmp_rational(xmp["exif:FNumber"]))
    if meta.focal_length is None and xmp.get("exif:FocalLength"):
        meta.focal_length = _positive(parse_xmp_rational(xmp["exif:FocalLength"]))

    raw = _exif_to_raw(ifd0, exif_ifd, gps)
    if xmp:
        raw["xmp"] = to_jsonable(xmp)
    raw["image"] = to_jsonable({
        "format": im.format, "mode": im.mode, "size": list(im.size),
        "frames": getattr(im, "n_frames", 1), "icc_profile": _icc_description(im.info.get("icc_profile")),
    })
    meta.raw = raw
    return meta


def _positive(v: float | None) -> float | None:
    return v if v is not None and v > 0 else None


def _icc_description(icc) -> str | None:
    if not icc:
        return None
    try:
        import io

        from PIL import ImageCms

        return clean_text(ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))), 200) or None
    except Exception:
        return f"unreadable ICC profile ({len(icc)} bytes)"


def _fill_date(meta: PhotoMeta, ifd0: dict, exif_ifd: dict, xmp: dict, warnings: list[str]) -> None:
    """taken_at: EXIF DateTimeOriginal, DateTimeDigitized, then XMP exif:DateTimeOriginal, photoshop:DateCreated,
    xmp:CreateDate.  The offset comes with the date (OffsetTimeOriginal/OffsetTimeDigitized, else OffsetTime), or
    from an XMP date with the same wall-clock time.  A date without a time of day (photoshop:DateCreated
    '2003-08-31') is used only when no candidate has one (exiftool's choice too)."""
    date_only = None
    candidates = [
        ("EXIF DateTimeOriginal", exif_ifd.get(T_DTO) or ifd0.get(T_DTO), exif_ifd.get(T_OFFSET_ORIG),
         exif_ifd.get(T_SUBSEC_ORIG)),
        ("EXIF DateTimeDigitized", exif_ifd.get(T_DTD) or ifd0.get(T_DTD), exif_ifd.get(T_OFFSET_DIG),
         exif_ifd.get(T_SUBSEC_DIG)),
        ("XMP exif:DateTimeOriginal", xmp.get("exif:DateTimeOriginal"), None, None),
        ("XMP photoshop:DateCreated", xmp.get("photoshop:DateCreated"), None, None),
        ("XMP xmp:CreateDate", xmp.get("xmp:CreateDate"), None, None),
    ]
    for label, value, offset_tag, subsec in candidates:
        text = _text(value)
        if not text:
            continue
        parsed = parse_datetime(text)
        if parsed is None:
            warnings.append(f"{label} {text!r} is not a valid date; ignored")
            continue
        if _DATE_ONLY.match(text):
            date_only = date_only or parsed
            continue
        local, offset = parsed
        if subsec is not None and local.microsecond == 0:
            digits = "".join(c for c in (_text(subsec) or "") if c.isdigit())[:6]
            if digits:
                local = local.replace(microsecond=int(digits.ljust(6, "0")))
        if offset is None and label.startswith("EXIF"):
            offset = parse_offset(offset_tag) if offset_tag is not None else None
            if offset is None and exif_ifd.get(T_OFFSET) is not None:
                offset = parse_offset(exif_ifd.get(T_OFFSET))
            if offset is None:  # XMP often carries the zone of the same moment
                for key in ("exif:DateTimeOriginal", "photoshop:DateCreated", "xmp:CreateDate"):
                    other = parse_datetime(_text(xmp.get(key)) or "")
                    if other and other[1] is not None and other[0].replace(microsecond=0) == \
                            local.replace(microsecond=0):
                        offset = other[1]
                        break
        _set_date(meta, local, offset)
        return
    if date_only is not None:
        _set_date(meta, *date_only)


def _set_date(meta: PhotoMeta, local: datetime, offset: int | None) -> None:
    meta.taken_at_local = local
    meta.taken_at_offset = offset
    meta.taken_at = local.replace(tzinfo=timezone(timedelta(minutes=offset))) if offset is not None else local


def _fill_gps(meta: PhotoMeta, gps: dict, xmp: dict, warnings: list[str]) -> None:
    lat = lon = None
    if gps.get(2) is not None or gps.get(4) is not None:
        lat = _gps_coordinate(gps.get(2), gps.get(1), "latitude", warnings)
        lon = _gps_coordinate(gps.get(4), gps.get(3), "longitude", warnings)
        alt = _gps_altitude(gps.get(6), gps.get(5))
    if lat is None or lon is None:
        lat = parse_xmp_coordinate(xmp.get("exif:GPSLatitude")) if xmp.get("exif:GPSLatitude") else None
        lon = parse_xmp_coordinate(xmp.get("exif:GPSLongitude")) if xmp.get("exif:GPSLongitude") else None
        alt = parse_xmp_rational(xmp.get("exif:GPSAltitude"))
        if alt is not None and str(xmp.get("exif:GPSAltitudeRef", "0")).strip() == "1":
            alt = -abs(alt)
        if lat is not None and not -90 <= lat <= 90 or lon is not None and not -180 <= lon <= 180:
            warnings.append("XMP GPS position is out of range; ignored")
            lat = lon = None
    if lat is None or lon is None:
        return
    if lat == 0.0 and lon == 0.0:
        warnings.append("GPS position 0,0 ignored (written by cameras without a fix)")
        return
    meta.gps_lat, meta.gps_lon, meta.gps_alt = lat, lon, alt


def _fill_from_exiftool(meta: PhotoMeta, path: str | os.PathLike) -> None:
    """Make, model and date taken from where only exiftool looks: maker notes (Reconyx keeps its date there),
    APP12 picture info (old Olympus), Canon's CIFF block (PowerShot A5), ...; only the fields still missing.
    Nothing is taken when the fast path refused the EXIF or XMP block as over the size limit, and exiftool being
    absent, slow or broken costs a warning at most, never the photo."""
    if any(w.endswith(_OVER_LIMIT) for w in meta.warnings) or not exiftool.available():
        return
    try:
        data = exiftool.read(path, _EXIFTOOL_TAGS, fast=True)
    except MediaError as e:
        meta.warnings.append(f"exiftool: {e}")
        return
    skip = exiftool.SKIP_GROUPS + _FAST_PATH_GROUPS

    def first(tag: str) -> tuple[str, str] | None:
        return next(((g, v) for g, v in exiftool.values(data, tag, skip)
                     if not g.startswith("XMP") and _text(v)), None)

    used: dict = {}
    for field_name, tag in (("camera_make", "Make"), ("camera_model", "Model")):
        found = first(tag) if getattr(meta, field_name) is None else None
        if found:
            setattr(meta, field_name, _text(found[1]))
            used[f"{found[0]}:{tag}"] = found[1]
    if meta.taken_at is None:
        for tag in ("DateTimeOriginal", "CreateDate"):
            for group, value in exiftool.values(data, tag, skip):
                parsed = parse_datetime(_text(value) or "") if not group.startswith("XMP") else None
                if parsed is None:
                    continue
                _set_date(meta, *parsed)
                used[f"{group}:{tag}"] = value
                break
            if meta.taken_at is not None:
                break
    if used:
        meta.raw["exiftool"] = to_jsonable(used)


# ---------------------------------------------------------------------------------------------------- RAW
# exiftool tag -> (directory, EXIF tag number): a RAW's tags as the IFD0 / Exif / GPS dicts the JPEG path reads.
_RAW_TAGS = {
    "Make": ("ifd0", T_MAKE), "Model": ("ifd0", T_MODEL), "Orientation": ("ifd0", T_ORIENTATION),
    "DateTimeOriginal": ("exif", T_DTO), "CreateDate": ("exif", T_DTD), "OffsetTime": ("exif", T_OFFSET),
    "OffsetTimeOriginal": ("exif", T_OFFSET_ORIG), "OffsetTimeDigitized": ("exif", T_OFFSET_DIG),
    "SubSecTimeOriginal": ("exif", T_SUBSEC_ORIG), "SubSecTimeDigitized": ("exif", T_SUBSEC_DIG),
    "ISO": ("exif", T_ISO), "FNumber": ("exif", T_FNUMBER), "ExposureTime": ("exif", T_EXPOSURE),
    "FocalLength": ("exif", T_FOCAL), "LensModel": ("exif", T_LENS_MODEL), "LensMake": ("exif", T_LENS_MAKE),
    "GPSLatitudeRef": ("gps", 1), "GPSLatitude": ("gps", 2), "GPSLongitudeRef": ("gps", 3),
    "GPSLongitude": ("gps", 4), "GPSAltitudeRef": ("gps", 5), "GPSAltitude": ("gps", 6),
}
_STANDARD_GROUPS = ("IFD0", "ExifIFD", "GPS", "SubIFD", "IFD1")


def _raw_tag_value(data: dict, tag: str):
    """The camera's value of ``tag``: the standard EXIF directories first, then any other (maker notes, a CR3's
    CMT boxes, a RAF's embedded JPEG), XMP last; None when no group has it."""
    found = list(exiftool.values(data, tag))
    if not found:
        return None

    def rank(item):
        group = item[0]
        return 0 if group in _STANDARD_GROUPS else 2 if group.startswith("XMP") else 1
    return sorted(found, key=rank)[0][1]


def _extract_raw(path: str | os.PathLike, info: FormatInfo, max_pixels: int | None) -> PhotoMeta:
    from .raw import raw_info

    # the sensor data is read too: a RAW cut short after its preview is refused, not kept as a broken original
    ri = raw_info(path, info, max_pixels=max_pixels, verify=True)  # CorruptMediaError / ImageTooLargeError
    warnings: list[str] = [ri.warning] if ri.warning else []
    data: dict = {}
    if exiftool.available():
        try:
            data = exiftool.read(path, tuple(_RAW_TAGS))
        except MediaError as e:
            warnings.append(f"exiftool: {e}")
    else:
        warnings.append("exiftool is not installed: the camera, date and place of RAW photos are not read "
                        "(install Debian's libimage-exiftool-perl)")
    dirs: dict[str, dict] = {"ifd0": {}, "exif": {}, "gps": {}}
    for tag, (where, number) in _RAW_TAGS.items():
        value = _raw_tag_value(data, tag)
        if value is not None:
            dirs[where][number] = value
    ifd0, exif_ifd, gps = dirs["ifd0"], dirs["exif"], dirs["gps"]
    meta = PhotoMeta(format=info.format, mime=info.mime, warnings=warnings)
    meta.camera_make = _text(ifd0.get(T_MAKE))
    meta.camera_model = _text(ifd0.get(T_MODEL))
    meta.lens = _text(exif_ifd.get(T_LENS_MODEL))
    # the orientation LibRaw found is the one the pictures are turned by (pva.media.raw), so the size agrees with them
    orientation = ri.orientation
    tagged = ifd0.get(T_ORIENTATION)
    if tagged not in (None, "") and str(tagged) != str(orientation):
        warnings.append(f"the EXIF orientation {clean_text(str(tagged), 20)!r} differs from the one LibRaw reads "
                        f"({orientation}); LibRaw's is used, as for the pictures")
    meta.orientation = orientation
    w, h = ri.width, ri.height
    meta.width, meta.height = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    _fill_date(meta, ifd0, exif_ifd, {}, warnings)
    _fill_gps(meta, gps, {}, warnings)
    iso_f = _number(exif_ifd.get(T_ISO))
    meta.iso = int(iso_f) if iso_f is not None and 0 < iso_f < 10_000_000 else None
    meta.f_number = _positive(_number(exif_ifd.get(T_FNUMBER)))
    meta.exposure_time = _positive(_number(exif_ifd.get(T_EXPOSURE)))
    meta.focal_length = _positive(_number(exif_ifd.get(T_FOCAL)))
    raw = _exif_to_raw(ifd0, exif_ifd, gps)
    raw["image"] = to_jsonable({"format": info.format.upper(), "size": [w, h], "sensor": [w, h],
                                "preview": ri.preview})
    meta.raw = raw
    return meta
