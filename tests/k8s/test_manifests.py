"""The Kubernetes manifests, checked offline: rendered by a real kustomize, built-in kinds validated
strictly against the Kubernetes API schemas, custom resources against structural schemas, and
the platform's house rules (hardening, availability, network model, configuration, topics).

``make k8s`` runs this module alone; ``make test`` runs it with everything else.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from kommune.events.consumer import ConsumerSpec
from kommune.events.topics import TopicSpec

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
TOOLS = REPO / ".run" / "tools"

KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
KUSTOMIZE_VERSION = "v5.8.2"
"""The newest kustomize v5 that builds with the Go on our machines (v5.8.3 needs Go 1.27)."""

TARGETS: dict[str, Path] = {
    "base": K8S / "base",
    **{
        path.name: path
        for path in sorted((K8S / "overlays").iterdir())
        if (path / "kustomization.yaml").is_file()
    },
}
"""Everything that must render: the base alone and every overlay."""

Resource = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    target: str
    resources: list[Resource]

    def of_kind(self, kind: str) -> list[Resource]:
        return [r for r in self.resources if r.get("kind") == kind]

    def get(self, kind: str, name: str) -> Resource:
        matches = [r for r in self.of_kind(kind) if r["metadata"]["name"] == name]
        assert len(matches) == 1, f"{self.target}: expected one {kind}/{name}, found {len(matches)}"
        return matches[0]

    def config_map(self, name: str) -> dict[str, str]:
        data: dict[str, str] = self.get("ConfigMap", name).get("data", {})
        return data


def _installed_version(binary: Path) -> str | None:
    if not binary.is_file():
        return None
    try:
        result = subprocess.run(  # noqa: S603 (our own tool binary)
            [str(binary), "version"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip()


@pytest.fixture(scope="session")
def kustomize() -> Path:
    """A kustomize binary of :data:`KUSTOMIZE_VERSION` (built with ``go install`` if missing)."""
    binary = TOOLS / "kustomize"
    if _installed_version(binary) == KUSTOMIZE_VERSION:
        return binary
    go = shutil.which("go")
    if go is None:
        pytest.skip(
            f"no Go toolchain on PATH: cannot build kustomize {KUSTOMIZE_VERSION} "
            f"(install Go, or put that kustomize at {binary.relative_to(REPO)})"
        )
    TOOLS.mkdir(parents=True, exist_ok=True)
    # Build into a temporary folder and move it in place, so that a concurrent session never
    # runs a half-written binary.
    with tempfile.TemporaryDirectory(dir=TOOLS, prefix=".kustomize-") as tmp:
        env = {**os.environ, "GOBIN": tmp, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"}
        result = subprocess.run(  # noqa: S603 (go from PATH, fixed module and version)
            [go, "install", f"{KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"go install {KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION} failed:\n{result.stderr}",
                pytrace=False,
            )
        os.replace(Path(tmp) / "kustomize", binary)
    assert _installed_version(binary) == KUSTOMIZE_VERSION
    return binary


def build(kustomize: Path, path: Path) -> list[Resource]:
    result = subprocess.run(  # noqa: S603 (our kustomize on a folder of this repository)
        [str(kustomize), "build", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"kustomize build {path.relative_to(REPO)}:\n{result.stderr}", pytrace=False)
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def rendered(kustomize: Path) -> dict[str, Rendered]:
    return {name: Rendered(name, build(kustomize, path)) for name, path in TARGETS.items()}


pytestmark = pytest.mark.timeout(600)  # the first test may build kustomize (~25 s cold)

KUBERNETES_VERSION = "1.32.0"
"""The oldest Kubernetes the manifests support; built-in kinds are validated against it."""
NEWEST_KUBERNETES_VERSION = kubernetes_validate.latest_version()
"""Also validated: catches an API the newest release has removed."""

OVERLAYS = [name for name in TARGETS if name != "base"]
SERVER = "server"
MIGRATION = "migration"
NAME = "app.kubernetes.io/name"
COMPONENT = "app.kubernetes.io/component"
PART_OF = "app.kubernetes.io/part-of"
WORKLOAD_KINDS = ("Deployment", "Job", "StatefulSet", "DaemonSet", "CronJob")
UVICORN_GRACEFUL_SHUTDOWN_S = 20  # --timeout-graceful-shutdown in the images' CMD
EXPANSION = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
EXTRA_ENV = {"FORWARDED_ALLOW_IPS"}
"""Variables read by something other than our settings (uvicorn)."""


def _settings_classes() -> dict[str, type[BaseSettings]]:
    from kommune_documents.settings import DocumentsSettings
    from kommune_egov.settings import EgovSettings
    from kommune_gateway.settings import GatewaySettings
    from kommune_ideas.settings import IdeasSettings
    from kommune_sensors.settings import SensorsSettings

    return {
        "gateway": GatewaySettings,
        "ideas": IdeasSettings,
        "egov": EgovSettings,
        "documents": DocumentsSettings,
        "sensors": SensorsSettings,
    }


def _consumers() -> dict[str, list[ConsumerSpec]]:
    """What each service subscribes to, as its app builds it (default settings): the registry
    k8s/tools/render_topics.py renders the dead-letter topics from."""
    return {name: list(specs()) for name, specs in _render_topics_module().CONSUMERS.items()}


MAX_REPLICAS = {"sensors": 12}
"""Autoscaling caps other than 6: the sensors writers scale to the partitions of
sensors.observation.v1 (12)."""

REQUIRED_ENV = {
    "gateway": {"KOMMUNE_ENVIRONMENT", "KOMMUNE_OIDC_ISSUER", "GATEWAY_UPSTREAM_IDEAS"},
    "ideas": {
        "KOMMUNE_ENVIRONMENT",
        "KOMMUNE_OIDC_ISSUER",
        "IDEAS_DATABASE_URL",
        "IDEAS_KAFKA_BOOTSTRAP_SERVERS",
    },
    "egov": {
        "KOMMUNE_ENVIRONMENT",
        "KOMMUNE_OIDC_ISSUER",
        "EGOV_DATABASE_URL",
        "EGOV_KAFKA_BOOTSTRAP_SERVERS",
    },
    "documents": {
        "KOMMUNE_ENVIRONMENT",
        "KOMMUNE_OIDC_ISSUER",
        "DOCUMENTS_DATABASE_URL",
        "DOCUMENTS_KAFKA_BOOTSTRAP_SERVERS",
    },
    "sensors": {
        "KOMMUNE_ENVIRONMENT",
        "KOMMUNE_OIDC_ISSUER",
        "SENSORS_DATABASE_URL",
        "SENSORS_KAFKA_BOOTSTRAP_SERVERS",
    },
}


# ---- helpers -------------------------------------------------------------------------------


@functools.cache
def _render_topics_module() -> ModuleType:
    """k8s/tools/render_topics.py (a script, not a package), imported once."""
    name = "kommune_k8s_render_topics"
    spec = importlib.util.spec_from_file_location(name, K8S / "tools" / "render_topics.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _cr_schemas() -> dict[str, Any]:
    document = yaml.safe_load(
        (Path(__file__).parent / "custom-resources.schema.yaml").read_text(encoding="utf-8")
    )
    return {
        key: {"$defs": document["$defs"], **schema} for key, schema in document["schemas"].items()
    }


CR_SCHEMAS = _cr_schemas()


def _id(resource: Resource) -> str:
    return f"{resource['kind']}/{resource['metadata']['name']}"


def _pod_template(resource: Resource) -> Resource | None:
    if resource["kind"] == "CronJob":
        template: Resource = resource["spec"]["jobTemplate"]["spec"]["template"]
        return template
    if resource["kind"] in WORKLOAD_KINDS:
        pod: Resource = resource["spec"]["template"]
        return pod
    return None


def _workloads(r: Rendered) -> Iterator[tuple[Resource, Resource]]:
    for resource in r.resources:
        template = _pod_template(resource)
        if template is not None:
            yield resource, template


def _containers(template: Resource) -> list[Resource]:
    spec = template["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def _labels(template: Resource) -> dict[str, str]:
    labels: dict[str, str] = template["metadata"].get("labels", {})
    return labels


def _matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """matchLabels semantics (we use no matchExpressions; a selector with them fails here)."""
    assert set(selector) <= {"matchLabels"}, f"unsupported selector {selector}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _effective_env(r: Rendered, container: Resource) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom first, then env in order
    with $(VAR) expanded from what is defined so far. Secrets stay symbolic."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, f"{container['name']}: envFrom {source}"
        env.update(r.config_map(source["configMapRef"]["name"]))
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = EXPANSION.sub(
                lambda m: env.get(m.group(1), m.group(0)), str(var["value"])
            )
        elif "secretKeyRef" in var["valueFrom"]:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = f"<secret {ref['name']}/{ref['key']}>"
        elif "configMapKeyRef" in var["valueFrom"]:
            ref = var["valueFrom"]["configMapKeyRef"]
            env[var["name"]] = r.config_map(ref["name"])[ref["key"]]
        else:
            env[var["name"]] = "<field>"
    return env


def _settings_env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice.upper() for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def _database_url_var(container: Resource) -> Resource | None:
    env: list[Resource] = container.get("env", [])
    return next((var for var in env if var["name"].endswith("_DATABASE_URL")), None)


CURSOR_SECRET = "kommune-cursor"
"""The Secret holding ``KOMMUNE_CURSOR_SECRET`` (list cursors' HMAC key), one per deployment."""


def _secret_refs(container: Resource) -> set[str]:
    return {
        var["valueFrom"]["secretKeyRef"]["name"]
        for var in container.get("env", [])
        if "secretKeyRef" in var.get("valueFrom", {})
    }


def _autoscalers(r: Rendered, deployment: str) -> list[Resource]:
    return [
        a
        for a in [*r.of_kind("HorizontalPodAutoscaler"), *r.of_kind("ScaledObject")]
        if a["spec"]["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
        and a["spec"]["scaleTargetRef"]["name"] == deployment
    ]


def _replica_bounds(autoscaler: Resource) -> tuple[int, int]:
    spec = autoscaler["spec"]
    if autoscaler["kind"] == "ScaledObject":
        return int(spec.get("minReplicaCount", 0)), int(spec.get("maxReplicaCount", 100))
    return int(spec.get("minReplicas", 1)), int(spec["maxReplicas"])


def _policies_for(r: Rendered, labels: Mapping[str, str]) -> list[Resource]:
    return [p for p in r.of_kind("NetworkPolicy") if _matches(p["spec"]["podSelector"], labels)]


def _port_allowed(rule: Resource, port: int, names: Mapping[str, int]) -> bool:
    for p in rule.get("ports", []):
        value = p.get("port")
        number = names.get(value) if isinstance(value, str) else value
        if number is not None and number <= port <= p.get("endPort", number):
            return True
    return False


def _container_ports(template: Resource) -> dict[str, int]:
    return {
        p["name"]: p["containerPort"]
        for c in template["spec"]["containers"]
        for p in c.get("ports", [])
        if "name" in p
    }


def _evaluate_selector(selector: str, labels: Mapping[str, str]) -> bool:
    """The two label-selector forms k8s/tools/deploy.sh uses: ``k=v`` and ``k notin (a,b)``."""
    if m := re.fullmatch(r"\s*([\w./-]+)\s+notin\s+\(([^)]*)\)\s*", selector):
        return labels.get(m.group(1)) not in {v.strip() for v in m.group(2).split(",")}
    if m := re.fullmatch(r"\s*([\w./-]+)\s*=\s*([\w.-]+)\s*", selector):
        return labels.get(m.group(1)) == m.group(2)
    raise AssertionError(f"unsupported selector {selector!r}")


def _all_workload_targets() -> list[tuple[str, str]]:
    return [(t, w) for t in TARGETS for w in ("gateway", "ideas", "egov", "documents", "sensors")]


@pytest.fixture(params=list(TARGETS))
def target(request: pytest.FixtureRequest, rendered: dict[str, Rendered]) -> Rendered:
    return rendered[request.param]


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest, rendered: dict[str, Rendered]) -> Rendered:
    return rendered[request.param]


# ---- rendering and schemas -----------------------------------------------------------------


def test_every_workload_of_the_base_is_deployed(target: Rendered) -> None:
    """Each folder of k8s/base with a Deployment is a workload every overlay must run."""
    workloads = {
        path.parent.name
        for path in (K8S / "base").glob("*/deployment.yaml")
        if path.parent.name != "platform"
    }
    assert workloads == set(_settings_classes()), "register the new workload's settings class"
    deployed = {d["metadata"]["name"] for d in target.of_kind("Deployment")}
    assert deployed == workloads, f"{target.target}: {sorted(deployed)} != {sorted(workloads)}"


def test_overlays_render_into_one_namespace(overlay: Rendered) -> None:
    namespaces = {
        r["metadata"].get("namespace") for r in overlay.resources if r["kind"] != "Namespace"
    }
    assert len(namespaces) == 1, namespaces
    assert None not in namespaces
    (namespace,) = namespaces
    assert [n["metadata"]["name"] for n in overlay.of_kind("Namespace")] == [namespace]


@pytest.mark.parametrize("version", [KUBERNETES_VERSION, NEWEST_KUBERNETES_VERSION])
def test_builtin_kinds_are_valid_kubernetes(target: Rendered, version: str) -> None:
    errors: list[str] = []
    for resource in target.resources:
        if f"{resource['apiVersion']} {resource['kind']}" in CR_SCHEMAS:
            continue
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"{_id(resource)}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(
                f"{_id(resource)}: {exc.message} (a custom resource needs a schema in "
                "tests/k8s/custom-resources.schema.yaml)"
            )
    assert not errors, f"{target.target} against Kubernetes {version}:\n" + "\n".join(errors)


