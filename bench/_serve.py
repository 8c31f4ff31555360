"""Serve another ASGI app (a floor, or the app wrapped with a floor beside it) exactly as ``commandpost serve`` runs
the service: the same uvicorn options (``web.cli.serve.server_options``), one worker, the same event loop and HTTP
parser (uvicorn's "auto": uvloop and httptools), so that a floor differs from the app in the app and nothing else.

    python -m bench._serve module:attribute|module:factory() PORT [LOG_LEVEL]
"""

from __future__ import annotations

import sys

import uvicorn

from core.settings import get_settings
from web.cli.serve import server_options


def main() -> None:
    spec, port = sys.argv[1], int(sys.argv[2])
    log_level = sys.argv[3] if len(sys.argv) > 3 else "warning"
    uvicorn.run(
        spec.removesuffix("()"),
        factory=spec.endswith("()"),
        host="127.0.0.1",
        port=port,
        workers=1,
        log_level=log_level,
        **server_options(get_settings(), log_level=log_level),
    )


if __name__ == "__main__":
    main()
