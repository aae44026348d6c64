"""Public album links (issue 18 item 4): /s/<token> shows one album to anyone holding the link, with no login.

The visitor sees that album's photos and videos and nothing else: not the owner's other media, comments, faces,
places or albums.  A wrong, revoked or expired token is 404 "no such link" (the page says the link is gone); media
not in the album are 404.  A link with a password asks for it first: POST /s/<token>/unlock answers with a signed
cookie naming that link, valid for an hour (pva.services.albums says the rules).  Pages, not API: not in the
OpenAPI document."""
from __future__ import annotations

from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Request, Response

from pva.errors import NotFound
from pva.services import albums

from ..schemas.albums import UnlockIn
from ..streaming import stream_object
from ..web_format import jsonable

router = APIRouter(include_in_schema=False)
COOKIE = "pva_link"


def _cookie(request: Request) -> str | None:
    return request.cookies.get(COOKIE)


@router.get("/s/{token}")
def public_album_page(token: str, request: Request):
    """The album's page (the password prompt first when the link has one)."""
    from .web import render

    try:
        a = albums.public_album(token, _cookie(request))
    except NotFound:
        return render(request, "public_album.html", status=404, gone=True, title="Link gone", token="", a=None,
                      data=jsonable({}))
    data = {"token": token, "media": [{"id": str(m["id"]), "kind": m["kind"], "filename": m["filename"],
                                       "width": m["width"], "height": m["height"]} for m in a["media"]]}
    return render(request, "public_album.html", gone=False, title=a["name"], token=token, a=a, data=jsonable(data))


@router.post("/s/{token}/unlock", status_code=204, response_class=Response)
def unlock_public_album(token: str, body: UnlockIn, request: Request, response: Response):
    """The link's password: a cookie for this link only (path /s/<token>, an hour, HttpOnly)."""
    value = albums.unlock_link(token, body.password, request.client.host if request.client else "?")
    response.set_cookie(COOKIE, value, max_age=albums.LINK_COOKIE_SECONDS, path=f"/s/{token}", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


@router.get("/s/{token}/media/{media_id}/{what}")
def public_album_file(token: str, media_id: UUID, what: Literal["thumbnail", "preview", "original", "playback"],
                      request: Request):
    """One of the album's files: its grid thumbnail, its preview, its original, or what a browser plays (a video's
    web preview when it has one, else the original)."""
    return stream_object(request, **albums.public_file(token, _cookie(request), media_id, what),
                         inline=True)