def test_custom_resources_match_their_schemas(target: Rendered) -> None:
    errors: list[str] = []
    for resource in target.resources:
        schema = CR_SCHEMAS.get(f"{resource['apiVersion']} {resource['kind']}")
        if schema is None:
            continue
        validator = jsonschema.Draft202012Validator(schema)
        for error in validator.iter_errors(resource):
            path = ".".join(str(p) for p in error.absolute_path)
            errors.append(f"{_id(resource)}: {path}: {error.message}")
    assert not errors, f"{target.target}:\n" + "\n".join(errors)


# ---- containers and pods -------------------------------------------------------------------


def test_every_container_is_hardened(target: Rendered) -> None:
    problems: list[str] = []
    for resource, template in _workloads(target):
        spec = template["spec"]
        pod_sc = spec.get("securityContext", {})
        where = _id(resource)
        if pod_sc.get("runAsNonRoot") is not True:
            problems.append(f"{where}: pod securityContext.runAsNonRoot must be true")
        if pod_sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}: pod seccompProfile must be RuntimeDefault")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: automountServiceAccountToken must be false")
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(flag):
                problems.append(f"{where}: {flag}")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in _containers(template):
            c = f"{where}[{container['name']}]"
            sc = container.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{c}: allowPrivilegeEscalation must be false")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{c}: readOnlyRootFilesystem must be true")
            if sc.get("privileged"):
                problems.append(f"{c}: privileged")
            if sc.get("capabilities", {}).get("drop") != ["ALL"] or sc["capabilities"].get("add"):
                problems.append(f"{c}: capabilities must drop ALL and add none")
            if sc.get("runAsNonRoot") is False or sc.get("runAsUser") == 0:
                problems.append(f"{c}: runs as root")
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                for what in ("cpu", "memory"):
                    if what not in resources.get(kind, {}):
                        problems.append(f"{c}: resources.{kind}.{what} missing")
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            tmp = volumes.get(mounts.get("/tmp", ""), {})  # noqa: S108 (reads a mount, writes nothing)
            if "emptyDir" not in tmp:
                problems.append(f"{c}: no writable /tmp (emptyDir) on a read-only root filesystem")
    assert not problems, f"{target.target}:\n" + "\n".join(problems)


