"""Render the services' topic declarations as Strimzi ``KafkaTopic`` resources.

The declarations in each service's ``events`` module are the single source of truth: the services
create missing topics from them at start (``kommune.events.topics.ensure_topics``), and on
Kubernetes the Strimzi Topic Operator creates them from the file this script writes. Both use the
same declarations (the topics a service owns or consumes, plus the dead-letter topic of each of
its consumer groups, ``<group>.<topic>.dlq``) and the same ``TopicSpec.configs()``, so partitions,
retention and cleanup policy cannot drift apart.

    uv run python k8s/tools/render_topics.py            # rewrite the file
    uv run python k8s/tools/render_topics.py --check    # exit 1 if the file is stale

A new service registers its topics in :data:`TOPICS` and its consumer groups in
:data:`CONSUMERS` (``tests/k8s`` checks its KEDA triggers against the same list); ``tests/k8s``
fails while a service's ``events.py`` exists that is not registered here.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kommune.events.consumer import ConsumerSpec
from kommune.events.topics import TopicSpec

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "k8s" / "components" / "strimzi-kafka" / "topics.yaml"
KAFKA_CLUSTER = "kommune"
"""``metadata.name`` of the Strimzi ``Kafka`` resource (label ``strimzi.io/cluster``)."""

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


# Each service as its app is built with its default settings (the names deployed).
# ``model_construct``: the defaults, without reading an environment or requiring production
# settings.


def _ideas_consumers() -> list[ConsumerSpec]:
    from kommune_ideas.chronicle.consumers import chronicle_consumer
    from kommune_ideas.settings import IdeasSettings

    return [chronicle_consumer(IdeasSettings.model_construct())]


def _egov_consumers() -> list[ConsumerSpec]:
    from kommune_egov.applications.consumers import filing_consumer
    from kommune_egov.settings import EgovSettings
    from kommune_egov.workorders.consumers import alert_consumer

    defaults = EgovSettings.model_construct()
    return [filing_consumer(defaults), alert_consumer(defaults)]


def _documents_consumers() -> list[ConsumerSpec]:
    from kommune_documents.filing.consumers import filing_consumer
    from kommune_documents.ocr.consumer import ocr_consumer
    from kommune_documents.settings import DocumentsSettings

    defaults = DocumentsSettings.model_construct()
    return [filing_consumer(defaults), ocr_consumer(defaults)]


def _gateway_consumers() -> list[ConsumerSpec]:
    from kommune_gateway.activity import Changes, activity_consumer
    from kommune_gateway.settings import GatewaySettings

    return [activity_consumer(GatewaySettings.model_construct(), Changes())]


def _gateway() -> Sequence[TopicSpec]:
    from kommune_gateway.activity import CONSUMED_TOPICS

    return CONSUMED_TOPICS


def _ideas() -> Sequence[TopicSpec]:
    from kommune_ideas import events

    return events.declared_topics()


def _egov() -> Sequence[TopicSpec]:
    from kommune_egov import events

    return events.declared_topics()


def _documents() -> Sequence[TopicSpec]:
    from kommune_documents import events

    return events.declared_topics()


def _sensors() -> Sequence[TopicSpec]:
    from kommune_sensors import events

    return events.declared_topics()


TOPICS: dict[str, Callable[[], Sequence[TopicSpec]]] = {
    "ideas": _ideas,
    "egov": _egov,
    "documents": _documents,
    "sensors": _sensors,
    "gateway": _gateway,
}
"""Service name → the topics it declares (owned and consumed), as its app passes them on."""

CONSUMERS: dict[str, Callable[[], Sequence[ConsumerSpec]]] = {
    "ideas": _ideas_consumers,
    "egov": _egov_consumers,
    "documents": _documents_consumers,
    "gateway": _gateway_consumers,
}
"""Service name → its consumer groups (``ConsumerSpec``s), as its app builds them (the sensors
writer is a batch consumer of its own, not a ``ConsumerSpec``: it dead-letters nothing)."""

NOT_SCALED_BY_LAG = {"gateway"}
"""Apps whose consumer does not drive their replica count: the gateway's activity feed is a
light consumer in every replica; the gateway scales with its HTTP load."""


def service_topics(service: str) -> list[TopicSpec]:
    """A service's declared topics plus the dead-letter topic of each of its consumer groups."""
    consumers = CONSUMERS.get(service, lambda: ())()
    return [*TOPICS[service](), *(t for c in consumers for t in c.dead_letter_topics())]


