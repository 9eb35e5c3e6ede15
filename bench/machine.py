"""Who used the machine's CPUs while a benchmark measured: the context a latency figure needs.

On these shared 2-core machines a run's latency moves with what else runs: the benchmark's own
processes, PostgreSQL, the Kafka broker, anything else, and the hypervisor (CPU time *stolen*
for other guests, ``/proc/stat``). :func:`snapshot` reads all of it at one moment; :func:`usage`
turns two snapshots into shares of one core, so a run's report says how busy the machine was
while its figures were taken instead of leaving that to guesswork.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_STEAL = 7
"""Index of ``steal`` among the ``cpu`` line's fields (user nice system idle iowait irq
softirq steal …, proc(5))."""


@dataclass(frozen=True)
class Snapshot:
    at: float
    """``time.monotonic()`` when it was read."""
    stolen: float
    """CPU seconds the hypervisor gave to other guests, all CPUs, since boot."""
    processes: dict[int, tuple[str, float]]
    """pid → (command name, CPU seconds so far) of every process alive."""
    waited_children: float
    """CPU seconds of this process's finished children (the load generator's runs)."""


def snapshot() -> Snapshot:
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    stolen = int(fields[_STEAL]) / _TICK if len(fields) > _STEAL else 0.0
    processes: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        after = stat.rpartition(")")[2].split()
        processes[int(entry.name)] = (name, (int(after[11]) + int(after[12])) / _TICK)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Snapshot(time.monotonic(), stolen, processes, children.ru_utime + children.ru_stime)


def usage(
    before: Snapshot, after: Snapshot, ours: Mapping[str, int], children_as: str = "wrk"
) -> dict[str, float]:
    """Per group, the CPU used between the snapshots in % of one core: each of ``ours`` (name →
    pid, with the children it spawned, e.g. nginx's worker), ``children_as`` (this process's
    children that finished meanwhile), ``postgres``, ``java`` (the Kafka broker, Keycloak),
    ``other`` (everything else, this process included) and ``stolen`` (by the hypervisor)."""
    seconds = max(after.at - before.at, 1e-9)
    owner = {pid: name for name, pid in ours.items()}
    for name, pid in ours.items():
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            owner.update({int(child): name for child in children.read_text().split()})
    used: dict[str, float] = dict.fromkeys(ours, 0.0)
    used |= {children_as: after.waited_children - before.waited_children}
    used |= {"postgres": 0.0, "java": 0.0, "other": 0.0}
    for pid, (command, cpu) in after.processes.items():
        start = before.processes.get(pid)
        spent = cpu - (start[1] if start is not None else 0.0)
        group = owner.get(pid) or (command if command in ("postgres", "java") else "other")
        used[group] += spent
    used["stolen"] = after.stolen - before.stolen
    return {name: 100 * value / seconds for name, value in used.items()}


def describe(shares: Mapping[str, float], cores: int | None = None) -> str:
    """``shares`` as one line: ``gateway 41 %, …`` (of one core; the machine has ``cores``)."""
    parts = ", ".join(f"{name} {share:.0f} %" for name, share in shares.items())
    return f"{parts} (of one core; {cores or os.cpu_count()} cores)"