def test_server_containers_have_probes_and_drain(target: Rendered) -> None:
    problems: list[str] = []
    for deployment in target.of_kind("Deployment"):
        template = deployment["spec"]["template"]
        ports = _container_ports(template)
        grace = template["spec"].get("terminationGracePeriodSeconds", 30)
        for container in template["spec"]["containers"]:
            c = f"Deployment/{deployment['metadata']['name']}[{container['name']}]"
            paths = {}
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                http = container.get(probe, {}).get("httpGet")
                if http is None:
                    problems.append(f"{c}: no HTTP {probe}")
                    continue
                paths[probe] = http["path"]
                if http["port"] not in ports and http["port"] not in ports.values():
                    problems.append(f"{c}: {probe} port {http['port']} is not a container port")
            # Liveness checks only the process: a database outage must never restart pods.
            if paths.get("livenessProbe") not in (None, "/healthz"):
                problems.append(f"{c}: liveness must probe /healthz, not {paths['livenessProbe']}")
            if paths.get("readinessProbe") not in (None, "/readyz"):
                problems.append(f"{c}: readiness must probe /readyz")
            sleep = (
                container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
            )
            if not sleep:
                problems.append(f"{c}: no preStop sleep (endpoints must drain before SIGTERM)")
            elif grace < max(30, sleep + UVICORN_GRACEFUL_SHUTDOWN_S):
                problems.append(
                    f"{c}: terminationGracePeriodSeconds {grace} < 30 or < preStop {sleep} s "
                    f"+ uvicorn's {UVICORN_GRACEFUL_SHUTDOWN_S} s graceful shutdown"
                )
    assert not problems, f"{target.target}:\n" + "\n".join(problems)


