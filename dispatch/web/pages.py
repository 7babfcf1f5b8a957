"""The HTML pages (coordinator map, management screens, team phone) and the static files under static/map."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, abort, redirect, send_from_directory
from flask.typing import ResponseReturnValue

from dispatch.settings import PROJECT_ROOT

STATIC_MAP = PROJECT_ROOT / "static" / "map"
#: Vendored third-party files never change under a given name: cache them for a day.
VENDOR_MAX_AGE_S = 86_400

bp = Blueprint("pages", __name__)


def _page(name: str) -> Response:
    response = send_from_directory(STATIC_MAP, name, max_age=0)
    # The security headers (CSP, nosniff, Referrer-Policy) come with every response:
    # dispatch.web.headers.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/")
def index() -> ResponseReturnValue:
    """Coordinators land on the map."""
    return redirect("/map/")


@bp.get("/map")
@bp.get("/phone")
@bp.get("/admin")
@bp.get("/week")
@bp.get("/patients")
@bp.get("/referrer")
@bp.get("/requests")
def no_slash() -> ResponseReturnValue:
    from flask import request

    return redirect(request.path + "/")


@bp.get("/map/")
def coordinator_map() -> ResponseReturnValue:
    """The coordinators' live map."""
    return _page("index.html")


@bp.get("/admin/")
def admin() -> ResponseReturnValue:
    """Management screens: teams and phones (coordinators), users (administrators)."""
    return _page("admin.html")


@bp.get("/week/")
def week() -> ResponseReturnValue:
    """The coordinators' week: staff by day, hours against contracts, absences and their impact."""
    return _page("week.html")


@bp.get("/patients/")
def patients() -> ResponseReturnValue:
    """Coordinators: the structure's patients, their records, care plans and suspensions."""
    return _page("patients.html")


@bp.get("/referrer/")
def referrer() -> ResponseReturnValue:
    """Referrers (GP, discharge nurse, DAC, pharmacist): their requests, a new request, the
    slots proposed and the booking."""
    return _page("referrer.html")


@bp.get("/requests/")
def requests_inbox() -> ResponseReturnValue:
    """Coordinators: the referrers' requests (accept, propose slots, decline) and the
    invitation of a referrer."""
    return _page("requests.html")


@bp.get("/phone/")
def phone() -> ResponseReturnValue:
    """The team phone page (pairing by code: /phone/?code=XXXX-XXXX)."""
    return _page("phone.html")


@bp.get("/pair")
@bp.get("/pair/")
def pair() -> ResponseReturnValue:
    """The pairing link of `dispatch device pair`, the API and the QR codes: the phone page
    pairs itself with the code (the code is passed on as it is, never logged here)."""
    from urllib.parse import urlencode

    from flask import request

    code = request.args.get("code", "")
    return redirect("/phone/" + (f"?{urlencode({'code': code})}" if code else ""))


@bp.get("/phone/sw.js")
def service_worker() -> Response:
    """The phone page's service worker, served inside its scope."""
    response = _page("sw.js")
    response.headers["Service-Worker-Allowed"] = "/phone/"
    response.mimetype = "text/javascript"
    return response


@bp.get("/phone/manifest.webmanifest")
def manifest() -> Response:
    """The web app manifest (installable phone page)."""
    response = _page("manifest.webmanifest")
    response.mimetype = "application/manifest+json"
    return response


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask every site for /favicon.ico: the phone page's icon (a PNG, which browsers
    take under that name too), cached for a day, rather than a 404 in every page's console."""
    response = send_from_directory(STATIC_MAP, "icon-192.png", max_age=VENDOR_MAX_AGE_S)
    response.mimetype = "image/png"
    return response


@bp.get("/static/map/<path:name>")
def static_map(name: str) -> Response:
    """Scripts, styles, icons and vendored libraries."""
    if name.endswith((".html",)):
        abort(404)
    max_age = VENDOR_MAX_AGE_S if name.startswith("vendor/") else 0
    response = send_from_directory(STATIC_MAP, name, max_age=max_age)
    if name.endswith((".js", ".mjs")):
        response.mimetype = "text/javascript"
    if not max_age:
        response.headers["Cache-Control"] = "no-cache"
    return response


def register(app: Flask, socketio: Any) -> None:
    """Add the page routes."""
    app.register_blueprint(bp)
