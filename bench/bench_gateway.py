"""The gateway's cost per proxied request, next to the same call made directly and through nginx.

One run starts, as separate processes (``python -m kommune.serve``, one worker each, as deployed):
the ideas service (fresh migrated database), the gateway (its own fresh database; dev issuer),
a second gateway with rate limits switched off (to show what the PostgreSQL counter costs),
nginx from Debian's ``nginx-light`` (one worker, upstream keep-alive) as the reference proxy,
and ``python_floor`` (bench/python_floor_proxy.py: aiohttp under uvicorn with nothing else, what
any Python hop costs on this machine). ``wrk`` (Debian's ``wrk``) fires
``GET /api/v1/ideas?limit=1`` with the same bearer token at each target in turn:

* throughput: ``--connections`` (10) connections, ``--rounds`` runs of ``--duration`` s per
  target, alternating, so that machine drift hits all alike (requests/s, median);
* latency: 1 connection, ``--latency-rounds`` runs of ``--latency-seconds`` s per target; each
  round measures every target back to back (in reverse order every other round), and a target's
  p50 overhead is the median over the rounds of its p50 minus direct's p50 *of the same round*.
  On these shared machines direct's own p50 drifts by a millisecond within minutes; pairing
  takes that drift out of the difference.

Printed: a table per target, the gateway's throughput as a ratio of direct, its p50 overhead in
ms (with the middle half of the rounds' differences beside it: how far one run's figure can
move on this machine), and the CPU each proxy process spent per request, under load
(``--connections``) and at one connection (the latency rounds: a request then pays every
event-loop wake-up alone, so this is the figure that moves the p50), and who used the CPUs
during the latency rounds (bench/machine.py: the measured processes, wrk, PostgreSQL, Java,
everything else, and what the hypervisor stole: the context of a run's p50); merged into
``bench/results.json``. With ``--profile`` py-spy samples the gateway during one extra
throughput run and writes ``bench/gateway-profile.txt`` (top functions by own and by inclusive
time). With ``--baseline-ref REF`` the gateway of an earlier commit runs as one more target
(``gateway@REF``, its sources on PYTHONPATH): before and after in the same run.

    uv run python bench/bench_gateway.py [--duration 8] [--rounds 2] [--latency-rounds 12]

Needs: the local PostgreSQL (``KOMMUNE_TEST_DATABASE_URL`` or ``deploy/local/postgres.sh``), and
``nginx``/``wrk`` (installed with apt-get when running as root, like postgres.sh does).
"""

# ruff: noqa: S603, S607 - a benchmark that starts local tools (wrk, nginx, apt-get) by design

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import machine
from results import merge, result
from sqlalchemy.engine import make_url

from kommune.migrations import upgrade

ROOT = Path(__file__).resolve().parents[1]
IDEAS_ALEMBIC = ROOT / "services" / "ideas" / "alembic.ini"
GATEWAY_ALEMBIC = ROOT / "gateway" / "alembic.ini"
PATH = "/api/v1/ideas?limit=1"
PG_PORT = os.environ.get("KOMMUNE_PG_PORT", "15432")
KAFKA_PORT = os.environ.get("KOMMUNE_KAFKA_PORT", "19092")
DEFAULT_DATABASE_URL = f"postgresql://kommune:kommune@127.0.0.1:{PG_PORT}/postgres"

NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream ideas {{ server 127.0.0.1:{upstream}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://ideas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ensure_tool(command: str, package: str) -> str:
    found = shutil.which(command)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"[bench] apt-get install {package}", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which(command)
    if not found:
        sys.exit(f"{command} not found: install the Debian package {package}")
    return found


# ---- processes ---------------------------------------------------------------------------------


@dataclass
class Processes:
    log_dir: Path
    running: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("wb")
        process = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        self.running.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.running):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def serve(module: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "kommune.serve",
        module,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


async def wait_ready(url: str, deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > end:
                raise RuntimeError(f"{url} not ready after {deadline} s")
            await asyncio.sleep(0.2)


# ---- wrk ---------------------------------------------------------------------------------------


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    requests: int = 0
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its children (nginx's worker), from /proc."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(child) for child in children.read_text().split()]
    for one in pids:
        fields = Path(f"/proc/{one}/stat").read_text().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    assert match, text
    return float(match[1]) * _UNIT[match[2]]


def wrk(
    wrk_bin: str,
    url: str,
    token: str,
    connections: int,
    duration: int,
    watch: dict[str, int] | None = None,
) -> Run:
    """One wrk run; ``watch`` (name → pid): CPU ms per request each of those processes spent."""
    before = {name: cpu_seconds(pid) for name, pid in (watch or {}).items()}
    output = subprocess.run(
        [
            wrk_bin,
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    distribution = output.partition("Latency Distribution")[2]
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", distribution, re.M)[1])  # type: ignore[index]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", distribution, re.M)[1])  # type: ignore[index]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    requests = int(re.search(r"(\d+) requests in", output)[1])  # type: ignore[index]
    cpu = {
        name: (cpu_seconds(pid) - before[name]) * 1000 / max(requests, 1)
        for name, pid in (watch or {}).items()
    }
    return Run(rps, p50, p99, int(errors[1]) if errors else 0, requests, cpu)


# ---- the run -----------------------------------------------------------------------------------


async def create_db(admin_url: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def drop_dbs(admin_url: str, urls: list[str]) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        for url in urls:
            name = make_url(url).database
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def checkout_sources(ref: str, into: Path) -> str:
    """The gateway and shared-runtime sources of ``ref`` as a PYTHONPATH (ahead of the
    workspace's editable installs, so that process runs the old code against today's deps)."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", ref, "gateway/src", "libs/kommune/src"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return f"{into / 'gateway' / 'src'}:{into / 'libs' / 'kommune' / 'src'}"


def profile(gateway_pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes] | None:
    # ``uv tool install py-spy`` puts it in ~/.local/bin, which is not always on PATH.
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path.home() / ".local/bin"))
    if not py_spy:
        print("[bench] py-spy not on PATH (uv tool install py-spy): no profile", flush=True)
        return None
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "-p",
            str(gateway_pid),
            "-d",
            str(seconds),
            "-r",
            "250",
            "-f",
            "raw",
            "-o",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def summarize_profile(raw: Path, out: Path, top: int = 40) -> None:
    """Own and inclusive time per function from py-spy's collapsed stacks.

    Own: the leaf frame of each sample. Inclusive: every sample whose stack passes through the
    function (counted once per sample), which is what a per-layer breakdown needs.
    """
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        n = int(count)
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
        total += n

    def table(counts: dict[str, int]) -> list[str]:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
        return [f"{n / total:6.1%}  {name}" for name, n in ranked]

    out.write_text(
        f"{total} samples\n\n## own time\n"
        + "\n".join(table(own))
        + "\n\n## inclusive time\n"
        + "\n".join(table(inclusive))
        + "\n"
    )
    shutil.copyfile(raw, out.with_suffix(".raw"))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--latency-rounds", type=int, default=12)
    parser.add_argument("--latency-seconds", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--baseline-ref",
        help="also run the gateway of this git commit (its gateway/src and libs/kommune/src), "
        "rate limits on, as target gateway@REF: before/after in one run",
    )
    args = parser.parse_args()

    wrk_bin = ensure_tool("wrk", "wrk")
    nginx_bin = ensure_tool("nginx", "nginx-light")
    admin_url = os.environ.get("KOMMUNE_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    ideas_db = await create_db(admin_url, "bench_gw_ideas")
    gateway_db = await create_db(admin_url, "bench_gw_gateway")
    await upgrade(IDEAS_ALEMBIC, ideas_db)
    await upgrade(GATEWAY_ALEMBIC, gateway_db)

    work = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    processes = Processes(work)
    names = ["gateway", "gateway_nolimit", "ideas", "nginx", "python_floor"]
    if args.baseline_ref:
        names.append("gateway_baseline")
    ports = {name: free_port() for name in names}
    issuer = f"http://127.0.0.1:{ports['gateway']}/auth/dev"
    common = {
        "KOMMUNE_ENVIRONMENT": "dev",
        "KOMMUNE_OIDC_ISSUER": issuer,
        "KOMMUNE_DEV_ISSUER_KEY_FILE": str(work / "jwk.json"),
        "KOMMUNE_LOG_JSON": "true",
    }
    gateway_env = {
        **common,
        "GATEWAY_DATABASE_URL": gateway_db,
        "GATEWAY_UPSTREAM_IDEAS": f"http://127.0.0.1:{ports['ideas']}",
        "GATEWAY_UPSTREAM_DOCUMENTS": "",
        "GATEWAY_UPSTREAM_EGOV": "",
        "GATEWAY_UPSTREAM_SENSORS": "",
        "GATEWAY_METRICS_PORT": "0",
        # Counted like any caller, but never refused: the bench measures the cost, not the limit.
        "GATEWAY_RATE_LIMIT_REQUESTS": "1000000000",
    }
    try:
        gateway = processes.start(
            "gateway", serve("kommune_gateway.main:app", ports["gateway"]), gateway_env
        )
        gateway_nolimit = processes.start(
            "gateway_nolimit",
            serve("kommune_gateway.main:app", ports["gateway_nolimit"]),
            {**gateway_env, "GATEWAY_RATE_LIMIT_ENABLED": "false"},
        )
        baseline = None
        if args.baseline_ref:
            source = checkout_sources(args.baseline_ref, work / "baseline")
            baseline = processes.start(
                "gateway_baseline",
                serve("kommune_gateway.main:app", ports["gateway_baseline"]),
                {**gateway_env, "PYTHONPATH": source},
            )
        await wait_ready(f"http://127.0.0.1:{ports['gateway']}/healthz")
        ideas = processes.start(
            "ideas",
            serve("kommune_ideas.main:app", ports["ideas"]),
            {
                **common,
                "IDEAS_DATABASE_URL": ideas_db,
                "IDEAS_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{KAFKA_PORT}",
                "IDEAS_RELAY_ENABLED": "false",
                "IDEAS_CONSUMERS_ENABLED": "false",
                "IDEAS_METRICS_PORT": "0",
            },
        )
        floor = processes.start(
            "python_floor",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "python_floor_proxy:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(ports["python_floor"]),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            {
                "FLOOR_UPSTREAM": f"http://127.0.0.1:{ports['ideas']}",
                "PYTHONPATH": str(ROOT / "bench"),
            },
        )
        nginx_dir = work / "nginx"
        nginx_dir.mkdir()
        (nginx_dir / "nginx.conf").write_text(
            NGINX_CONF.format(dir=nginx_dir, upstream=ports["ideas"], port=ports["nginx"])
        )
        nginx = processes.start(
            "nginx",
            [
                nginx_bin,
                "-p",
                str(nginx_dir),
                "-c",
                str(nginx_dir / "nginx.conf"),
                "-g",
                "daemon off;",
            ],
            {},
        )
        await wait_ready(f"http://127.0.0.1:{ports['ideas']}/readyz")
        await wait_ready(f"http://127.0.0.1:{ports['gateway_nolimit']}/healthz")
        if baseline is not None:
            await wait_ready(f"http://127.0.0.1:{ports['gateway_baseline']}/healthz")
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{issuer}/token", json={"sub": "bench", "roles": ["staff"], "expires_in": 3600}
            )
            response.raise_for_status()
            token = response.json()["access_token"]
            for port in ports.values():
                check = await client.get(
                    f"http://127.0.0.1:{port}{PATH}", headers={"Authorization": f"Bearer {token}"}
                )
                assert check.status_code == 200, (port, check.status_code, check.text)

        targets = {
            "direct": ports["ideas"],
            "nginx": ports["nginx"],
            "gateway": ports["gateway"],
            "gateway_no_rate_limit": ports["gateway_nolimit"],
            "python_floor": ports["python_floor"],
        }
        if baseline is not None:
            targets[f"gateway@{args.baseline_ref}"] = ports["gateway_baseline"]
        proxies = {
            "nginx": nginx.pid,
            "gateway": gateway.pid,
            "gateway_no_rate_limit": gateway_nolimit.pid,
            "python_floor": floor.pid,
        }
        if baseline is not None:
            proxies[f"gateway@{args.baseline_ref}"] = baseline.pid
        throughput: dict[str, list[Run]] = {name: [] for name in targets}
        latency: dict[str, list[Run]] = {name: [] for name in targets}
        for port in targets.values():  # warm-up (no JIT, but pools and caches)
            wrk(wrk_bin, f"http://127.0.0.1:{port}{PATH}", token, args.connections, 2)
        for round_ in range(args.rounds):
            for target, port in targets.items():
                url = f"http://127.0.0.1:{port}{PATH}"
                watch = {"upstream": ideas.pid}
                if target in proxies:
                    watch["proxy"] = proxies[target]
                throughput[target].append(
                    wrk(wrk_bin, url, token, args.connections, args.duration, watch)
                )
            print(f"[bench] throughput round {round_ + 1}/{args.rounds} done", flush=True)
        machine_before = machine.snapshot()
        for round_ in range(args.latency_rounds):
            order = list(targets.items())
            for target, port in order if round_ % 2 == 0 else reversed(order):
                url = f"http://127.0.0.1:{port}{PATH}"
                watch = {"proxy": proxies[target]} if target in proxies else {}
                latency[target].append(wrk(wrk_bin, url, token, 1, args.latency_seconds, watch))
        during_latency = machine.usage(
            machine_before, machine.snapshot(), {"ideas": ideas.pid, **proxies}
        )
        print(f"[bench] {args.latency_rounds} latency rounds done", flush=True)

        if args.profile:
            raw = work / "profile.raw"
            spy = profile(gateway.pid, args.duration, raw)
            if spy is not None:
                wrk(
                    wrk_bin,
                    f"http://127.0.0.1:{ports['gateway']}{PATH}",
                    token,
                    args.connections,
                    args.duration,
                )
                spy.wait(timeout=60)
                if raw.exists():
                    summarize_profile(raw, ROOT / "bench" / "gateway-profile.txt")
                    print("[bench] profile: bench/gateway-profile.txt", flush=True)
    finally:
        processes.stop_all()
        await drop_dbs(admin_url, [ideas_db, gateway_db])
        shutil.rmtree(work, ignore_errors=True)  # logs, nginx files, the raw profile

    def med(runs: list[Run], attr: str) -> float:
        return float(statistics.median(getattr(run, attr) for run in runs))

    def cpu(runs: list[Run], name: str) -> float:
        return float(statistics.median(run.cpu_ms_per_request.get(name, 0.0) for run in runs))

    def differences(target: str, attr: str) -> list[float]:
        """Per latency round: the target's figure minus direct's of the same round."""
        pairs = zip(latency[target], latency["direct"], strict=True)
        return [getattr(a, attr) - getattr(b, attr) for a, b in pairs]

    def overhead(target: str, attr: str = "p50_ms") -> float:
        """Median over the latency rounds of the target's figure minus direct's, same round."""
        return float(statistics.median(differences(target, attr)))

    def spread(target: str) -> str:
        """The middle half of the rounds' p50 differences: how far one run's median can move."""
        values = differences(target, "p50_ms")
        if len(values) < 2:
            return "one round"
        low, _, high = statistics.quantiles(values, n=4)
        return f"middle half of rounds {low:+.2f} to {high:+.2f} ms"

    print(
        f"\nGET {PATH}  (throughput: {args.rounds} x {args.duration} s; latency: "
        f"{args.latency_rounds} paired rounds x {args.latency_seconds} s; medians)"
    )
    print(
        f"{'target':24} {'req/s @' + str(args.connections):>12} {'p50 @1 ms':>10} "
        f"{'p99 @1 ms':>10} {'proxy CPU ms/req':>17} {'@1':>6} {'service CPU ms/req':>19} "
        f"{'non-2xx':>8}"
    )
    for target in targets:
        errors = sum(run.non_2xx for run in throughput[target] + latency[target])
        print(
            f"{target:24} {med(throughput[target], 'rps'):12.0f} "
            f"{med(latency[target], 'p50_ms'):10.2f} {med(latency[target], 'p99_ms'):10.2f} "
            f"{cpu(throughput[target], 'proxy'):17.3f} {cpu(latency[target], 'proxy'):6.3f} "
            f"{cpu(throughput[target], 'upstream'):19.3f} {errors:8d}"
        )
    print(f"CPU during the latency rounds: {machine.describe(during_latency)}")
    direct_rps = med(throughput["direct"], "rps")
    direct_p50 = med(latency["direct"], "p50_ms")
    direct_cpu = cpu(throughput["direct"], "upstream")
    records: list[dict[str, Any]] = []
    for target in [t for t in targets if t != "direct"]:
        rps = med(throughput[target], "rps")
        p50 = med(latency[target], "p50_ms")
        proxy_cpu = cpu(throughput[target], "proxy")
        proxy_cpu_1 = cpu(latency[target], "proxy")
        added = overhead(target)
        print(
            f"{target}: {rps / direct_rps:.2f}x direct throughput, "
            f"p50 overhead {added:+.2f} ms (paired, {spread(target)}; "
            f"p99 {overhead(target, 'p99_ms'):+.2f} ms), "
            f"{proxy_cpu:.3f} ms CPU per request ({proxy_cpu_1:.3f} ms at one connection)"
        )
        notes = f"{PATH}; machine load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        records += [
            result(
                f"gateway.{target}.throughput",
                rps,
                "req/s",
                baseline_name="gateway.direct.throughput",
                baseline_value=direct_rps,
                notes=f"wrk -c{args.connections}, {notes}",
            ),
            result(
                f"gateway.{target}.p50",
                p50,
                "ms",
                baseline_name="gateway.direct.p50",
                baseline_value=direct_p50,
                notes=f"wrk -c1, {notes}",
            ),
            result(
                f"gateway.{target}.p50_overhead",
                added,
                "ms",
                baseline_name="gateway.nginx.p50_overhead",
                baseline_value=overhead("nginx"),
                notes=(
                    f"median of paired differences over {args.latency_rounds} rounds "
                    f"({spread(target)}), {notes}; CPU during the latency rounds: "
                    f"{machine.describe(during_latency)}"
                ),
            ),
            result(
                f"gateway.{target}.cpu_per_request",
                proxy_cpu,
                "ms",
                baseline_name="gateway.direct.service_cpu_per_request",
                baseline_value=direct_cpu,
                notes=f"CPU of the proxy process per request (robust to load), {notes}",
            ),
            result(
                f"gateway.{target}.cpu_per_request_one_connection",
                proxy_cpu_1,
                "ms",
                baseline_name="gateway.python_floor.cpu_per_request_one_connection",
                baseline_value=cpu(latency["python_floor"], "proxy"),
                notes=f"CPU of the proxy process per request during the latency rounds, {notes}",
            ),
        ]
    merge(records)


if __name__ == "__main__":
    asyncio.run(main())
