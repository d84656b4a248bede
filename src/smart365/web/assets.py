"""Fixed-path pages and files served from the package, never a CDN: the site icon and the API docs.

``/docs`` is FastAPI's Swagger UI page pointed at the copy vendored in ``static/vendor`` (the default loads
it from a CDN, which a factory network without internet cannot reach), with its inline start-up script
given this request's CSP nonce. Swagger's OAuth2 redirect page is not served: the API's only flow is the
password flow, which posts to the token URL and never redirects.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import FileResponse, HTMLResponse

from smart365.core.i18n import gettext
from smart365.web.security import csp_nonce

STATIC_DIR = Path(__file__).parent / "static"
VENDOR = "/static/vendor"

pages = APIRouter(include_in_schema=False)


@pages.get("/favicon.ico")
def favicon() -> FileResponse:
    """The icon browsers and tools ask for at the root (pages name ``/static/favicon.svg``)."""
    return FileResponse(STATIC_DIR / "favicon.ico", media_type="image/x-icon")


@pages.get("/docs")
def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI for the API, from the vendored files, its start-up script admitted by the nonce."""
    page = get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{gettext('API documentation')} · Smart365",
        swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
        swagger_ui_parameters={"validatorUrl": None},  # the default badge is an image from swagger.io
    )
    html = bytes(page.body).decode().replace("<script>", f'<script nonce="{csp_nonce(request)}">', 1)
    return HTMLResponse(html)