def test_deployments_spread_over_nodes_and_zones(target: Rendered) -> None:
    for deployment in target.of_kind("Deployment"):
        template = deployment["spec"]["template"]
        constraints = template["spec"].get("topologySpreadConstraints", [])
        keys = {
            c["topologyKey"] for c in constraints if _matches(c["labelSelector"], _labels(template))
        }
        assert {"kubernetes.io/hostname", "topology.kubernetes.io/zone"} <= keys, (
            f"{target.target}: {_id(deployment)} spreads over {sorted(keys)}"
        )


def test_environment_references_resolve(target: Rendered) -> None:
    problems: list[str] = []
    for resource, template in _workloads(target):
        for container in _containers(template):
            env = _effective_env(target, container)
            for name, value in env.items():
                for ref in EXPANSION.findall(value):
                    problems.append(
                        f"{_id(resource)}[{container['name']}]: {name} uses undefined $({ref})"
                    )
    assert not problems, f"{target.target}:\n" + "\n".join(problems)


@pytest.mark.parametrize(("target_name", "workload"), _all_workload_targets())
def test_environment_names_are_real_settings(
    rendered: dict[str, Rendered], target_name: str, workload: str
) -> None:
    """A misspelt variable is silently ignored by pydantic-settings: catch it here."""
    r = rendered[target_name]
    settings_names = _settings_env_names(_settings_classes()[workload])
    problems: list[str] = []
    for resource, template in _workloads(r):
        if _labels(template).get(NAME) != workload:
            continue
        for container in _containers(template):
            env = _effective_env(r, container)
            referenced = {
                ref
                for var in container.get("env", [])
                for ref in EXPANSION.findall(str(var.get("value", "")))
            }
            own = {var["name"] for var in container.get("env", [])}
            for name in own:
                if name not in settings_names | referenced | EXTRA_ENV:
                    problems.append(f"{_id(resource)}: env {name} is no setting of {workload}")
            if resource["kind"] == "Deployment":
                missing = REQUIRED_ENV[workload] - set(env)
                if missing:
                    problems.append(f"{_id(resource)}: missing {sorted(missing)}")
    # Every key of a ConfigMap loaded with envFrom must mean something to a container loading it.
    for config in r.of_kind("ConfigMap"):
        loaders = [
            (c, _labels(t).get(NAME, ""))
            for _, t in _workloads(r)
            for c in _containers(t)
            if any(
                s.get("configMapRef", {}).get("name") == config["metadata"]["name"]
                for s in c.get("envFrom", [])
            )
        ]
        if not loaders:
            continue
        for key in config.get("data", {}):
            used = any(
                key in _settings_env_names(_settings_classes()[w])
                or key in EXTRA_ENV
                or any(key in EXPANSION.findall(str(v.get("value", ""))) for v in c.get("env", []))
                for c, w in loaders
            )
            if not used:
                problems.append(f"ConfigMap/{config['metadata']['name']}: {key} is read by nobody")
    assert not problems, f"{target_name}:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("target_name", "environment"),
    [("base", "production"), ("production", "production"), ("dev", "dev")],
)
def test_environment_and_issuer(
    rendered: dict[str, Rendered], target_name: str, environment: str
) -> None:
    r = rendered[target_name]
    for resource, template in _workloads(r):
        for container in _containers(template):
            env = _effective_env(r, container)
            where = f"{target_name} {_id(resource)}[{container['name']}]"
            assert env.get("KOMMUNE_ENVIRONMENT") == environment, where
            issuer = env["KOMMUNE_OIDC_ISSUER"]
            if environment == "production":
                # The dev issuer is mounted only in dev/test; production must never point at it.
                assert issuer.startswith("https://"), f"{where}: issuer {issuer}"
                assert "/auth/dev" not in issuer, f"{where}: issuer {issuer}"


