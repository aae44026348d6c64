"""XMP packets (untrusted XML, parsed with defusedxml) and the date/GPS forms that XMP and EXIF use."""
from __future__ import annotations

import re
from datetime import datetime

from defusedxml import ElementTree as SafeET

from .sanitize import clean_text

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
PREFIXES = {
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://cipa.jp/exif/1.0/": "exifEX",
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://ns.adobe.com/exif/1.0/aux/": "aux",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://ns.adobe.com/xap/1.0/mm/": "xmpMM",
    "http://ns.adobe.com/xap/1.0/rights/": "xmpRights",
    "http://ns.adobe.com/lightroom/1.0/": "lr",
    "http://ns.adobe.com/camera-raw-settings/1.0/": "crs",
    "http://ns.google.com/photos/1.0/camera/": "GCamera",
    "http://ns.apple.com/faceinfo/1.0/": "apple-fi",
    "adobe:ns:meta/": "x",
}
MAX_PROPERTIES = 500


class XmpError(ValueError):
    pass


def _qname(tag: str) -> str:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        prefix = PREFIXES.get(ns) or ns.rstrip("/#").rsplit("/", 1)[-1] or "ns"
        return f"{prefix}:{local}"
    return tag


def _value(el):
    """Text of a simple property, list for rdf:Seq/Bag, the x-default (first) item for rdf:Alt, dict for structs."""
    for container in el:
        if container.tag in (f"{{{RDF}}}Seq", f"{{{RDF}}}Bag"):
            return [clean_text((li.text or "")) for li in container if li.tag == f"{{{RDF}}}li"]
        if container.tag == f"{{{RDF}}}Alt":
            items = [li for li in container if li.tag == f"{{{RDF}}}li"]
            chosen = next((li for li in items if li.get("{http://www.w3.org/XML/1998/namespace}lang") == "x-default"),
                          items[0] if items else None)
            return clean_text(chosen.text or "") if chosen is not None else ""
        if container.tag == f"{{{RDF}}}Description":
            return {_qname(k): clean_text(v) for k, v in container.attrib.items() if not k.startswith(f"{{{RDF}}}")}
    if len(el):
        return {_qname(c.tag): clean_text(c.text or "") for c in el}
    return clean_text(el.text or "")


def parse_xmp(data: bytes | str) -> dict:
    """Flat {'prefix:Name': value} of the properties in an XMP packet. Raises XmpError when it is not valid XML."""
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        start = data.find(b"<rdf:RDF")
    if start < 0:
        raise XmpError("no <x:xmpmeta> or <rdf:RDF> element in the XMP packet")
    end_tag = b"</x:xmpmeta>" if data.startswith(b"<x:xmpmeta", start) else b"</rdf:RDF>"
    end = data.find(end_tag, start)
    if end < 0:
        raise XmpError("the XMP packet is truncated (no closing tag)")
    xml = data[start:end + len(end_tag)]
    try:
        root = SafeET.fromstring(xml)
    except Exception as e:  # defusedxml raises its own errors for entities/DTDs, ParseError for bad XML
        raise XmpError(f"invalid XMP ({type(e).__name__}: {e})") from None
    out: dict = {}
    for desc in root.iter(f"{{{RDF}}}Description"):
        for k, v in desc.attrib.items():
            if not k.startswith(f"{{{RDF}}}") and len(out) < MAX_PROPERTIES:
                out.setdefault(_qname(k), clean_text(v))
        for child in desc:
            if len(out) >= MAX_PROPERTIES:
                break
            out.setdefault(_qname(child.tag), _value(child))
    return out


_XMP_COORD = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*,\s*(\d+(?:\.\d+)?)(?:\s*,\s*(\d+(?:\.\d+)?))?\s*([NSEWnsew])\s*$")


def parse_xmp_coordinate(text: str) -> float | None:
    """XMP GPS coordinate ('51,30.5N', '51,30,30N' or a plain signed decimal) as signed decimal degrees."""
    if not isinstance(text, str):
        return None
    m = _XMP_COORD.match(text)
    if m:
        deg, minutes, seconds, ref = m.groups()
        value = float(deg) + float(minutes) / 60 + (float(seconds) / 3600 if seconds else 0.0)
        return -value if ref.upper() in "SW" else value
    try:
        return float(text.strip())
    except ValueError:
        return None


def parse_xmp_rational(text) -> float | None:
    """'2355/100' or '23.55' as a float; None for x/0 or garbage."""
    if not isinstance(text, str):
        return None
    num, sep, den = text.strip().partition("/")
    try:
        if sep:
            d = float(den)
            return float(num) / d if d else None
        return float(num)
    except ValueError:
        return None


_OFFSET = re.compile(r"^\s*([+-])(\d{1,2}):?(\d{2})\s*$")


def parse_offset(text) -> int | None:
    """'+02:00' / '-0500' / 'Z' as minutes east of UTC; None when absent or invalid."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    if not isinstance(text, str):
        return None
    text = text.strip("\x00 ")
    if text.upper() == "Z":
        return 0
    m = _OFFSET.match(text)
    if not m:
        return None
    minutes = int(m.group(2)) * 60 + int(m.group(3))
    if minutes > 14 * 60 or int(m.group(3)) >= 60:
        return None
    return -minutes if m.group(1) == "-" else minutes


_DATE = re.compile(
    r"^\s*(\d{4})[:\-](\d{2})(?:[:\-](\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?\s*$")


def parse_datetime(text) -> tuple[datetime, int | None] | None:
    """EXIF ('2008:03:15 09:52:01') or XMP/ISO ('2008-03-15T09:52:01.5-04:00') date as (naive local time, offset
    minutes or None).  None for blank, all-zero ('0000:00:00 00:00:00') and impossible dates."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    if not isinstance(text, str):
        return None
    m = _DATE.match(text.strip("\x00 "))
    if not m:
        return None
    y, mo, d, hh, mm, ss, frac, tz = m.groups()
    try:
        micro = int((frac or "0")[:6].ljust(6, "0"))
        dt = datetime(int(y), int(mo), int(d or 1), int(hh or 0), int(mm or 0), int(ss or 0), micro)
    except ValueError:
        return None
    if dt.year < 1800:
        return None
    return dt, (parse_offset(tz) if tz else None)
