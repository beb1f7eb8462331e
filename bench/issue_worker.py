"""One issuing process of the multi-process issuance figure (bench/domain.py): what one worker of
``trustsvc serve --workers N`` does with its request threads, without the HTTP around it.

``python -m bench.issue_worker THREADS START SECONDS [DEPARTMENT]``, with the bench service's home, PIN and
database in the environment: opens the service, issues a few licences to warm up, waits for the
wall-clock START (every process starts together), issues on THREADS threads for SECONDS and
prints ``{"issued": N, "late": bool}`` (late: the start-up ran past START, so the window is short).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

from trustsvc.config import load_config
from trustsvc.context import open_service

from .domain import DEPT, _issue


def main() -> None:
    threads, start, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    dept = sys.argv[4] if len(sys.argv) > 4 else DEPT
    env = dict(os.environ)
    svc = open_service(load_config(env), env)

    try:
        for _ in range(5):
            _issue(svc, dept)
        late = time.time() > start
        time.sleep(max(0.0, start - time.time()))
        stop = start + seconds
        counts = [0] * threads

        failed: list[BaseException] = []

        def worker(i: int) -> None:
            try:
                while True:
                    _issue(svc, dept)
                    if time.time() > stop:
                        return  # the one that ends past the window is not counted
                    counts[i] += 1
            except BaseException as exc:  # a figure from fewer threads would read as slowness
                failed.append(exc)

        pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        if failed:
            raise RuntimeError(f"{len(failed)} issuing thread(s) failed") from failed[0]
        print(json.dumps({"issued": sum(counts), "late": late}), flush=True)
    finally:
        svc.close()


if __name__ == "__main__":
    main()
