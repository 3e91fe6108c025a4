"""A live registry for the client, CLI, MCP and OpenAPI tests: gunicorn on its own PostgreSQL database.

One server per test session, however many test modules ask for it: the database
``ar_client_live_<pid>`` is created, migrated and seeded with the operators' own commands
(``manage.py trust_key add``, ``manage.py create_api_key``), and dropped at the end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from action_registry import crypto
from action_registry.client import RegistryClient
from action_registry.document import sign_document

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
SEED_KID = "live-seed-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the registry server exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port}")


def make_doc(name: str, version: str = "1.0.0", description: str | None = None) -> dict:
    return {
        "name": name,
        "version": version,
        "description": description or f"Move a file from one path to another ({name} {version}).",
        "input_schema": {"type": "object", "properties": {"src": {"type": "string"}, "dst": {"type": "string"}},
                         "required": ["src", "dst"]},
        "output_schema": {"type": "object", "properties": {"moved": {"type": "boolean"}}},
        "metadata": {"owner": "client-tests"},
    }


@dataclass
class LiveRegistry:
    url: str
    database_url: str
    api_key: str
    seed_key: crypto.PrivateKey
    workdir: Path
    fuzz_api_key: str = ""
    published: list[tuple[str, str]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """Environment for CLI / MCP subprocesses pointing at this registry."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))}
        env.update({"ACTION_REGISTRY_URL": self.url, "ACTION_REGISTRY_API_KEY": self.api_key,
                    # remembered log checkpoints live with this session, never in the user's home
                    "ACTION_REGISTRY_STATE_DIR": str(self.workdir / "state"), "PYTHONUNBUFFERED": "1"})
        return env

    def manage(self, *args: str) -> str:
        """Run ``manage.py`` against the live database, as an operator would."""
        return _manage(self.database_url, *args)

    def client(self, **kwargs) -> RegistryClient:
        return RegistryClient(self.url, self.api_key, **kwargs)

    def publish_seed(self, name: str, version: str = "1.0.0", description: str | None = None) -> dict:
        envelope = sign_document(make_doc(name, version, description), self.seed_key, SEED_KID)
        with self.client() as client:
            client.publish(envelope)
        self.published.append((name, version))
        return envelope


def _manage(database_url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def _admin_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        url = "postgresql://postgres@127.0.0.1:5432/postgres"
    return url


def _with_dbname(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


class _Server:
    def __init__(self) -> None:
        self.dbname = f"ar_client_live_{os.getpid()}"
        self.admin_url = _with_dbname(_admin_url(), "postgres")
        self.database_url = _with_dbname(_admin_url(), self.dbname)
        self.tmp = tempfile.TemporaryDirectory(prefix="ar-live-")
        self.proc: subprocess.Popen | None = None
        self.log = None

    def _sql(self, statement: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(statement)

    def start(self) -> LiveRegistry:
        workdir = Path(self.tmp.name)
        self._sql(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
        self._sql(f'CREATE DATABASE "{self.dbname}"')
        _manage(self.database_url, "migrate", "-v", "0")

        seed_key = crypto.generate_private_key(crypto.ED25519)
        pub = workdir / "seed.pub"
        pub.write_bytes(crypto.public_key_pem(seed_key))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "DATABASE_URL": self.database_url, "ACTION_REGISTRY_PUBLIC_URL": url}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        self.log = open(workdir / "server.log", "wb")  # closed in stop()
        self.proc = subprocess.Popen([str(BIN / "gunicorn"), "config.wsgi:application", "-b", f"127.0.0.1:{port}",
                                      "-w", "2", "--threads", "4", "--timeout", "60"],
                                     cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        with ThreadPoolExecutor(3) as pool:  # the operators' commands, while gunicorn boots
            token = pool.submit(_manage, self.database_url, "create_api_key", "--name", "live-tests",
                                "--namespace", "*", "--quiet")
            # For fuzzing: a key that may write only under a namespace no other test uses.
            fuzz_token = pool.submit(_manage, self.database_url, "create_api_key", "--name", "live-fuzz",
                                     "--namespace", "fuzz", "--quiet")
            trusted = pool.submit(_manage, self.database_url, "trust_key", "add", "--kid", SEED_KID,
                                  "--alg", "Ed25519", "--public-key", str(pub))
            api_key = token.result().strip().splitlines()[-1]
            fuzz_api_key = fuzz_token.result().strip().splitlines()[-1]
            trusted.result()
        wait_for_port(port, self.proc)
        live = LiveRegistry(url=url, database_url=self.database_url, api_key=api_key, seed_key=seed_key,
                            workdir=workdir, fuzz_api_key=fuzz_api_key)
        live.publish_seed("files.move", "1.0.0")
        live.publish_seed("files.move", "1.1.0")
        live.publish_seed("files.copy", "2.0.0", "Copy a file, keeping its permissions.")
        return live

    def server_log(self) -> str:
        path = Path(self.tmp.name) / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log is not None:
            self.log.close()
        try:
            self._sql(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
        finally:
            self.tmp.cleanup()


_STATE: dict[str, object] = {}


@pytest.fixture(scope="session", name="live_registry")
def live_registry_fixture(request) -> LiveRegistry:
    """The session's live registry (started once, even when several conftests expose this fixture)."""
    if "live" not in _STATE:
        server = _Server()
        request.config.add_cleanup(server.stop)
        try:
            _STATE["live"] = server.start()
        except Exception:
            print(server.server_log(), file=sys.stderr)
            raise
        _STATE["server"] = server
    return _STATE["live"]  # type: ignore[return-value]


# --- a real HTTP hop in front of the registry, for faults and tampering -----------------------------

class Proxy:
    """A forwarding HTTP server between a client and the live registry.

    ``respond(method, path, count)`` may return ``(status, body_bytes)`` to answer instead of the registry
    (e.g. 503 for the first two requests), or None to forward; ``rewrite(path, body)`` may change what
    the registry answered (a malicious mirror). ``delay`` holds every answer back (a slow network).
    """

    def __init__(self, upstream: str, *, respond=None, rewrite=None, delay: float = 0.0) -> None:
        import http.server
        import threading

        import httpx

        self.upstream = upstream
        self.requests: list[tuple[str, str]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers after a test

            def log_message(self, *args):  # keep test output clean
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.requests.append((self.command, self.path))
                if delay:
                    time.sleep(delay)
                answer = respond(self.command, self.path, len(proxy.requests)) if respond else None
                if answer is None:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() in ("authorization", "content-type", "accept")}
                    upstream_response = httpx.request(self.command, proxy.upstream + self.path, content=body,
                                                      headers=headers, timeout=30)
                    status, data = upstream_response.status_code, upstream_response.content
                    if rewrite is not None:
                        data = rewrite(self.path, data)
                else:
                    status, data = answer
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Proxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
