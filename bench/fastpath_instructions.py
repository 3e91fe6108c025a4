"""Instructions per request (valgrind callgrind) of the trivial endpoint, a cached fetch and a cached verify,
through the WSGI application in-process (no client, no server): a count the machine's load does not move.

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out .venv/bin/python bench/fastpath_instructions.py
    callgrind_annotate --inclusive=yes /tmp/cg.out | grep -E 'functools_reduce|starmap_next|filter_next'

Each row runs inside its own C function (functools.reduce, itertools.starmap, filter) so that function's
inclusive count divided by the requests is that row's instructions per request.
"""

from __future__ import annotations

import functools
import io
import itertools
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.argv = [sys.argv[0], os.environ.get("BENCH_DB", "ar_bench_10000"), "0"]
import fastpath_cpu  # noqa: E402  (same settings: production, Redis, log lines at INFO)

from config.wsgi import application  # noqa: E402

N = int(os.environ.get("BENCH_REQUESTS", "200"))


def environ(path: str) -> dict:
    return {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000", "HTTP_HOST": "127.0.0.1", "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http",
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_USER_AGENT": "wrk", "wsgi.errors": sys.stderr}


def call(path: str) -> int:
    result = application(environ(path), lambda status, headers, exc_info=None: None)
    size = sum(len(chunk) for chunk in result)
    result.close()
    return size


def main() -> None:
    samples = json.loads((fastpath_cpu.DATA / f"{fastpath_cpu.DB}.json").read_text())["sample"][:100]
    fetch = [f"/v1/actions/{n}/versions/{v}" for n, v in samples]
    verify = [f"/v1/actions/{n}/versions/{v}/verify" for n, v in samples]
    for p in ["/health/live", *fetch, *verify]:  # warm: connections, prepared statements, cached answers
        call(p)
    live = ["/health/live"] * N
    functools.reduce(lambda acc, p: acc + call(p), live, 0)
    list(itertools.starmap(call, ((fetch[i % len(fetch)],) for i in range(N))))
    list(filter(lambda p: call(p) < 0, (verify[i % len(verify)] for i in range(N))))
    print(f"{N} requests per row", file=sys.__stdout__)


if __name__ == "__main__":
    main()
