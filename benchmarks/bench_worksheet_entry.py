"""Clicks and keystrokes to enter one 24-row bilateral insufficiency exam (issue 16).

    .venv/bin/python benchmarks/bench_worksheet_entry.py [--old REV]

Runs the Playwright scenario of tests/worksheet_entry.py in Debian's Chromium twice: the
worksheet of the older revision REV (default: the last commit before issue 16's worksheet)
served from its `src/` exported by `git archive`, and today's worksheet; both enter the same
exam (`EXPECTED`) and the counts are printed. The older page has no read hook: a full-page
screenshot of each run goes to the temporary directory (bench-worksheet-old/new.png) to look
at. Needs git and the repository.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from playwright.sync_api import sync_playwright  # noqa: E402

from test_web_browser import CHROMIUM, CHROMIUM_ARGS, STEP_TIMEOUT_MS, login  # noqa: E402
from web_server import start_server  # noqa: E402
from worksheet_entry import EXPECTED, Counter, enter_new, enter_old  # noqa: E402

#: The commit before the worksheet of issue 16 (the worksheet the issue measured).
BEFORE_ISSUE_16 = "918684b"
PASSWORD = "bench-correct-horse-battery"
CREATE_USER = (
    "import sys\n"
    "from venalab.store import create_user, make_engine, session_factory, transaction\n"
    "engine = make_engine(sys.argv[1])\n"
    "with transaction(session_factory(engine)) as s:\n"
    "    create_user(s, 'sono', 'sonographer', password=sys.argv[2])\n"
)
SERVE = "import sys; from venalab.cli import app; sys.argv[0] = 'venalab'; app()"


def run(src: Path | None, old: bool) -> Counter:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)  # ahead of the installed (editable) venalab
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(
            Path(tmp),
            env=env,
            args=("--workers", "1"),
            command=(sys.executable, "-c", SERVE, "serve"),
        )
        try:
            db = f"sqlite:///{Path(tmp) / 'var' / 'venalab.db'}"
            subprocess.run([sys.executable, "-c", CREATE_USER, db, PASSWORD], env=env, check=True)
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
                )
                ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
                ctx.set_default_timeout(STEP_TIMEOUT_MS)
                page = ctx.new_page()
                login(page, server.base, "sono", PASSWORD)
                page.wait_for_url(f"{server.base}/")
                try:
                    counter = (enter_old if old else enter_new)(page, server.base)
                finally:
                    name = f"bench-worksheet-{'old' if old else 'new'}.png"
                    page.screenshot(path=str(Path(tempfile.gettempdir()) / name), full_page=True)
                browser.close()
            return counter
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", default=BEFORE_ISSUE_16, help="revision of the older worksheet")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "old.tar"
        subprocess.run(
            ["git", "-C", str(ROOT), "archive", "-o", str(archive), ns.old, "src"], check=True
        )
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        before = run(Path(tmp) / "src", old=True)
    after = run(None, old=False)
    rows = sum(len(leg["segments"]) for leg in EXPECTED["legs"].values())
    print(f"worksheet entry, {rows}-row bilateral insufficiency exam (Chromium, Playwright)")
    print(f"  before ({ns.old}): {before.clicks} clicks, {before.keystrokes} keystrokes")
    print(f"  now:             {after.clicks} clicks, {after.keystrokes} keystrokes")


if __name__ == "__main__":
    main()
