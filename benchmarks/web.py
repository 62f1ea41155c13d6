"""``bitloops serve`` at 5,000 checkpoints: each page's time, served over real HTTP.

The store is built as ``history.py`` builds it (real commits through ``git fast-import``,
a checkpoint per commit inserted directly with its index rows), at 5,000 commits, plus
one real recorded and promoted session of 2,000 events (prompts, reasoning, tool calls
with outputs). A :class:`bitloops.web._server.WebServer` runs in a thread; each page is
fetched with ``http.client`` (median of repeated runs, after a warm-up):

- the history's first, middle and last page, and filtered by agent and by branch;
- the 2,000-event checkpoint (its first page of 500 events, and the page of its last event);
- the history and blame of ``auth.py`` (100 checkpoints);
- a search.

Target: every page ≤ 300 ms. Run: ``python benchmarks/web.py``.
"""

from __future__ import annotations

import http.client
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import history
from _common import PAYLOAD, machine, median, scratch, table

import bitloops
from bitloops.web._server import WebServer

N = 5_000
EVENTS = 2_000
RUNS = 7


def add_long_session(path: Path) -> str:
    """Record and promote a session of :data:`EVENTS` events; its checkpoint id."""
    with bitloops.Repository.open(path) as repo:
        with repo.start_session(agent="claude-code", model="claude-opus-4") as s:
            for i in range(EVENTS // 4):
                s.prompt(f"Step {i}: make the retry loop handle 429 as well as 503")
                s.reasoning("The server rate-limits bursts; back off and add jitter. " * 5)
                s.tool_use("bash", PAYLOAD["input"], output=PAYLOAD["output"])
                s.response(f"Done with step {i}.")
        (path / "retry.py").write_text("RETRIES = 3\n")
        subprocess.run(("git", "add", "retry.py"), cwd=path, check=True)
        subprocess.run(("git", "commit", "-q", "-m", "retries"), cwd=path, check=True)
        cp = repo.promote()
        assert cp is not None
        return cp.checkpoint_id


def timed(fn: Callable[[], object], runs: int = RUNS) -> float:
    """Median seconds of ``fn``, after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return median(times)


def main() -> None:
    """Build the store, serve it, time every page, print the table."""
    history.N = N
    with scratch("bitloops-bench-web-") as root:
        start = time.perf_counter()
        path = history.build(root)
        long_id = add_long_session(path)
        print(f"{machine()}\nbuilt {N:,} checkpoints in {time.perf_counter() - start:.1f} s")
        repo = bitloops.Repository.open(path)
        server = WebServer(repo, "127.0.0.1", 0, None)
        server.RequestHandlerClass.log_message = lambda *args: None  # type: ignore[method-assign]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        last_event = repo.checkpoint(long_id).events[EVENTS - 1].event_id

        def get(target: str) -> Callable[[], object]:
            def run() -> object:
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
                conn.request("GET", target, headers={"Host": f"127.0.0.1:{server.port}"})
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
                assert resp.status == 200, (target, resp.status)
                return body

            return run

        pages = [
            ("history, page 1", "/"),
            ("history, page 50", "/?page=50"),
            ("history, last page (101)", "/?page=101"),
            ("history, agent=claude-code, page 20", "/?agent=claude-code&page=20"),
            ("history, branch=main, page 2", "/?branch=main&page=2"),
            (f"checkpoint, {EVENTS:,} events (page 1)", f"/checkpoint/{long_id}"),
            ("checkpoint, page of the last event", f"/checkpoint/{long_id}?at={last_event}"),
            ("file auth.py: history + blame", "/file?path=auth.py"),
            ("search 'jitter'", "/search?q=jitter"),
        ]
        rows = []
        for name, target in pages:
            size = len(get(target)())  # type: ignore[arg-type]
            rows.append((name, timed(get(target)), size))
        server.shutdown()
        server.server_close()
        repo.close()
    print(
        table(
            ("page", "ms", "KB", "target"),
            [(name, f"{t * 1000:.1f}", f"{size / 1024:.0f}", "≤ 300 ms") for name, t, size in rows],
        )
    )


if __name__ == "__main__":
    main()
