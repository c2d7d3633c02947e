"""`venalab serve` with a pause before every commit that writes (test-only).

Used by tests/test_web_interrupted.py: every transaction that inserted rows (a save: version
and audit entry; not the bearer token's last-use stamp) prints PAUSE_MARKER and
sleeps `--pause` seconds just before its commit; the test kills the process there. The pause
lives in the writer sessions of this process only (a Session subclass given to the app's
state), so production code carries no test hook.

    python tests/paused_server.py --host 127.0.0.1 --port N --pause 60
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import uvicorn
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from venalab.store.db import database_url, writer
from venalab.web.app import bootstrap, create_app

PAUSE_MARKER = "venalab-test: paused before commit"
_WROTE = "paused_server_wrote"


class PausingSession(Session):
    pause_s = 60.0

    def commit(self) -> None:
        self.flush()
        if self.info.pop(_WROTE, False):
            sys.stderr.write(f"{PAUSE_MARKER}\n")
            sys.stderr.flush()
            time.sleep(self.pause_s)
        super().commit()


@event.listens_for(PausingSession, "before_flush")
def _wrote(session: Session, _context: Any, _instances: Any) -> None:
    if session.new:
        session.info[_WROTE] = True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pause", type=float, default=60.0)
    args = parser.parse_args()
    PausingSession.pause_s = args.pause

    url = database_url()
    for line in bootstrap(url, load_examples=False):
        print(line, flush=True)
    app = create_app(url)
    st = app.state.venalab
    st.writer_factory = sessionmaker(
        bind=writer(st.engine), class_=PausingSession, expire_on_commit=False
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
