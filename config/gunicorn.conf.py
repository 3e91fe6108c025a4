"""gunicorn settings for the HTTP API (sync workers; WebSockets go to daphne). Read from the environment."""

import multiprocessing
import os
import shutil
import tempfile

# Several worker processes share one set of metrics through files in this directory. It must be set before
# prometheus_client is imported anywhere, which is why it is set here and not in Django's settings.
_metrics_dir = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR",
                                     os.path.join(tempfile.gettempdir(), f"ar-metrics-{os.getpid()}"))

bind = [os.environ.get("GUNICORN_BIND") or f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"]  # noqa: S104
if os.environ.get("METRICS_PORT"):
    # /metrics answers only here; keep this port off the public load balancer.
    bind.append(f"{os.environ.get('METRICS_HOST', '0.0.0.0')}:{os.environ['METRICS_PORT']}")  # noqa: S104

# The API is CPU-bound (parsing, canonicalising, verifying): about two processes per core keeps the cores busy
# while one waits on PostgreSQL.
workers = int(os.environ.get("WEB_CONCURRENCY", str(multiprocessing.cpu_count() * 2)))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
backlog = 2048
# Recycle workers now and then so that slow leaks never become outages.
# At 20,000 (the old default) a busy worker (2,000+ cached fetches/s) was recycled every few seconds, losing its
# answer cache and connection each time: the benchmark's tail latencies were mostly those restarts.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000000"))
max_requests_jitter = max_requests // 10
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") == "1"
# The application writes one JSON line per request (core/observability.py); gunicorn's access log would be a
# second, unstructured one.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):
    # Metrics files of a previous run would be added to this run's counters.
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

