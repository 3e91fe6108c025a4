"""Event fan-out benchmark: N signed publishes through the HTTP API, each event to S WebSocket subscribers.

    .venv/bin/python bench/fanout.py                      # 100 subscribers, 200 publishes, bench database
    .venv/bin/python bench/fanout.py --subscribers 100 --events 300 --interval 0.1 --http gunicorn
    .venv/bin/python bench/fanout.py --send-cost 90 --subscribers 100   # CPU of one after-commit fan-out call

Layout as in production (docs/operations.md): publishes go to gunicorn (``--http daphne`` sends them to the
daphne process instead), the subscribers connect to one daphne process, both on loopback, events travelling
on the Redis event bus (core/event_bus.py: one PUBLISH per event, one subscription per process). The subscribers run in this process (asyncio, ``websockets``), each filtered to this run's own
namespace, so nothing else in the database reaches them.

For every (event, subscriber) pair it records the arrival time and reports two delays:

- ``from created_at``: from the event row's ``created_at`` (taken at INSERT, inside the publish transaction,
  same host clock) to arrival. It includes the rest of the publish transaction (transparency-log append,
  commit) before the after-commit fan-out, so it overstates the fan-out itself: the headline figure, judged
  against the target (p95 <= 100 ms).
- ``from publish return``: from the moment the publish's HTTP response reached this client to arrival. The
  fan-out runs after commit *inside* the publish request, so most events arrive before the response does:
  these are negative, and the figure shows how much later than the publisher a subscriber hears.

Delivery is checked exactly: every subscriber must get every accepted event once (duplicates, misses and
out-of-order arrivals are counted), and the daphne process's ``ar_events_delivered_total`` must agree.

``bench/run.py`` calls ``measure(args)`` with its own arguments (``database_url``, ``redis_url``, ``sizes``);
``fanout_*`` attributes, when present, override the defaults below.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import seed as seeding  # noqa: E402
from bench.run import DATA, ROOT, Server, bench_key, free_port, wait_for, with_db  # noqa: E402

DAPHNE = str(Path(sys.executable).parent / "daphne")
DEFAULTS = {"subscribers": 100, "events": 200, "interval": 0.1, "http": "gunicorn", "db": None,
            "connect_concurrency": 10, "settle": 20.0, "warmup": 8}


def _opt(args, name: str):
    value = getattr(args, f"fanout_{name}", None)
    return DEFAULTS[name] if value is None else value


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)  # nearest rank
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def _summary(values: list[float]) -> dict:
    return {"p50_ms": round(_percentile(values, 50), 2), "p95_ms": round(_percentile(values, 95), 2),
            "p99_ms": round(_percentile(values, 99), 2), "max_ms": round(max(values), 2) if values else None,
            "mean_ms": round(statistics.fmean(values), 2) if values else None, "samples": len(values)}


def _env(database_url: str, redis_url: str, url: str) -> dict:
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "DJANGO_SETTINGS_MODULE": "config.settings", "ACTION_REGISTRY_ENV": "production",
           "SECRET_KEY": "bench-" + "k" * 50, "ALLOWED_HOSTS": "127.0.0.1,localhost", "SECURE_SSL_REDIRECT": "0",
           "ACTION_REGISTRY_PUBLIC_URL": url, "ACTION_REGISTRY_VAR_DIR": str(DATA / "var"), "LOG_LEVEL": "WARNING"}
    env.pop("PYTEST_VERSION", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # daphne is one process: its own registry, read at its /metrics
    return env


class Daphne:
    """One daphne process (production settings) on a free loopback port."""

    def __init__(self, database_url: str, redis_url: str, log_path: Path, profile: str | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "ab")  # noqa: SIM115 (closed in stop)
        # With ``profile``, daphne runs under cProfile and writes its stats there when it stops (SIGTERM).
        wrap = [sys.executable, "-m", "cProfile", "-o", profile] if profile else []
        self.proc = subprocess.Popen([*wrap, DAPHNE, "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"],
                                     cwd=ROOT, env=_env(database_url, redis_url, self.url), stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self.url + "/health/live", self.proc, timeout=90)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # daphne waits for lingering sockets; nothing to keep
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def _database(args) -> tuple[str, str]:
    """(database URL, name): ``fanout_db``, else the first seeded bench database of ``args.sizes``, else a
    fresh ``ar_bench_fanout`` (migrated here)."""
    name = _opt(args, "db")
    if not name:
        seeded = [n for n in str(getattr(args, "sizes", "10000")).split(",")
                  if n and (DATA / f"ar_bench_{n}.json").exists()]
        name = f"ar_bench_{seeded[0]}" if seeded else "ar_bench_fanout"
    url = with_db(args.database_url, name)
    if not (DATA / f"{name}.json").exists() and name == "ar_bench_fanout":
        import psycopg

        with psycopg.connect(args.database_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            seeding.database_recreate(args.database_url, name)
        seeding.migrate(url)
    return url, name


def _credentials(database_url: str, namespace: str, public_b64: str) -> str:
    """Trust the bench key if this database does not yet, and issue an API key for this run's namespace."""
    code = (
        "import django; django.setup()\n"
        "from governance.models import SigningKey\n"
        "from governance.services import signing_key_add, api_key_create\n"
        f"if not SigningKey.objects.filter(kid={seeding.BENCH_KID!r}).exists():\n"
        f"    signing_key_add(kid={seeding.BENCH_KID!r}, alg='Ed25519', public_key={public_b64!r}, actor='bench')\n"
        f"print(api_key_create(name='bench-fanout-{namespace}', namespaces=[{namespace!r}], actor='bench').token)\n"
    )
    env = _env(database_url, "", "http://127.0.0.1")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True,
                         text=True)
    return out.stdout.strip().splitlines()[-1]


