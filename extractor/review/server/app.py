"""The review app: the queue and letter pages (htmx, keyboard-first) and the JSON API, over one store.

Every request needs the token: ``?token=`` on the first page (it is then a cookie, and the URL is
cleaned), the cookie after that, or ``Authorization: Bearer TOKEN`` for the API. A state-changing
request with the cookie must also carry the page's CSRF token in ``X-CSRF-Token`` (htmx sends it
from the page), and a cross-origin one is refused. A server bound to loopback answers only requests
addressed to a loopback name (``Host``), so a page that rebinds its own name to 127.0.0.1 gets
nothing; a request body over ``MAX_BODY`` bytes is refused before it is read. Letter text is data: Jinja2 autoescapes every
page, the text is escaped by ``highlight.mark_text``, and the Content-Security-Policy lets only the
app's own scripts run.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Body, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader
from pydantic import BaseModel, Field
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from ...models import Item, Record
from ..highlight import fields_with_spans
from ..site import letter_text
from .store import Conflict, Invalid, NotFound, ReviewStore, Unreadable, flags_of

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
_STATIC = {"htmx.min.js": ("server", "text/javascript"), "server.js": ("server", "text/javascript"),
           "server.css": ("server", "text/css"), "review.css": ("review", "text/css")}
PAGE = 50
MAX_BODY = 64 * 1024  # a decision's JSON or form: far more than any field's value or a note needs
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


class CorrectionIn(BaseModel):
    """A decision on one field: ``value`` for ``correct``; ``version`` is the field's version the
    reviewer saw (0: never corrected), and a stale one is refused with 409 and the current values."""

    field: str
    value: Any = None
    action: str = Field(default="correct", description="accept, parser, model or correct")
    version: int | None = Field(default=None, description="The field's version as loaded; omit to skip the check.")
    note: str | None = None


class AcceptIn(BaseModel):
    field: str
    version: int | None = None
    note: str | None = None


def create_app(store: ReviewStore, token: str, *, hosts: frozenset[str] | None = None) -> FastAPI:
    """The app over ``store``; every request must carry ``token`` and, if ``hosts`` is given, be addressed
    (``Host``) to one of those names."""
    app = FastAPI(title="imr-extract review", docs_url=None, redoc_url=None,
                  description="Resolve flagged values; corrections are appended to the store's `corrections` table.")
    csrf = hmac.new(token.encode(), b"csrf", hashlib.sha256).hexdigest()
    env = Environment(loader=PackageLoader("extractor.review.server", "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(csrf=csrf, store=store)

    def page(template: str, **context: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(template).render(**context))

    app.add_middleware(_Guard, token=token, csrf=csrf, hosts=hosts)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def queue_page(field: str | None = None, reason: str | None = None, category: str | None = None,
                   decision: str | None = None, status: str = "open", max_confidence: float | None = None,
                   page_number: Annotated[int, Query(alias="page", ge=1)] = 1) -> Response:
        filters: dict[str, Any] = {"field": field or None, "reason": reason or None, "category": category or None,
                                   "decision": decision or None, "status": status, "max_confidence": max_confidence}
        entries = store.filtered_queue(field=field or None, reason=reason or None, category=category or None,
                                       decision=decision or None, status=status, max_confidence=max_confidence)
        shown = entries[(page_number - 1) * PAGE: page_number * PAGE]
        kept = {k: v for k, v in filters.items() if v is not None}
        return page("queue.html.j2", entries=shown, total=len(entries), page=page_number,
                    pages=max(1, -(-len(entries) // PAGE)), filters=filters, choices=store.choices,
                    previous=urlencode(kept | {"page": page_number - 1}), next=urlencode(kept | {"page": page_number + 1}))

    @app.get("/letters/{sha}", response_class=HTMLResponse, include_in_schema=False)
    def letter_page(sha: str) -> Response:
        letter = store.letter(sha)
        text = letter_text(letter.record, fields_with_spans(letter.record))
        return page("letter.html.j2", record=letter.record, sha=sha, text=text,
                    rows=_rows(letter.record, sha, letter.versions), history=letter.history)

    @app.post("/ui/decide", response_class=HTMLResponse, include_in_schema=False)
    def decide(target: Annotated[str, Form()], field: Annotated[str, Form()], action: Annotated[str, Form()],
               version: Annotated[int, Form()], value: Annotated[str, Form()] = "") -> Response:
        def flagged_row() -> dict[str, Any]:
            sha = target.split("-")[0]
            letter = store.letter(sha)
            row = next((r for r in _rows(letter.record, sha, letter.versions)
                        if r["target"] == target and r["field"] == field), None)
            if row is None:
                raise NotFound(f"{target} has no flagged {field}")
            return row

        flagged_row()  # the page decides flagged fields only: anything else is refused before it is stored
        status, message = 200, None
        try:
            store.correct(target, field, action=action, value=_typed(field, value), version=version)
        except Conflict:
            status, message = 409, "Someone else decided this field first: its current value is shown. Decide again."
        except Invalid as e:
            status, message = 422, str(e)
        return HTMLResponse(env.get_template("row.html.j2").render(row=flagged_row(), message=message), status_code=status)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in _STATIC:
            return Response(status_code=404)
        package, kind = _STATIC[name]
        folder = files("extractor.review.server") if package == "server" else files("extractor.review")
        return Response((folder / "static" / name).read_bytes(), media_type=kind)

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> Response:
        return page("docs.html.j2", api=app.openapi())

    @app.get("/api/items", summary="Items, with their fields, flags, confidences and corrections applied")
    def list_items(needs_review: bool | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                   offset: Annotated[int, Query(ge=0, le=2**62)] = 0) -> dict[str, Any]:
        items, total = store.items(needs_review=needs_review, limit=limit, offset=offset)
        return {"total": total, "limit": limit, "offset": offset, "items": items}

    @app.get("/api/items/{item_id}", summary="One item (id: <letter sha256>-<item index>)")
    def get_item(item_id: str) -> dict[str, Any]:
        return store.item(item_id)

    @app.post("/api/items/{item_id}/corrections", summary="Correct, accept, or take the parser's or model's value")
    def correct_item(item_id: str, body: CorrectionIn) -> dict[str, Any]:
        return _correct(store, item_id, body)

    @app.post("/api/items/{item_id}/accept", summary="Accept a flagged field's value as it is")
    def accept_item(item_id: str, body: Annotated[AcceptIn, Body()]) -> dict[str, Any]:
        return _correct(store, item_id, CorrectionIn(field=body.field, action="accept", version=body.version, note=body.note))

    @app.get("/api/letters/{sha}", summary="A letter's fields (id: its sha256) and its items' ids")
    def get_letter(sha: str) -> dict[str, Any]:
        return store.letter_json(sha)

    @app.post("/api/letters/{sha}/corrections", summary="Correct or accept a letter-level field")
    def correct_letter(sha: str, body: CorrectionIn) -> dict[str, Any]:
        if "-" in sha:
            raise NotFound(f"no letter {sha}")
        return _correct(store, sha, body)

    @app.post("/api/letters/{sha}/accept", summary="Accept a letter-level flagged field as it is")
    def accept_letter(sha: str, body: AcceptIn) -> dict[str, Any]:
        return correct_letter(sha, CorrectionIn(field=body.field, action="accept", version=body.version, note=body.note))

    @app.get("/api/letters/{sha}/corrections", summary="The audit trail of a letter: every correction, oldest first")
    def letter_history(sha: str) -> list[dict[str, Any]]:
        return store.letter(sha).history

    @app.exception_handler(NotFound)
    def not_found(request: Request, e: NotFound) -> Response:
        return JSONResponse({"detail": str(e)}, status_code=404)

    @app.exception_handler(Invalid)
    def invalid(request: Request, e: Invalid) -> Response:
        return JSONResponse({"detail": str(e)}, status_code=422)

    @app.exception_handler(Unreadable)
    def unreadable(request: Request, e: Unreadable) -> Response:
        return JSONResponse({"detail": str(e)}, status_code=500)

    @app.exception_handler(Conflict)
    def conflict(request: Request, e: Conflict) -> Response:
        return JSONResponse({"detail": str(e), "current": e.current}, status_code=409)

    return app


def _correct(store: ReviewStore, target: str, body: CorrectionIn) -> dict[str, Any]:
    return store.correct(target, body.field, action=body.action, value=body.value, version=body.version, note=body.note)


_LISTS = {"reasons", "reviewer_licensure"}


def _typed(field: str, text: str) -> Any:
    """A value typed in the page as the model will read it: lists comma-separated, blank is null."""
    text = text.strip()
    if field in _LISTS:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text or None


def _rows(record: Record, sha: str, versions: dict[int | None, dict[str, int]]) -> list[dict[str, Any]]:
    """A row per flagged field of the letter and its items, in letter order, for the decision panel."""
    rows = []
    owners: list[tuple[int | None, Record | Item]] = [(None, record), *enumerate(record.items)]
    for index, owner in owners:
        target = sha if index is None else f"{sha}-{index}"
        data = owner.model_dump(mode="json")
        decided = versions.get(index, {})
        flags = flags_of(data)
        for name in dict.fromkeys(f["field"] for f in flags):
            mine = [f for f in flags if f["field"] == name]
            offered = {source: value for f in mine for source, value in (f.get("values") or {}).items()
                       if source in ("parser", "model")}
            value = data.get(name)
            rows.append({"target": target, "item": index, "field": name, "value": value,
                         "text": ", ".join(map(str, value)) if isinstance(value, list) else "" if value is None else str(value),
                         "messages": [f["message"] for f in mine], "codes": sorted({f["code"] for f in mine}),
                         "offered": offered, "version": decided.get(name, 0), "decided": name in decided,
                         "confidence": owner.confidence.get(name)})
    return rows


class _Guard(BaseHTTPMiddleware):
    """The token on every request, CSRF on every state change, and the security headers on every answer."""

    def __init__(self, app: Any, token: str, csrf: str, hosts: frozenset[str] | None) -> None:
        super().__init__(app)
        self.token, self.csrf, self.hosts = token, csrf, hosts

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        cookie = f"imr_review_{request.url.port or 80}"
        bearer = request.headers.get("authorization", "")
        by_bearer = bearer.startswith("Bearer ") and secrets.compare_digest(bearer[7:].encode(), self.token.encode())
        by_query = secrets.compare_digest(request.query_params.get("token", "").encode(), self.token.encode())
        by_cookie = secrets.compare_digest(request.cookies.get(cookie, "").encode(), self.token.encode())
        length = request.headers.get("content-length", "")
        if self.hosts is not None and request.url.hostname not in self.hosts:
            response: Response = JSONResponse({"detail": "this server answers only requests addressed to "
                                               f"{', '.join(sorted(self.hosts))}"}, status_code=400)
        elif request.method not in ("GET", "HEAD", "OPTIONS") and not (length.isdigit() and int(length) <= MAX_BODY):
            response = JSONResponse({"detail": f"a request body needs a Content-Length of at most {MAX_BODY} bytes"},
                                    status_code=413)
        elif not (by_bearer or by_query or by_cookie):
            response = JSONResponse({"detail": "a token is needed: open the URL the server printed, "
                                               "or send Authorization: Bearer TOKEN"}, status_code=401)
        elif request.method not in ("GET", "HEAD", "OPTIONS") and not by_bearer and not (
                secrets.compare_digest(request.headers.get("x-csrf-token", "").encode(), self.csrf.encode())
                and _same_origin(request)):
            response = JSONResponse({"detail": "a change from the page needs its CSRF token and the same origin"},
                                    status_code=403)
        elif by_query and request.method == "GET" and not request.url.path.startswith("/api/"):
            # A page opened with the token (the printed URL): the cookie is set, the token leaves the address bar.
            kept = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
            response = RedirectResponse(request.url.path + (f"?{kept}" if kept else ""), status_code=303)
            response.set_cookie(cookie, self.token, httponly=True, samesite="strict", path="/")
        else:
            response = await call_next(request)
            if by_query:
                response.set_cookie(cookie, self.token, httponly=True, samesite="strict", path="/")
        response.headers.update({"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
                                 "X-Frame-Options": "DENY"})
        return response


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.headers.get('host', '')}"
