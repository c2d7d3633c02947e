"""`venalab serve` with a pause before every commit of an unsafe request (test-only).

Used by tests/test_web_interrupted.py: every POST/PUT/... writes inside its transaction,
prints PAUSE_MARKER and sleeps `--pause` seconds just before its commit; the test kills the
process there. The pause is a dependency override of `venalab.web.deps.db`, so production
code carries no test hook.

    python tests/paused_server.py --host 127.0.0.1 --port N --pause 60
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator

import uvicorn
from fastapi import Request
from sqlalchemy.orm import Session

from venalab.store.db import database_url
from venalab.web import deps
from venalab.web.app import bootstrap, create_app

PAUSE_MARKER = "venalab-test: paused before commit"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pause", type=float, default=60.0)
    args = parser.parse_args()

    def paused_db(request: Request) -> Iterator[Session]:
        s = deps.state(request).session_factory()
        try:
            yield s
            if request.method not in deps.SAFE_METHODS:
                s.flush()
                sys.stderr.write(f"{PAUSE_MARKER} ({request.method} {request.url.path})\n")
                sys.stderr.flush()
                time.sleep(args.pause)
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    url = database_url()
    for line in bootstrap(url, load_examples=False):
        print(line, flush=True)
    app = create_app(url)
    app.dependency_overrides[deps.db] = paused_db
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