def test_secrets_are_referenced_not_committed(target: Rendered) -> None:
    assert not target.of_kind("Secret"), "secret values do not belong in the repository"
    docs = (REPO / "docs" / "kubernetes.md").read_text(encoding="utf-8")
    for resource, template in _workloads(target):
        for container in _containers(template):
            for secret in _secret_refs(container):
                assert secret in docs, (
                    f"{_id(resource)}: Secret {secret} is not documented in docs/kubernetes.md"
                )


def test_images(overlay: Rendered) -> None:
    for resource, template in _workloads(overlay):
        for container in _containers(template):
            image = container["image"]
            if overlay.target == "production":
                assert re.fullmatch(r"[^@]+@sha256:[0-9a-f]{64}", image), (
                    f"{_id(resource)}: {image} not pinned by digest"
                )
                assert not image.startswith("kommune/"), f"{_id(resource)}: {image} has no registry"
            else:
                assert re.fullmatch(r"[^@:]+:[\w.-]+", image), (
                    f"{_id(resource)}: {image} has no tag"
                )


# ---- availability and scaling --------------------------------------------------------------


def test_every_deployment_has_pdb_service_and_network_policy(target: Rendered) -> None:
    jobs = [t for res, t in _workloads(target) if res["kind"] != "Deployment"]
    problems: list[str] = []
    for deployment in target.of_kind("Deployment"):
        template = deployment["spec"]["template"]
        labels = _labels(template)
        where = _id(deployment)
        if not _matches(deployment["spec"]["selector"], labels):
            problems.append(f"{where}: selector does not match its pods")
        pdbs = [
            p
            for p in target.of_kind("PodDisruptionBudget")
            if _matches(p["spec"]["selector"], labels)
        ]
        if len(pdbs) != 1:
            problems.append(f"{where}: {len(pdbs)} PodDisruptionBudgets")
        services = [
            s
            for s in target.of_kind("Service")
            if _matches({"matchLabels": s["spec"]["selector"]}, labels)
        ]
        if not services:
            problems.append(f"{where}: no Service")
        for service in services:
            for port in service["spec"]["ports"]:
                if port["targetPort"] not in _container_ports(template):
                    problems.append(
                        f"{_id(service)}: targetPort {port['targetPort']} is no container port"
                    )
        own = [
            p
            for p in _policies_for(target, labels)
            if p["spec"]["podSelector"].get("matchLabels", {}).get(NAME) == labels[NAME]
        ]
        if not own:
            problems.append(f"{where}: no NetworkPolicy of its own")
    # Job pods share the service's name label: nothing may route traffic to them or count them.
    for template in jobs:
        for kind, selector in [
            *(
                ("Service", {"matchLabels": s["spec"]["selector"]})
                for s in target.of_kind("Service")
            ),
            *(
                ("PodDisruptionBudget", p["spec"]["selector"])
                for p in target.of_kind("PodDisruptionBudget")
            ),
        ]:
            if _matches(selector, _labels(template)):
                problems.append(f"a {kind} selects the pods of a Job ({_labels(template)})")
    assert not problems, f"{target.target}:\n" + "\n".join(problems)


def test_scaling(target: Rendered) -> None:
    for deployment in target.of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        autoscalers = _autoscalers(target, name)
        pdb = next(
            p
            for p in target.of_kind("PodDisruptionBudget")
            if _matches(p["spec"]["selector"], _labels(deployment["spec"]["template"]))
        )
        if target.target == "dev":
            assert deployment["spec"].get("replicas") == 1, name
            assert not autoscalers, f"dev: {name} has an autoscaler"
            assert pdb["spec"].get("maxUnavailable") == 1, (
                "dev PDBs must not block draining the only node"
            )
            continue
        # One autoscaler owns the replica count; a spec.replicas would fight it on every apply.
        assert len(autoscalers) == 1, f"{target.target}: {name} has {len(autoscalers)} autoscalers"
        assert "replicas" not in deployment["spec"], f"{target.target}: {name} sets spec.replicas"
        assert _replica_bounds(autoscalers[0]) == (2, MAX_REPLICAS.get(name, 6)), (
            f"{target.target}: {name}"
        )
        assert pdb["spec"].get("minAvailable") == 1, f"{target.target}: {name} PDB"
        # CPU utilisation needs CPU requests.
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert container["resources"]["requests"]["cpu"]


def test_keda_scales_consumers_by_their_real_lag(rendered: dict[str, Rendered]) -> None:
    r = rendered["production"]
    kafka = r.of_kind("Kafka")[0]
    listener = kafka["spec"]["kafka"]["listeners"][0]
    consumers = _consumers()
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in r.of_kind("ScaledObject")}
    topics = {t["spec"]["topicName"]: t for t in r.of_kind("KafkaTopic")}
    for service, specs in consumers.items():
        if service in _render_topics_module().NOT_SCALED_BY_LAG:
            assert service not in scaled or not [
                t for t in scaled[service]["spec"]["triggers"] if t["type"] == "kafka"
            ]
            continue
        assert service in scaled, f"{service} consumes Kafka but has no ScaledObject"
        scaled_object = scaled[service]
        namespace = scaled_object["metadata"]["namespace"]
        triggers = [t for t in scaled_object["spec"]["triggers"] if t["type"] == "kafka"]
        assert any(t["type"] == "cpu" for t in scaled_object["spec"]["triggers"]), (
            "HTTP load needs the CPU trigger"
        )
        wanted = {(spec.group_id, topic) for spec in specs for topic in spec.topics}
        got = {(t["metadata"]["consumerGroup"], t["metadata"]["topic"]) for t in triggers}
        assert got == wanted, f"{service}: triggers {sorted(got)} != subscriptions {sorted(wanted)}"
        for trigger in triggers:
            meta = trigger["metadata"]
            # KEDA runs in its own namespace: the full service name of the bootstrap service.
            expected = (
                f"{kafka['metadata']['name']}-kafka-bootstrap.{namespace}.svc:{listener['port']}"
            )
            assert meta["bootstrapServers"] == expected
            assert meta.get("allowIdleConsumers", "false") == "false"
            assert meta["topic"] in topics, f"{meta['topic']} has no KafkaTopic"


