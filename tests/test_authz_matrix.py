"""Authorization by construction: every route of the app (API and pages, every method) is called by every kind of
caller, and the answer must be the one RULES declares for that route.

The routes come from the app's own route table, so a new route fails test_every_route_has_a_rule until its author
adds a row to RULES saying who may call it.  The callers: the owner (full token, and a login session), another
user, a share recipient (the owner's album shared read-only with them), one token per single scope (read, write,
upload) of the owner, an administrator, nobody, and the owner's revoked token, expired token and logged-out
session.  Path parameters (and ids in bodies) are real ids of the owner's objects, so "another user" really asks
for someone else's media, thumbnails, originals, comments, albums, shares, people, faces, face crops, jobs and
tokens: the answer must be 404 (or 403 when the caller lacks the scope), never 200.

RULES says what is right, not what the app does today.  Where the app is known to be wrong and the fix is under
way elsewhere, KNOWN_WRONG names the finding; those cells are reported as xfail (and pass once the fix lands).
"""
from __future__ import annotations

import io
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest

from test_gateway_helpers import add_comment, add_face, add_job, add_person, insert_media, new_user, vec

SECRET = "matrix-owner-secret"
SAFE = {"GET", "HEAD"}

# ---------------------------------------------------------------- who may call a route
PUBLIC = "public"                   # anyone, no credentials needed
AUTHENTICATED = "any-authenticated"  # any user holding the scope; acts on the caller's own data only
OWNER = "owner-only"                # the owner of the ids in the path/body; everyone else 404
OWNER_OR_RECIPIENT_READ = "owner-or-recipient-read"  # also users the album is shared with (read-only)
OWN_ITEMS = "own-items"             # any user holding the scope; acts on their own ids in the body only, and
                                    # answers {done, not_found}: the owner's ids sent by anyone else are not done
ADMIN = "admin"                     # the admin scope (non-admins 403)
WEBHOOK = "webhook-secret"          # loopback + the webhook secret, which no user credential is

Req = Callable[[dict], dict]  # the owner's objects -> keyword arguments of the request (json=, content=, ...)


@dataclass(frozen=True)
class Rule:
    access: str
    scope: str | None = None          # read/write/upload/admin; None for PUBLIC and WEBHOOK
    ok: frozenset[int] = frozenset({200})  # what an allowed caller gets
    req: Req | None = None
    ids: dict = field(default_factory=dict)  # path parameter -> key of the objects (default: the same name)
    fresh_credential: bool = False    # the call uses up the caller's credential (logout)


def R(access, scope=None, ok=(200,), req=None, ids=None, fresh_credential=False) -> Rule:
    return Rule(access, scope, frozenset(ok), req, ids or {}, fresh_credential)