def _envelopes(namespace: str, count: int, key_pem: bytes, stem: str = "tool") -> list[dict]:
    from action_registry import crypto
    from action_registry.document import sign_document

    key = crypto.load_private_key(key_pem)
    docs = [{"name": f"{namespace}.{stem}{i}", "version": "1.0.0",
             "description": f"Fan-out benchmark action {i}: emits one action.published event.",
             "input_schema": {"type": "object", "properties": {"x": {"type": "string"}}},
             "output_schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}
            for i in range(count)]
    return [sign_document(doc, key, seeding.BENCH_KID) for doc in docs]


def _parse_created(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class Subscriber:
    def __init__(self, index: int):
        self.index = index
        self.arrivals: dict[str, list[float]] = {}  # subject -> arrival times (more than one = duplicate)
        self.created: dict[str, float] = {}
        self.ids: list[int] = []
        self.request_ids_missing = 0
        self.ws = None

    async def open(self, ws_url: str, origin: str) -> None:
        import websockets

        self.ws = await websockets.connect(ws_url, origin=origin, open_timeout=60, max_queue=None)
        welcome = json.loads(await self.ws.recv())
        if welcome.get("type") != "welcome":
            raise RuntimeError(f"subscriber {self.index}: {welcome}")
        while json.loads(await self.ws.recv()).get("type") != "live":
            pass

    async def run(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in self.ws:
                arrived = time.time()
                message = json.loads(raw)
                if message.get("type") != "event":
                    continue
                subject = message["subject"]
                self.arrivals.setdefault(subject, []).append(arrived)
                self.created[subject] = _parse_created(message["created_at"])
                self.ids.append(message["id"])
                if "request_id" not in message:
                    self.request_ids_missing += 1
        except ConnectionClosed:
            pass


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), less sensitive to a busy machine than delays."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _delivered_counter(url: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(url + "/metrics", timeout=10).text
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == "ar_events_delivered_total" and s.labels.get("kind") == "action.published")


async def measure(args) -> dict:
    subscribers_n, events_n = int(_opt(args, "subscribers")), int(_opt(args, "events"))
    interval, http_mode = float(_opt(args, "interval")), _opt(args, "http")
    key_pem, public_b64 = bench_key()
    database_url, db_name = _database(args)
    namespace = "fanout" + datetime.now(UTC).strftime("%H%M%S%f")
    token = _credentials(database_url, namespace, public_b64)
    envelopes = _envelopes(namespace, events_n, key_pem)
    # Not measured: the first publishes of each gunicorn worker pay for imports, connections and prepared
    # statements; their events reach the subscribers too and are left out of every figure.
    warmup = _envelopes(namespace, int(_opt(args, "warmup")), key_pem, stem="warm")
    warm_subjects = {f"{e['action']['name']}@1.0.0" for e in warmup}
    load_start = os.getloadavg()

    daphne = Daphne(database_url, args.redis_url, DATA / "fanout-daphne.log", getattr(args, "profile_daphne", None))
    web = None
    subs: list[Subscriber] = []
    tasks: list[asyncio.Task] = []
    try:
        if http_mode == "gunicorn":
            web = Server(database_url, args.redis_url, DATA / "fanout-gunicorn.log", getattr(args, "workers", None))
            http_url = web.url
        else:
            http_url = daphne.url
        ws_url = (f"ws://127.0.0.1:{daphne.port}/v1/events?api_key={token}&namespace={namespace}"
                  f"&kind=action.published")
        started = time.perf_counter()
        gate = asyncio.Semaphore(int(_opt(args, "connect_concurrency")))

        async def open_one(i: int) -> Subscriber:
            async with gate:
                sub = Subscriber(i)
                await sub.open(ws_url, f"http://127.0.0.1:{daphne.port}")
                return sub

        subs = list(await asyncio.gather(*(open_one(i) for i in range(subscribers_n))))
        connect_s = time.perf_counter() - started
        tasks = [asyncio.ensure_future(s.run()) for s in subs]
        counter_before = await asyncio.to_thread(_delivered_counter, daphne.url)
        daphne_cpu = _cpu_seconds(daphne.proc.pid)

        returned: dict[str, float] = {}
        statuses: dict[int, int] = {}
        publish_ms: list[float] = []
        async with httpx.AsyncClient(base_url=http_url, timeout=30,
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            for envelope in warmup:
                await client.post("/v1/actions", json=envelope)
            publish_started = time.perf_counter()
            for i, envelope in enumerate(envelopes):
                sent = time.perf_counter()
                response = await client.post("/v1/actions", json=envelope,
                                             headers={"X-Request-ID": f"fanout-{namespace}-{i}"})
                returned_at = time.time()
                publish_ms.append(1000 * (time.perf_counter() - sent))
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code == 201:
                    returned[f"{envelope['action']['name']}@1.0.0"] = returned_at
                if interval > 0:
                    await asyncio.sleep(interval)
            publish_s = time.perf_counter() - publish_started

        # Wait for every subscriber to have every accepted event (or the settle timeout), then listen a little
        # longer for duplicates.
        deadline = time.monotonic() + float(_opt(args, "settle"))
        while time.monotonic() < deadline and any(
                any(subject not in s.arrivals for subject in returned) for s in subs):
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        load_end = os.getloadavg()
        daphne_cpu = _cpu_seconds(daphne.proc.pid) - daphne_cpu
        counter_after = await asyncio.to_thread(_delivered_counter, daphne.url)
    finally:
        for t in tasks:
            t.cancel()
        for s in subs:
            if s.ws is not None:
                try:
                    await asyncio.wait_for(s.ws.close(), 2)
                except Exception:  # noqa: BLE001,S110 (closing at the end; the server is being stopped anyway)
                    pass
        daphne.stop()
        if web is not None:
            web.stop()

    from_created: list[float] = []
    from_return: list[float] = []
    last_per_event: list[float] = []
    duplicates = misses = unexpected = out_of_order = 0
    for subject, ret in returned.items():
        latest = None
        for s in subs:
            times = s.arrivals.get(subject)
            if not times:
                misses += 1
                continue
            duplicates += len(times) - 1
            from_created.append(1000 * (times[0] - s.created[subject]))
            from_return.append(1000 * (times[0] - ret))
            latest = max(latest or 0.0, times[0])
        if latest is not None:
            last_per_event.append(1000 * (latest - min(s.created[subject] for s in subs if subject in s.created)))
    for s in subs:
        unexpected += sum(len(v) for k, v in s.arrivals.items() if k not in returned and k not in warm_subjects)
        out_of_order += sum(1 for a, b in zip(s.ids, s.ids[1:], strict=False) if b <= a)
    accepted = len(returned)
    created = _summary(from_created)
    return {
        "subscribers": subscribers_n, "events": accepted, "publishes": events_n, "statuses": statuses,
        "expected_deliveries": accepted * subscribers_n, "delivered": len(from_created),
        "duplicates": duplicates, "misses": misses, "unexpected": unexpected, "out_of_order": out_of_order,
        "request_id_missing": sum(s.request_ids_missing for s in subs),
        "counter_delivered": counter_after - counter_before,
        **created, "from_created": created, "from_return": _summary(from_return),
        "all_subscribers_from_created": _summary(last_per_event),
        "publish_ms": _summary(publish_ms), "publish_seconds": round(publish_s, 2),
        "connect_seconds": round(connect_s, 2),
        "daphne_cpu_ms_per_event": round(1000 * daphne_cpu / max(1, accepted + len(warmup)), 2), "interval_s": interval, "http": http_mode,
        "database": db_name,
        "loadavg_start": [round(x, 2) for x in load_start], "loadavg_end": [round(x, 2) for x in load_end],
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def send_cost(args, calls: int) -> dict:
    """CPU time of ``core.outbox.event_fanout`` (the publishing worker's share of a fan-out: read the row, send
    it, mark it dispatched), ``calls`` times on the newest event, in this process under production settings.

    Also runs against trees older than the event bus (``core.outbox.GROUP`` present): there the stream's
    subscribers were members of a channel-layer group, so ``--subscribers`` stand-in channels join it first
    (kept under channels-redis's per-channel capacity of 100 messages, so none is skipped as full)."""
    import gc

    database_url, db_name = _database(args)
    os.environ.update(_env(database_url, args.redis_url, "http://127.0.0.1"))
    import django

    django.setup()
    from asgiref.sync import async_to_sync

    from core import outbox
    from core.models import Event

    event_id = Event.objects.order_by("-id").values_list("id", flat=True).first()
    members = int(_opt(args, "subscribers"))
    layer = None
    if hasattr(outbox, "GROUP"):
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        calls = min(calls, 90)

        async def join(add: bool) -> None:
            for i in range(members):
                name = f"bench.sendcost.{i}"
                await (layer.group_add(outbox.GROUP, name) if add else layer.group_discard(outbox.GROUP, name))

        async_to_sync(join)(True)
    try:
        outbox.event_fanout(event_id)  # connections, imports
        gc.collect()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(calls):
            outbox.event_fanout(event_id)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        if layer is not None:
            async_to_sync(join)(False)
            async_to_sync(layer.flush)()
    return {"calls": calls, "cpu_ms_per_call": round(1000 * cpu / calls, 3),
            "wall_ms_per_call": round(1000 * wall / calls, 3), "group_members": members if layer else None,
            "path": "channel-layer group_send" if layer else "event bus PUBLISH", "database": db_name,
            "loadavg": [round(x, 2) for x in os.getloadavg()]}


def report(r: dict) -> str:
    def row(label: str, s: dict) -> str:
        return (f"  {label:<44}{s['p50_ms']:>9.2f}{s['p95_ms']:>9.2f}{s['p99_ms']:>9.2f}{s['max_ms']:>9.2f}"
                f"{s['samples']:>9}")

    lines = [f"fan-out: {r['subscribers']} WebSocket subscribers on one daphne, {r['events']} events "
             f"(publishes via {r['http']}, {r['interval_s']} s apart) on {r['database']}, "
             f"{r['when']}",
             f"  delivered {r['delivered']:,} of {r['expected_deliveries']:,}; duplicates {r['duplicates']}, "
             f"misses {r['misses']}, out of order {r['out_of_order']}, unexpected {r['unexpected']}, "
             f"without request_id {r['request_id_missing']}; daphne's ar_events_delivered_total moved "
             f"{r['counter_delivered']:,.0f}",
             f"  publish statuses {r['statuses']}; {r['subscribers']} subscribers connected in "
             f"{r['connect_seconds']} s; load average {r['loadavg_start']} -> {r['loadavg_end']}",
             f"  daphne CPU (user + system) per event, warm-ups included: {r['daphne_cpu_ms_per_event']} ms",
             f"  {'delay (ms)':<44}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}{'samples':>9}",
             row("event created_at -> each subscriber", r["from_created"]),
             row("event created_at -> last of the subscribers", r["all_subscribers_from_created"]),
             row("publish response returned -> each subscriber", r["from_return"]),
             row("publish request (round trip, for scale)", r["publish_ms"])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", dest="fanout_subscribers", type=int, default=DEFAULTS["subscribers"])
    parser.add_argument("--events", dest="fanout_events", type=int, default=DEFAULTS["events"])
    parser.add_argument("--interval", dest="fanout_interval", type=float, default=DEFAULTS["interval"],
                        help="seconds between one publish's response and the next publish")
    parser.add_argument("--http", dest="fanout_http", choices=["gunicorn", "daphne"], default=DEFAULTS["http"])
    parser.add_argument("--db", dest="fanout_db", default=None,
                        help="database name (default: the seeded ar_bench_10000, else a fresh ar_bench_fanout)")
    parser.add_argument("--settle", dest="fanout_settle", type=float, default=DEFAULTS["settle"],
                        help="seconds to wait after the last publish for every delivery")
    parser.add_argument("--warmup", dest="fanout_warmup", type=int, default=DEFAULTS["warmup"],
                        help="publishes sent first and left out of the figures")
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers for the publishes")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                 "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    parser.add_argument("--profile-daphne", metavar="PATH", default=None,
                        help="run daphne under cProfile, stats written to PATH (pstats) when it stops")
    parser.add_argument("--send-cost", type=int, default=0, metavar="CALLS",
                        help="instead: CPU per after-commit fan-out call in this process, CALLS times")
    args = parser.parse_args(argv)
    if args.send_cost:
        print(json.dumps(send_cost(args, args.send_cost)))
        return 0
    result = asyncio.run(measure(args))
    print(report(result))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (DATA / f"fanout-{stamp}.json").write_text(json.dumps(result, indent=1))
    print(f"saved bench/data/fanout-{stamp}.json")
    ok = result["misses"] == 0 and result["duplicates"] == 0 and result["delivered"] == result["expected_deliveries"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