# ---- network model -------------------------------------------------------------------------


def test_network_policies(target: Rendered) -> None:
    problems: list[str] = []
    for policy in target.of_kind("NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            if not rule.get("from") or not rule.get("ports"):
                problems.append(f"{_id(policy)}: an ingress rule open to every peer or port")
        for rule in policy["spec"].get("egress", []):
            if not rule.get("to") or not rule.get("ports"):
                problems.append(f"{_id(policy)}: an egress rule open to every peer or port")
    gateway_labels = _labels(target.get("Deployment", "gateway")["spec"]["template"])
    for resource, template in _workloads(target):
        labels = _labels(template)
        policies = _policies_for(target, labels)
        deny = [
            p
            for p in policies
            if set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
        ]
        if not deny:
            problems.append(f"{_id(resource)}: not covered by a default-deny policy")
        if resource["kind"] != "Deployment" or labels[NAME] == "gateway":
            continue
        # Services accept traffic from the gateway only (and Prometheus scraping /metrics).
        for policy in policies:
            for rule in policy["spec"].get("ingress", []):
                for peer in rule["from"]:
                    from_gateway = (
                        "podSelector" in peer
                        and "namespaceSelector" not in peer
                        and _matches(peer["podSelector"], gateway_labels)
                    )
                    from_monitoring = (
                        peer.get("namespaceSelector", {})
                        .get("matchLabels", {})
                        .get("kubernetes.io/metadata.name")
                        == "monitoring"
                    )
                    if not (from_gateway or from_monitoring):
                        problems.append(f"{_id(resource)}: {_id(policy)} admits {peer}")
    assert not problems, f"{target.target}:\n" + "\n".join(problems)


def test_gateway_can_reach_every_upstream(target: Rendered) -> None:
    gateway = target.get("Deployment", "gateway")
    container = gateway["spec"]["template"]["spec"]["containers"][0]
    env = _effective_env(target, container)
    gateway_labels = _labels(gateway["spec"]["template"])
    upstreams = {k: v for k, v in env.items() if k.startswith("GATEWAY_UPSTREAM_") and v}
    assert upstreams, "the gateway routes to no service"
    for key, url in upstreams.items():
        parts = urlsplit(url)
        service = target.get("Service", parts.hostname or "")
        port = next(p for p in service["spec"]["ports"] if p["port"] == parts.port)
        pods = [
            t
            for d, t in _workloads(target)
            if d["kind"] == "Deployment"
            and _matches({"matchLabels": service["spec"]["selector"]}, _labels(t))
        ]
        assert pods, f"{key}: Service {parts.hostname} selects no Deployment"
        container_port = _container_ports(pods[0])[port["targetPort"]]
        egress_ok = any(
            _port_allowed(rule, container_port, {})
            and any(
                "podSelector" in peer and _matches(peer["podSelector"], _labels(pods[0]))
                for peer in rule["to"]
            )
            for policy in _policies_for(target, gateway_labels)
            for rule in policy["spec"].get("egress", [])
        )
        ingress_ok = any(
            _port_allowed(rule, container_port, _container_ports(pods[0]))
            and any(
                "podSelector" in peer and _matches(peer["podSelector"], gateway_labels)
                for peer in rule["from"]
            )
            for policy in _policies_for(target, _labels(pods[0]))
            for rule in policy["spec"].get("ingress", [])
        )
        assert egress_ok, f"{key}: the gateway's egress does not allow {url}"
        assert ingress_ok, f"{key}: {parts.hostname} does not admit the gateway on {container_port}"


def test_ingress_exposes_only_the_gateway_api(target: Rendered) -> None:
    ingresses = target.of_kind("Ingress")
    assert len(ingresses) == 1
    paths = {p["path"]: p for rule in ingresses[0]["spec"]["rules"] for p in rule["http"]["paths"]}
    assert all(p["backend"]["service"]["name"] == "gateway" for p in paths.values())
    assert not {"/", "/metrics", "/healthz", "/readyz"} & set(paths), sorted(paths)
    assert ("/auth/dev" in paths) == (target.target == "dev"), sorted(paths)


# ---- migrations and deploy order -----------------------------------------------------------


def test_every_database_service_has_a_migration_job(target: Rendered) -> None:
    jobs = target.of_kind("Job")
    for deployment in target.of_kind("Deployment"):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        url = _database_url_var(container)
        if url is None:
            continue
        name = deployment["metadata"]["name"]
        matching = [j for j in jobs if _labels(j["spec"]["template"]).get(NAME) == name]
        assert len(matching) == 1, f"{name} has a database but {len(matching)} migration Jobs"
        job = matching[0]
        migrate = job["spec"]["template"]["spec"]["containers"][0]
        assert migrate["command"] == ["alembic", "upgrade", "head"]
        assert migrate["image"] == container["image"], "migrations must come from the same image"
        assert _database_url_var(migrate) == url
        assert (
            _effective_env(target, migrate)[url["name"]]
            == _effective_env(target, container)[url["name"]]
        )
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        assert job["spec"].get("parallelism", 1) == 1
        assert job["spec"].get("completions", 1) == 1


def test_deploy_script_phases_cover_everything(target: Rendered) -> None:
    script = (K8S / "tools" / "deploy.sh").read_text(encoding="utf-8")
    selectors = dict(re.findall(r"^(PREPARE|MIGRATE|ROLLOUT)='([^']+)'$", script, re.MULTILINE))
    assert set(selectors) == {"PREPARE", "MIGRATE", "ROLLOUT"}
    for resource in target.resources:
        labels = resource["metadata"].get("labels", {})
        phases = [p for p, s in selectors.items() if _evaluate_selector(s, labels)]
        assert len(phases) == 1, f"{_id(resource)} is in phases {phases}"
        expected = {"Job": "MIGRATE", "Deployment": "ROLLOUT"}.get(resource["kind"], "PREPARE")
        assert phases == [expected], (
            f"{_id(resource)} would be applied in {phases[0]}, not {expected}"
        )


def test_deploy_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(K8S / "tools" / "deploy.sh")], check=True)  # noqa: S603, S607