def _jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (10, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


V1 = "/api/v1"
RULES: dict[tuple[str, str], Rule] = {
    # schema, health, metrics, webhook
    ("GET", "/api/openapi.json"): R(PUBLIC), ("HEAD", "/api/openapi.json"): R(PUBLIC),
    ("GET", "/api/docs"): R(PUBLIC), ("HEAD", "/api/docs"): R(PUBLIC),
    ("GET", "/docs/oauth2-redirect"): R(PUBLIC), ("HEAD", "/docs/oauth2-redirect"): R(PUBLIC),
    ("GET", "/healthz"): R(PUBLIC),
    ("GET", "/readyz"): R(PUBLIC),
    ("GET", "/metrics"): R(ADMIN, "admin"),  # the test client is not on loopback
    ("POST", f"{V1}/hooks/seaweedfs"): R(WEBHOOK, req=lambda o: {"json": {}}),
    # auth and tokens
    ("POST", f"{V1}/auth/login"): R(PUBLIC, req=lambda o: {"json": {"username": o["username"],
                                                                     "password": o["password"]}}),
    ("POST", f"{V1}/auth/logout"): R(AUTHENTICATED, "write", ok=(204,), fresh_credential=True),
    ("GET", f"{V1}/auth/me"): R(AUTHENTICATED, "read"),
    ("GET", f"{V1}/tokens"): R(AUTHENTICATED, "read"),
    # scopes ["write"]: a subset of every caller holding write, so this row does not depend on finding 3
    ("POST", f"{V1}/tokens"): R(AUTHENTICATED, "write", ok=(201,), req=lambda o: {"json": {"scopes": ["write"]}}),
    ("DELETE", f"{V1}/tokens/{{token_id}}"): R(OWNER, "write", ok=(204,)),
    ("GET", f"{V1}/users"): R(ADMIN, "admin"),
    ("POST", f"{V1}/users"): R(ADMIN, "admin", ok=(201,), req=lambda o: {"json": {
        "username": f"m{secrets.token_hex(5)}", "password": "long enough password"}}),
    # a wrong current password: refused with 400 once the caller is let through (no one's password changes here)
    ("POST", f"{V1}/auth/password"): R(AUTHENTICATED, "write", ok=(400,), req=lambda o: {"json": {
        "current_password": "not the password", "new_password": "long enough password"}}),
    ("PATCH", f"{V1}/users/{{user_id}}"): R(ADMIN, "admin", ids={"user_id": "recipient_id"},
                                             req=lambda o: {"json": {"display_name": "matrix"}}),
    ("POST", f"{V1}/users/{{user_id}}/password"): R(ADMIN, "admin", ok=(204,), ids={"user_id": "recipient_id"},
                                                     req=lambda o: {"json": {"password": "long enough password"}}),
    # media
    ("GET", f"{V1}/media"): R(AUTHENTICATED, "read"),
    ("GET", f"{V1}/search/facets"): R(AUTHENTICATED, "read"),
    ("GET", f"{V1}/search/suggest"): R(AUTHENTICATED, "read"),
    ("GET", f"{V1}/media/{{media_id}}"): R(OWNER_OR_RECIPIENT_READ, "read"),
    ("GET", f"{V1}/media/{{media_id}}/burst"): R(OWNER, "read"),  # stacks are the owner's library view
    ("GET", f"{V1}/memories"): R(AUTHENTICATED, "read"),
    ("GET", f"{V1}/media/{{media_id}}/thumbnail"): R(OWNER_OR_RECIPIENT_READ, "read"),
    ("HEAD", f"{V1}/media/{{media_id}}/thumbnail"): R(OWNER_OR_RECIPIENT_READ, "read"),
    ("GET", f"{V1}/media/{{media_id}}/original"): R(OWNER_OR_RECIPIENT_READ, "read"),
    ("HEAD", f"{V1}/media/{{media_id}}/original"): R(OWNER_OR_RECIPIENT_READ, "read"),
    ("GET", f"{V1}/media/{{media_id}}/files/{{role}}"): R(OWNER_OR_RECIPIENT_READ, "read"),  # issue 22
    ("HEAD", f"{V1}/media/{{media_id}}/files/{{role}}"): R(OWNER_OR_RECIPIENT_READ, "read"),
    ("GET", f"{V1}/media/{{media_id}}/playback"): R(OWNER_OR_RECIPIENT_READ, "read"),
    ("HEAD", f"{V1}/media/{{media_id}}/playback"): R(OWNER_OR_RECIPIENT_READ, "read"),
    ("POST", f"{V1}/media/upload"): R(AUTHENTICATED, "upload", req=lambda o: {
        "files": [("files", (f"matrix-{secrets.token_hex(3)}.jpg", _jpeg(), "image/jpeg"))]}),
    ("POST", f"{V1}/media/have"): R(AUTHENTICATED, "upload", req=lambda o: {"json": {"sha512": [o["sha512"]]}}),
    ("PUT", f"{V1}/media/{{media_id}}/gps"): R(OWNER, "write", req=lambda o: {"json": {"lat": 1.0, "lon": 2.0}}),
    ("DELETE", f"{V1}/media/{{media_id}}/gps"): R(OWNER, "write"),
    ("POST", f"{V1}/media/{{media_id}}/trash"): R(OWNER, "write"),
    ("POST", f"{V1}/media/{{media_id}}/restore"): R(OWNER, "write", ids={"media_id": "trashed_id"}),
    ("DELETE", f"{V1}/media/{{media_id}}"): R(OWNER, "write", ok=(204,), ids={"media_id": "trashed_id"}),
    ("POST", f"{V1}/trash/empty"): R(AUTHENTICATED, "write"),
    ("POST", f"{V1}/media/bulk/trash"): R(OWN_ITEMS, "write", req=lambda o: {"json": {"media_ids": [o["media_id"]]}}),
    ("POST", f"{V1}/media/bulk/restore"): R(OWN_ITEMS, "write",
                                            req=lambda o: {"json": {"media_ids": [o["trashed_id"]]}}),
    ("POST", f"{V1}/media/bulk/location"): R(OWN_ITEMS, "write", req=lambda o: {"json": {
        "media_ids": [o["media_id"]], "lat": 1.0, "lon": 2.0}}),
    ("POST", f"{V1}/media/bulk/albums/{{album_id}}/add"): R(OWNER, "write",
                                                             req=lambda o: {"json": {"media_ids": [o["media_id"]]}}),
    ("POST", f"{V1}/media/bulk/albums/{{album_id}}/remove"): R(OWNER, "write", req=lambda o: {
        "json": {"media_ids": [o["media_id"]]}}),
    ("POST", f"{V1}/media/download"): R(OWNER_OR_RECIPIENT_READ, "read",
                                        req=lambda o: {"json": {"media_ids": [o["media_id"]]}}),
    ("GET", f"{V1}/media/{{media_id}}/comments"): R(OWNER_OR_RECIPIENT_READ, "read"),
    ("POST", f"{V1}/media/{{media_id}}/comments"): R(OWNER, "write", ok=(201,),
                                                      req=lambda o: {"json": {"body": "matrix"}}),
    ("PATCH", f"{V1}/comments/{{comment_id}}"): R(OWNER, "write", req=lambda o: {"json": {"body": "matrix"}}),
    ("DELETE", f"{V1}/comments/{{comment_id}}"): R(OWNER, "write", ok=(204,)),
    # albums and sharing
    ("GET", f"{V1}/albums"): R(AUTHENTICATED, "read"),
    ("POST", f"{V1}/albums"): R(AUTHENTICATED, "write", ok=(201,), req=lambda o: {"json": {"name": "matrix"}}),
    ("GET", f"{V1}/albums/{{album_id}}"): R(OWNER_OR_RECIPIENT_READ, "read"),
    ("PATCH", f"{V1}/albums/{{album_id}}"): R(OWNER, "write", req=lambda o: {"json": {"name": "renamed"}}),
    ("DELETE", f"{V1}/albums/{{album_id}}"): R(OWNER, "write", ok=(204,)),
    ("POST", f"{V1}/albums/{{album_id}}/media"): R(OWNER, "write",
                                                    req=lambda o: {"json": {"media_ids": [o["media_id"]]}}),
    ("DELETE", f"{V1}/albums/{{album_id}}/media/{{media_id}}"): R(OWNER, "write", ok=(204,)),
    ("PUT", f"{V1}/albums/{{album_id}}/cover"): R(OWNER, "write", req=lambda o: {"json": {"media_id": o["media_id"]}}),
    ("GET", f"{V1}/albums/{{album_id}}/shares"): R(OWNER, "read"),
    ("POST", f"{V1}/albums/{{album_id}}/shares"): R(OWNER, "write", ok=(201,),
                                                     req=lambda o: {"json": {"username": o["third_username"]}}),
    ("DELETE", f"{V1}/albums/{{album_id}}/shares/{{user_id}}"): R(OWNER, "write", ok=(204,),
                                                                   ids={"user_id": "recipient_id"}),
    ("GET", f"{V1}/albums/{{album_id}}/links"): R(OWNER, "read"),
    ("POST", f"{V1}/albums/{{album_id}}/links"): R(OWNER, "write", ok=(201,), req=lambda o: {"json": {}}),
    ("DELETE", f"{V1}/albums/{{album_id}}/links/{{link_id}}"): R(OWNER, "write", ok=(204,)),
    # a public album link: anyone holding the (valid, unexpired, unrevoked) token, no credentials needed
    ("GET", "/s/{token}"): R(PUBLIC, ids={"token": "link_token"}),
    ("POST", "/s/{token}/unlock"): R(PUBLIC, ok=(204,), ids={"token": "link_token"},
                                     req=lambda o: {"json": {"password": ""}}),
    ("GET", "/s/{token}/media/{media_id}/{what}"): R(PUBLIC, ids={"token": "link_token", "what": "link_file"}),
    # people and faces
    ("GET", f"{V1}/people"): R(AUTHENTICATED, "read"),
    ("GET", f"{V1}/people/{{person_id}}"): R(OWNER, "read"),
    ("PATCH", f"{V1}/people/{{person_id}}"): R(OWNER, "write", req=lambda o: {"json": {"name": "renamed"}}),
    ("POST", f"{V1}/people/{{person_id}}/merge"): R(OWNER, "write",
                                                     req=lambda o: {"json": {"source_ids": [o["person2_id"]]}}),
    ("GET", f"{V1}/people/{{person_id}}/faces"): R(OWNER, "read"),
    ("POST", f"{V1}/people/merges/{{merge_id}}/undo"): R(OWNER, "write"),
    ("PUT", f"{V1}/faces/{{face_id}}/person"): R(OWNER, "write", req=lambda o: {"json": {"person_id": o["person2_id"]}}),
    ("POST", f"{V1}/faces/{{face_id}}/move-out"): R(OWNER, "write"),
    ("GET", f"{V1}/faces/{{face_id}}/similar"): R(OWNER, "read"),
    ("GET", f"{V1}/faces/{{face_id}}/crop"): R(OWNER, "read"),
    # a photo without a face: refused with 400 once the caller is let through (the face model is not needed)
    ("POST", f"{V1}/faces/similar"): R(AUTHENTICATED, "write", ok=(400,),
                                       req=lambda o: {"content": b"not a photo", "headers": {"Content-Type": "image/jpeg"}}),
    # stats and jobs
    ("GET", f"{V1}/stats"): R(AUTHENTICATED, "read"),
    ("GET", f"{V1}/stats/timeline"): R(AUTHENTICATED, "read"),
    ("GET", f"{V1}/jobs"): R(AUTHENTICATED, "read"),
    ("GET", f"{V1}/jobs/failed"): R(AUTHENTICATED, "read"),
    # near-duplicates (issue 21): the group id is the owner's (a pair of the owner's items)
    ("GET", f"{V1}/duplicates"): R(AUTHENTICATED, "read"),
    ("POST", f"{V1}/duplicates/resolve-all"): R(AUTHENTICATED, "write"),
    ("POST", f"{V1}/duplicates/{{group_id}}/resolve"): R(OWNER, "write", ids={"group_id": "dup_group_id"}),
    ("POST", f"{V1}/duplicates/{{group_id}}/dismiss"): R(OWNER, "write", ids={"group_id": "dup_group_id"}),
    ("GET", f"{V1}/media/{{media_id}}/jobs"): R(OWNER, "read"),
    ("POST", f"{V1}/jobs/retry"): R(OWNER, "write", req=lambda o: {"json": {"media_id": o["media_id"]}}),
    ("POST", f"{V1}/jobs/reanalyse"): R(OWNER, "write", req=lambda o: {"json": {"media_ids": [o["media_id"]],
                                                                                 "kinds": ["ocr"]}}),
    # the owner's media id in the body: the function is not served by this test, so an allowed call ends at the
    # gateway's 502 (or the function's own answer when one happens to be running)
    ("POST", f"{V1}/functions/{{name}}/invoke"): R(OWNER, "write", ok=(200, 502, 503, 504), ids={"name": "function"},
                                                   req=lambda o: {"json": {"media_id": o["media_id"]}}),
    # pages (a page shows what the API's GET shows, so it needs what that GET needs)
    ("GET", "/login"): R(PUBLIC),
    ("GET", "/vendor/{name:path}"): R(PUBLIC, ids={"name": "vendor_file"}),
    ("GET", "/"): R(AUTHENTICATED, "read"),
    ("GET", "/upload"): R(AUTHENTICATED, "read"),
    ("GET", "/search"): R(AUTHENTICATED, "read"),
    ("GET", "/map"): R(AUTHENTICATED, "read"),
    ("GET", "/media/{media_id}"): R(OWNER_OR_RECIPIENT_READ, "read"),
    ("GET", "/albums"): R(AUTHENTICATED, "read"),
    ("GET", "/albums/{album_id}"): R(OWNER_OR_RECIPIENT_READ, "read"),
    ("GET", "/people"): R(AUTHENTICATED, "read"),
    ("GET", "/people/{person_id}"): R(OWNER, "read"),
    ("GET", "/stats"): R(AUTHENTICATED, "read"),
    ("GET", "/jobs"): R(AUTHENTICATED, "read"),
    ("GET", "/tokens"): R(AUTHENTICATED, "read", ok=(303,)),  # to /account, where tokens are managed now
    ("GET", "/account"): R(AUTHENTICATED, "read"),
    ("GET", "/trash"): R(AUTHENTICATED, "read"),
    ("GET", "/duplicates"): R(AUTHENTICATED, "read"),
    ("GET", "/admin/users"): R(ADMIN, "admin"),
}

# (method, path, caller) -> the finding that makes today's answer wrong; the fix is another change in progress.
# Empty now: pages need 'read' (472dda9) and invoke checks ownership (b62f7a3), so a regression there fails.
KNOWN_WRONG: dict[tuple[str, str, str], str] = {}

# ---------------------------------------------------------------- callers
OWNERS = ("owner", "owner_session", "read", "write", "upload")  # credentials of the owner
DEAD = ("anonymous", "revoked", "expired", "logged_out")
CALLERS = ("owner", "owner_session", "other", "recipient", "read", "write", "upload", "admin", *DEAD)
ALL_USER_SCOPES = frozenset({"read", "write", "upload"})
SCOPES = {"owner": ALL_USER_SCOPES, "owner_session": ALL_USER_SCOPES, "other": ALL_USER_SCOPES,
          "recipient": ALL_USER_SCOPES, "admin": ALL_USER_SCOPES | {"admin"},
          "read": frozenset({"read"}), "write": frozenset({"write"}), "upload": frozenset({"upload"})}


def expected(rule: Rule, caller: str) -> frozenset[int]:
    """The statuses `caller` must get from a route with `rule` (asking for the owner's ids)."""
    if rule.access == PUBLIC:
        return rule.ok
    if rule.access == WEBHOOK or caller in DEAD:
        return frozenset({401})
    if rule.scope not in SCOPES[caller]:
        return frozenset({403})
    if rule.access in (AUTHENTICATED, ADMIN, OWN_ITEMS):
        return rule.ok
    if caller in OWNERS or (caller == "recipient" and rule.access == OWNER_OR_RECIPIENT_READ):
        return rule.ok
    return frozenset({404})


# ---------------------------------------------------------------- the world
def _owner_objects(owner: dict, recipient: dict, third: dict, *, with_files: bool) -> dict:
    """One set of the owner's objects: a media item (in an album shared with the recipient, with a thumbnail,
    preview, a face with a crop in a person, a comment and a failed job), a trashed item, a second person and a
    token.  with_files: also store the original, thumbnails and crop in S3 (only reads need them)."""
    from pva.services import auth
    from pva.config import get_settings
    from pva.services import albums
    from pva.infra.storage import get_storage

    uid = owner["id"]
    tag = f"{SECRET}-{secrets.token_hex(3)}"
    m = insert_media(uid, filename=f"{tag}.jpg", original_path=f"{tag}/{tag}.jpg", camera_make=tag,
                     thumb_key=f"t/{uid}/{tag}-thumb.jpg", preview_key=f"t/{uid}/{tag}-preview.jpg")
    trashed = insert_media(uid, trashed_at=datetime.now(timezone.utc), filename=f"{tag}-trashed.jpg")
    person = add_person(uid, f"{tag}-person")
    person2 = add_person(uid, f"{tag}-person2")
    crop = f"faces/{uid}/{tag}.jpg"
    face = add_face(m["id"], uid, vec(7), person_id=person["id"], crop_key=crop)
    add_face(m["id"], uid, vec(8), person_id=person2["id"])  # keeps person2 alive (and a neighbour for similar)
    merged = add_person(uid, f"{tag}-merged")  # merged into person: a merge to undo
    add_face(m["id"], uid, vec(9), person_id=merged["id"])
    from pva.services import people as people_service

    merge_id = people_service.merge_people(uid, person["id"], [merged["id"]])["merge_id"]
    comment = add_comment(m["id"], uid, f"{tag}-comment")
    add_job(m["id"], "detect", "failed", f"{tag}-error")
    album = albums.create(uid, f"{tag}-album")
    albums.add_media(album["id"], uid, [m["id"]])
    albums.share(album["id"], uid, recipient["id"])
    link = albums.create_link(album["id"], uid)
    _tok, tokrow = auth.create_token(uid, ["read"], name=f"{tag}-token")
    if with_files:
        s, st = get_settings(), get_storage()
        st.put(s.bucket_originals, m["storage_key"], f"original {tag}".encode(), content_type="image/jpeg")
        st.put(s.bucket_thumbs, m["thumb_key"], b"thumb", content_type="image/jpeg")
        st.put(s.bucket_thumbs, m["preview_key"], b"preview", content_type="image/jpeg")
        st.put(s.bucket_thumbs, crop, b"crop", content_type="image/jpeg")
    _motion_file(m, with_files)  # a live photo's clip (issue 22)
    dup_group = _duplicate_pair(m)
    return {"media_id": str(m["id"]), "trashed_id": str(trashed["id"]), "album_id": str(album["id"]),
            "comment_id": str(comment["id"]), "person_id": str(person["id"]), "person2_id": str(person2["id"]),
            "face_id": face, "merge_id": merge_id, "token_id": str(tokrow["id"]), "recipient_id": str(recipient["id"]),
            "sha512": bytes(m["sha512"]).hex(), "username": owner["username"], "password": owner["password"],
            "third_username": third["username"], "function": "ocr", "vendor_file": "leaflet/leaflet.js",
            "link_id": str(link["id"]), "link_token": link["token"], "link_file": "thumbnail", "role": "motion",
            "dup_group_id": dup_group}


def _duplicate_pair(m: dict) -> str:
    """A near-duplicate of the item (smaller, so "keep the best" keeps the item): their group's id (issue 21)."""
    from pva.infra import db

    copy = insert_media(m["owner_id"], size=1, filename=f"copy-of-{m['filename']}")
    a, b = sorted((str(m["id"]), str(copy["id"])))
    db.execute("insert into media_near_duplicates(owner_id, a, b, distance) values (%s, %s, %s, 2)",
               (m["owner_id"], a, b))
    return a


def _motion_file(m: dict, with_files: bool) -> None:
    """The item's 'motion' companion file (GET /media/{id}/files/motion), its object only with_files."""
    from pva.config import get_settings
    from pva.infra import db
    from pva.infra.storage import get_storage

    key = f"{m['storage_key']}.MOV"
    db.execute("""insert into media_files(media_id, owner_id, role, storage_key, sha512, size, format, mime, filename)
                  values (%s, %s, 'motion', %s, %s, 5, 'mov', 'video/quicktime', 'clip.MOV')""",
               (m["id"], m["owner_id"], key, secrets.token_bytes(64)))
    if with_files:
        get_storage().put(get_settings().bucket_originals, key, b"clip!", content_type="video/quicktime")


class World:
    def __init__(self, app):
        from pva.infra import db
        from pva.services import auth

        self.app = app
        self.owner, self.other, self.recipient = new_user(), new_user(), new_user()
        self.admin = new_user(admin=True)
        self.objects = _owner_objects(self.owner, self.recipient, self.admin, with_files=True)
        self.headers: dict[str, dict] = {"anonymous": {}}
        for name, user, scopes in (("owner", self.owner, ALL_USER_SCOPES), ("other", self.other, ALL_USER_SCOPES),
                                   ("recipient", self.recipient, ALL_USER_SCOPES),
                                   ("admin", self.admin, SCOPES["admin"]), ("read", self.owner, {"read"}),
                                   ("write", self.owner, {"write"}), ("upload", self.owner, {"upload"})):
            self.headers[name] = self._bearer(user, scopes)
        self.headers["owner_session"] = self._session(self.owner)
        revoked = self._bearer(self.owner, ALL_USER_SCOPES)
        token = revoked["Authorization"].removeprefix("Bearer ")
        db.execute("update api_tokens set revoked_at = now() where token_hash = %s", (auth.token_hash(token),))
        self.headers["revoked"] = revoked
        expired = self._bearer(self.owner, ALL_USER_SCOPES)
        token = expired["Authorization"].removeprefix("Bearer ")
        db.execute("update api_tokens set expires_at = now() - interval '1 minute' where token_hash = %s",
                   (auth.token_hash(token),))
        self.headers["expired"] = expired
        logged_out = self._session(self.owner)
        auth.revoke_session(logged_out["Cookie"].split("=", 1)[1])
        self.headers["logged_out"] = logged_out
        from fastapi.testclient import TestClient

        self.client = TestClient(app, raise_server_exceptions=False)

    @staticmethod
    def _bearer(user: dict, scopes) -> dict:
        from pva.services import auth

        token, _ = auth.create_token(user["id"], sorted(scopes), name="matrix")
        return {"Authorization": f"Bearer {token}"}

    @staticmethod
    def _session(user: dict) -> dict:
        from pva.services import auth

        token, csrf, _ = auth.create_session(user)
        return {"Cookie": f"pva_session={token}", "X-CSRF-Token": csrf}

    def fresh_headers(self, caller: str) -> dict:
        """A new credential of the same kind as `caller`'s (for a call that ends it)."""
        if caller in DEAD:
            return self.headers[caller]
        if caller == "owner_session":
            return self._session(self.owner)
        user = {"other": self.other, "recipient": self.recipient, "admin": self.admin}.get(caller, self.owner)
        return self._bearer(user, SCOPES[caller])

    def call(self, method: str, path: str, rule: Rule, caller: str, objects: dict | None = None):
        objs = objects or self.objects
        values = {p: objs[rule.ids.get(p, p)] for p in re.findall(r"{(\w+)(?::\w+)?}", path)}
        url = re.sub(r"{(\w+)(?::\w+)?}", lambda mt: str(values[mt.group(1)]), path)
        kw = rule.req(objs) if rule.req else {}
        headers = {**(self.fresh_headers(caller) if rule.fresh_credential else self.headers[caller]),
                   **kw.pop("headers", {})}
        self.client.cookies.clear()  # a login earlier in the matrix must not make later callers someone
        return self.client.request(method, url, headers=headers, follow_redirects=False, **kw)

    def new_objects(self) -> dict:
        return _owner_objects(self.owner, self.recipient, self.admin, with_files=False)


def make_app():
    from gateway.app import create_app
    from gateway.routers import web

    return web.install(create_app())


def app_routes(app) -> list[tuple[str, str]]:
    from gateway.openapi import iter_routes

    return sorted({(m, p) for p, methods, _ in iter_routes(app) for m in methods})


@pytest.fixture(scope="session")
def world(services) -> World:
    return World(make_app())


# ---------------------------------------------------------------- the tests
def test_every_route_has_a_rule():
    missing = [f"{m} {p}" for m, p in app_routes(make_app()) if (m, p) not in RULES]
    assert not missing, ("routes without an authorization rule: add each to RULES in tests/test_authz_matrix.py "
                         f"with who may call it (public, any-authenticated, owner-only, ...): {missing}")
    stale = [f"{m} {p}" for m, p in RULES if (m, p) not in set(app_routes(make_app()))]
    assert not stale, f"RULES names routes the app no longer has (remove them): {stale}"


OBSERVED: dict[tuple[str, str], set[int]] = {}  # for test_openapi_fuzz: the documented statuses cover these


@pytest.mark.parametrize("method,path", sorted(RULES), ids=[f"{m} {p}" for m, p in sorted(RULES)])
def test_route_answers_each_caller_as_its_rule_says(world, method, path):
    rule = RULES[(method, path)]
    wrong, known = [], []
    # the denied callers first, all on the same objects: none of them may change anything
    order = sorted(CALLERS, key=lambda c: expected(rule, c) == rule.ok)
    for caller in order:
        want = expected(rule, caller)
        allowed = want == rule.ok
        # an allowed write gets objects of its own, so the next caller (and route) still finds the world intact
        objs = world.new_objects() if allowed and method not in SAFE and (
            rule.access == OWNER or (rule.access == OWN_ITEMS and caller in OWNERS)) else None
        r = world.call(method, path, rule, caller, objs)
        OBSERVED.setdefault((method, path), set()).add(r.status_code)
        if rule.access == OWN_ITEMS and caller not in OWNERS and r.status_code == 200 and r.json().get("done"):
            wrong.append(f"{caller}: acted on the owner's items ({r.text[:150]!r})")
            continue
        if r.status_code in want:
            if not allowed and SECRET in r.text:
                wrong.append(f"{caller}: {r.status_code} but the body shows the owner's data")
            continue
        line = f"{caller}: {r.status_code}, expected {sorted(want)} ({r.text[:150]!r})"
        note = KNOWN_WRONG.get((method, path, caller))
        (known if note else wrong).append(f"{line} [{note}]" if note else line)
    assert not wrong, f"{method} {path}:\n" + "\n".join(wrong)
    if known:
        pytest.xfail("known, being fixed: " + "; ".join(known))


def test_denied_callers_changed_nothing(world):
    """After the whole matrix, the shared objects are as they were built: every write there was denied."""
    test_every_route_has_a_rule()
    from pva.infra import db

    o = world.objects
    m = db.query_one("select trashed_at, gps_override_lat from media where id = %s", (o["media_id"],))
    assert m["trashed_at"] is None and m["gps_override_lat"] is None
    assert db.query_one("select body from comments where id = %s", (o["comment_id"],))["body"].startswith(SECRET)
    assert db.query_one("select name from albums where id = %s", (o["album_id"],))["name"].startswith(SECRET)
    assert db.query_one("select name from people where id = %s", (o["person_id"],))["name"].startswith(SECRET)
    assert db.query_one("select revoked_at from api_tokens where id = %s", (o["token_id"],))["revoked_at"] is None
    assert db.query_one("select count(*) as n from album_shares where album_id = %s", (o["album_id"],))["n"] == 1
    assert db.query_one("select status from analysis where media_id = %s and kind = 'detect'",
                        (o["media_id"],))["status"] == "failed"
