"""The app with the test probe routes, served by uvicorn exactly as ``commandpost serve`` serves the service (its
logging, its proxy handling): ``python -m tests.support.probe_server PORT``. For tests that read a real server's log."""

from __future__ import annotations

import sys

import uvicorn

from core.settings import get_settings
from tests.web import probe_routes
from web.app import create_app
from web.cli import server_options


def main(port: int) -> None:
    settings = get_settings()
    app = create_app(settings)
    app.include_router(probe_routes.router)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info", **server_options(settings))


if __name__ == "__main__":
    main(int(sys.argv[1]))