SERVICES: dict[str, Callable[[], Sequence[TopicSpec]]] = {
    name: functools.partial(service_topics, name) for name in TOPICS
}
"""Service name → every topic it needs (what ``render`` writes and ``tests/k8s`` checks)."""


@dataclass(frozen=True, slots=True)
class DeclaredTopic:
    spec: TopicSpec
    declared_by: tuple[str, ...]


def declared_topics() -> list[DeclaredTopic]:
    """Every topic any service declares, sorted by name.

    A topic declared by several services (a consumer declares the topics it reads) must be
    declared identically everywhere; a conflict is an error, not a silent choice.
    """
    found: dict[str, DeclaredTopic] = {}
    for service, declarations in sorted(SERVICES.items()):
        for spec in declarations():
            seen = found.get(spec.name)
            if seen is None:
                found[spec.name] = DeclaredTopic(spec, (service,))
                continue
            if seen.spec != spec:
                raise ValueError(
                    f"topic {spec.name!r} is declared differently by {', '.join(seen.declared_by)}"
                    f" ({seen.spec}) and by {service} ({spec})"
                )
            if service not in seen.declared_by:
                found[spec.name] = DeclaredTopic(spec, (*seen.declared_by, service))
    return [found[name] for name in sorted(found)]


def resource_name(topic: str) -> str:
    """The ``KafkaTopic`` name: the topic name itself when Kubernetes allows it."""
    if len(topic) <= 253 and _DNS_SUBDOMAIN.match(topic):
        return topic
    name = re.sub(r"[^a-z0-9.-]+", "-", topic.lower()).strip("-.")
    return name[:253].rstrip("-.")


def kafka_topic(topic: DeclaredTopic) -> dict[str, Any]:
    spec = topic.spec
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        "metadata": {
            "name": resource_name(spec.name),
            "labels": {
                "strimzi.io/cluster": KAFKA_CLUSTER,
                "app.kubernetes.io/part-of": "kommune",
                "app.kubernetes.io/managed-by": "render_topics",
            },
            "annotations": {"kommune/declared-by": ",".join(topic.declared_by)},
        },
        # No ``replicas``: the brokers' default.replication.factor applies (3 in production,
        # 1 on a one-broker dev cluster), as with ensure_topics (broker count, capped at 3).
        "spec": {
            "topicName": spec.name,
            "partitions": spec.partitions,
            "config": dict(sorted(spec.configs().items())),
        },
    }


def render() -> str:
    topics = declared_topics()
    names = [resource_name(t.spec.name) for t in topics]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"topics map to the same KafkaTopic name: {duplicates}")
    header = (
        "# GENERATED by k8s/tools/render_topics.py from the services' TopicSpec declarations.\n"
        "# Do not edit: change the declaration in services/<name>/src/kommune_<name>/events.py\n"
        "# and run `uv run python k8s/tools/render_topics.py` (tests/k8s checks freshness).\n"
    )
    body = yaml.safe_dump_all(
        (kafka_topic(t) for t in topics), sort_keys=False, default_flow_style=False
    )
    return header + body


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    rendered = render()
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
    if args.check:
        if current == rendered:
            return 0
        sys.stderr.writelines(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                rendered.splitlines(keepends=True),
                fromfile=str(args.output),
                tofile="rendered from the declarations",
            )
        )
        sys.stderr.write(f"{args.output} is stale: run uv run python k8s/tools/render_topics.py\n")
        return 1
    if current != rendered:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(rendered, encoding="utf-8")
        print(f"wrote {args.output.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