# ---- infrastructure: PostgreSQL and Kafka --------------------------------------------------


def test_every_database_has_a_role_database_and_extensions(overlay: Rendered) -> None:
    (cluster,) = overlay.of_kind("Cluster")
    platform = overlay.config_map("kommune-platform")
    assert platform["POSTGRES_HOST"] == f"{cluster['metadata']['name']}-rw"
    roles = {role["name"]: role for role in cluster["spec"].get("managed", {}).get("roles", [])}
    databases = {d["spec"]["name"]: d for d in overlay.of_kind("Database")}
    for deployment in overlay.of_kind("Deployment"):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        url = _database_url_var(container)
        if url is None:
            continue
        name = deployment["metadata"]["name"]
        database_name = urlsplit(url["value"]).path.lstrip("/")
        database = databases.get(database_name)
        assert database is not None, f"{name}: no Database resource for {database_name}"
        assert database["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
        role = roles.get(database["spec"]["owner"])
        assert role is not None, f"{name}: the owner of {database_name} is no managed role"
        assert role.get("login") is True
        assert role.get("ensure", "present") == "present"
        # One Secret for the role's password and the service's connection (besides the
        # deployment-wide cursor key every service reads).
        assert {role["passwordSecret"]["name"]} == _secret_refs(container) - {CURSOR_SECRET}, name
        if name != "gateway":  # the gateway has no lists, hence no cursors to sign
            assert CURSOR_SECRET in _secret_refs(container), f"{name}: no KOMMUNE_CURSOR_SECRET"
        extensions = {
            e["name"]
            for e in database["spec"].get("extensions", [])
            if e.get("ensure", "present") == "present"
        }
        migrations = REPO / "services" / name / "migrations"
        needed = {
            m.lower()
            for path in migrations.rglob("*.py")
            for m in re.findall(
                r"CREATE EXTENSION IF NOT EXISTS\s+\"?(\w+)",
                path.read_text(encoding="utf-8"),
                re.IGNORECASE,
            )
        }
        assert needed <= extensions, f"{name}: migrations need {sorted(needed - extensions)}"


def test_kafka_cluster_matches_the_platform_config(overlay: Rendered) -> None:
    (kafka,) = overlay.of_kind("Kafka")
    name = kafka["metadata"]["name"]
    listener = kafka["spec"]["kafka"]["listeners"][0]
    assert (
        overlay.config_map("kommune-platform")["KAFKA_BOOTSTRAP_SERVERS"]
        == f"{name}-kafka-bootstrap:{listener['port']}"
    )
    assert kafka["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False
    pools = overlay.of_kind("KafkaNodePool")
    assert pools
    assert all(p["metadata"]["labels"]["strimzi.io/cluster"] == name for p in pools)
    roles = {role for p in pools for role in p["spec"]["roles"]}
    assert roles == {"controller", "broker"}, "KRaft needs controllers and brokers"
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    config = kafka["spec"]["kafka"]["config"]
    replication, min_isr = config["default.replication.factor"], config["min.insync.replicas"]
    assert 1 <= min_isr <= replication <= brokers
    if brokers > 1:
        # acks=all must survive one broker down, and a single ack must never be enough.
        assert 2 <= min_isr < replication, (replication, min_isr)
    for topic in overlay.of_kind("KafkaTopic"):
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == name


# ---- topics: the declarations are the single source of truth -------------------------------


def test_generated_topics_are_fresh() -> None:
    module = _render_topics_module()
    assert module.OUTPUT.read_text(encoding="utf-8") == module.render(), (
        "k8s/components/strimzi-kafka/topics.yaml is stale: "
        "run uv run python k8s/tools/render_topics.py"
    )


def _topic_modules() -> dict[str, str]:
    """Where each app declares its topics: a service's ``events`` module; the gateway's activity
    feed (the topics it consumes)."""
    services = {
        path.parents[2].name: f"kommune_{path.parents[2].name}.events"
        for path in (REPO / "services").glob("*/src/kommune_*/events.py")
    }
    return {**services, "gateway": "kommune_gateway.activity"}


def test_every_service_with_events_is_registered() -> None:
    module = _render_topics_module()
    apps = set(_topic_modules())
    assert apps == set(module.SERVICES), (
        f"apps declaring topics {sorted(apps)} != "
        f"registered in k8s/tools/render_topics.py {sorted(module.SERVICES)}"
    )


def test_registered_declarations_include_every_topic_spec_in_code() -> None:
    """A new module-level TopicSpec (or tuple of them) the renderer does not pass on fails here."""
    module = _render_topics_module()
    for service, declarations in module.SERVICES.items():
        declared = set(declarations())
        events = importlib.import_module(_topic_modules()[service])
        found: set[TopicSpec] = set()
        for value in vars(events).values():
            if isinstance(value, TopicSpec):
                found.add(value)
            elif (
                isinstance(value, (tuple, list))
                and value
                and all(isinstance(v, TopicSpec) for v in value)
            ):
                found |= set(value)
        assert found, f"{_topic_modules()[service]} declares no TopicSpec"
        assert found <= declared, (
            f"{service}: not rendered: {sorted(s.name for s in found - declared)}"
        )


@pytest.mark.parametrize("target_name", OVERLAYS)
def test_every_declared_topic_has_a_kafka_topic(
    rendered: dict[str, Rendered], target_name: str
) -> None:
    module = _render_topics_module()
    declared: dict[str, TopicSpec] = {
        spec.name: spec for _, declarations in module.SERVICES.items() for spec in declarations()
    }
    topics = {t["spec"]["topicName"]: t for t in rendered[target_name].of_kind("KafkaTopic")}
    assert set(topics) == set(declared), (
        f"KafkaTopics {sorted(topics)} != declared {sorted(declared)}"
    )
    for name, spec in declared.items():
        assert topics[name]["spec"]["partitions"] == spec.partitions, name
        assert topics[name]["spec"]["config"] == spec.configs(), name


# ---- monitoring ----------------------------------------------------------------------------


def _exported_metric_names() -> set[str]:
    importlib.import_module("kommune.telemetry.metrics")
    importlib.import_module("kommune.events.relay")
    importlib.import_module("kommune.events.consumer")
    from prometheus_client import REGISTRY

    suffixes: dict[str, Sequence[str]] = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("_sum", "_count"),
    }
    names: set[str] = set()
    for family in REGISTRY.collect():
        names |= {family.name + suffix for suffix in suffixes.get(family.type, ("",))}
    return names


def test_alerts_use_metrics_the_code_exports(rendered: dict[str, Rendered]) -> None:
    r = rendered["production"]
    exported = _exported_metric_names()
    rules = [
        rule
        for pr in r.of_kind("PrometheusRule")
        for g in pr["spec"]["groups"]
        for rule in g["rules"]
    ]
    used: set[str] = set()
    for rule in rules:
        names = set(re.findall(r"\bkommune_[a-z0-9_]+\b", rule["expr"]))
        assert names, f"{rule.get('alert')}: no kommune metric"
        assert names <= exported, f"{rule.get('alert')}: unknown metrics {sorted(names - exported)}"
        used |= names
    wanted = {
        "kommune_outbox_oldest_unpublished_age_seconds",
        "kommune_consumer_dead_lettered_total",
        "kommune_http_requests_total",
    }
    assert wanted <= used, f"no alert on {sorted(wanted - used)}"


def test_pod_monitor_scrapes_every_server(rendered: dict[str, Rendered]) -> None:
    r = rendered["production"]
    (monitor,) = r.of_kind("PodMonitor")
    for deployment in r.of_kind("Deployment"):
        template = deployment["spec"]["template"]
        assert _matches(monitor["spec"]["selector"], _labels(template)), _id(deployment)
        ports = _container_ports(template)
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            assert endpoint["port"] in ports
            assert endpoint["path"] == "/metrics"


def test_metrics_port_is_for_prometheus_only(rendered: dict[str, Rendered]) -> None:
    """/metrics has its own container port: in no Service, open to monitoring only."""
    r = rendered["production"]
    for service in r.of_kind("Service"):
        assert all(p["targetPort"] != "metrics" for p in service["spec"]["ports"]), _id(service)
    (policy,) = [
        p for p in r.of_kind("NetworkPolicy") if "kommune-allow-prometheus" in p["metadata"]["name"]
    ]
    assert [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]] == ["metrics"]


# ---- the generator itself ------------------------------------------------------------------


def test_conflicting_declarations_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    module = _render_topics_module()
    one: Callable[[], list[TopicSpec]] = lambda: [TopicSpec(name="x.y.v1", partitions=3)]  # noqa: E731
    other: Callable[[], list[TopicSpec]] = lambda: [TopicSpec(name="x.y.v1", partitions=6)]  # noqa: E731
    monkeypatch.setattr(module, "SERVICES", {"a": one, "b": other})
    with pytest.raises(ValueError, match="declared differently"):
        module.render()


def test_topic_names_kubernetes_rejects_get_a_valid_resource_name() -> None:
    module = _render_topics_module()
    assert module.resource_name("ideas.idea.v1") == "ideas.idea.v1"
    assert module.resource_name("Sensors_Readings.v1") == "sensors-readings.v1"
