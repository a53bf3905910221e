"""docker-compose.yml is a valid Compose file (the Compose Specification's JSON schema, and
`docker compose config` where the plugin exists); every image installs exactly the pip
extras its service imports; the Kubernetes manifests describe the same topology."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
K8S = ROOT / "infra" / "k8s"
SERVICES = ["gateway", "inference", "trainer", "datagen", "evaluator"]
# Imported only when present, installed outside the extras: vLLM per compose profile
# (vllm-cpu / vllm-gpu), llama-cpp-python built from source (the LLAMA_CPP build arg).
OPTIONAL = {"vllm": "vllm", "llama_cpp": "llama-cpp"}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def image_args(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in service["build"]["args"].items()}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def imported_top_level(service: str) -> set[str]:
    """Third-party top-level modules the service's code imports, with the shared runtime
    modules it uses (followed transitively)."""
    todo, seen, modules = list((ROOT / "services" / service).rglob("*.py")), set(), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in _imports(path):
            top = module.split(".")[0]
            if top == "tuneloop_core":
                base = ROOT / module.replace(".", "/")
                todo += [p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()]
            elif top not in {"services", "tuneloop"} and top not in sys.stdlib_module_names:
                modules.add(top)
    return modules


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower().replace("_", "-") for r in requirements}


def needed_extras(service: str) -> set[str]:
    """The smallest set of extras that provides every distribution the service imports."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = _names(project["dependencies"])
    extras = {k: _names(v) for k, v in project["optional-dependencies"].items() if k != "dev"}
    dists = packages_distributions()
    needed: set[str] = set()
    for module in imported_top_level(service):
        if module in OPTIONAL:
            continue
        names = {d.lower().replace("_", "-") for d in dists.get(module, [module])}
        if names & core:
            continue
        providers = sorted(k for k, v in extras.items() if names & v)
        assert providers, f"{service} imports {module} ({names}), which no extra installs"
        if not set(providers) & needed:
            # Prefer the extra named after the service, then the first that has it.
            needed.add(service if service in providers else providers[0])
    return needed


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = yaml.safe_load((ROOT / "infra" / "compose" / "compose-spec.json").read_text())
    validator = jsonschema.Draft201909Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []
    broken = compose()
    broken["services"]["trainer"]["deploy"] = {"replicas": "two", "gpus": 1}
    assert list(validator.iter_errors(broken))  # the schema does catch mistakes


def docker_compose() -> list[str] | None:
    """The `docker compose` command, where the CLI and its compose plugin exist."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True)
    return [docker, "compose"] if probe.returncode == 0 else None


@pytest.mark.skipif(docker_compose() is None, reason="no docker compose on this machine")
def test_docker_compose_config_accepts_it() -> None:
    env = {**os.environ, "POSTGRES_PASSWORD": "x"}
    command = [*(docker_compose() or []), "-f", str(COMPOSE), "config", "-q"]
    run = subprocess.run(command, env=env, capture_output=True)
    assert run.returncode == 0, run.stderr.decode()


@pytest.mark.parametrize("service", SERVICES)
def test_each_image_installs_exactly_the_extras_its_service_needs(service: str) -> None:
    images = {
        name: image_args(spec)
        for name, spec in compose()["services"].items()
        if "build" in spec and image_args(spec)["SERVICE"] == service
    }
    assert images, f"no image builds {service}"
    expected = needed_extras(service)
    if service == "gateway":
        expected.add("postgres")  # the registry is PostgreSQL in this deployment
    for name, args in images.items():
        extras = set(args["EXTRAS"].split(","))
        vllm = {e for e in extras if e.startswith("vllm-")}
        if service == "inference":
            assert len(vllm) == 1, f"{name}: one vLLM build per profile, got {vllm}"
        if service == "trainer":
            expected.add("export")  # trainer workers run the GGUF export jobs
            assert args.get("LLAMA_CPP"), "the export needs llama-cpp-python built in the image"
        assert extras - vllm == expected, name


def test_every_service_needs_its_secrets_and_has_a_health_check() -> None:
    services = compose()["services"]
    text = COMPOSE.read_text()
    assert "${POSTGRES_PASSWORD:?" in text  # compose refuses to start without it
    for name, spec in services.items():
        if name == "prometheus":
            continue
        assert "healthcheck" in spec or name == "qdrant", name
    profiles = {n: s.get("profiles") for n, s in services.items() if n.startswith("inference")}
    assert profiles == {"inference": ["cpu"], "inference-gpu": ["gpu"]}
    assert services["trainer"]["deploy"]["replicas"] >= 2


def k8s_objects() -> dict[tuple[str, str], dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    objects = {}
    for resource in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / resource).read_text()):
            objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def test_kubernetes_manifests_match_the_compose_topology() -> None:
    services = compose()["services"]
    objects = k8s_objects()
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    config = dict(item.split("=", 1) for item in kustomization["configMapGenerator"][0]["literals"])
    shared = {
        k: str(v) for k, v in services["gateway"]["environment"].items() if k.startswith("TUNE")
    }
    shared.pop("TUNELOOP_DATABASE_URL")  # holds the secret: built in each pod from it
    for key in ("TUNELOOP_GATEWAY_HOST", "TUNELOOP_GATEWAY_GRPC_HOST"):
        shared.pop(key)
    assert {k: v.lower() for k, v in config.items()} == {k: v.lower() for k, v in shared.items()}

    for name in ("nats", "postgres", "qdrant"):
        assert ("StatefulSet", name) in objects and ("Service", name) in objects
    for name in SERVICES:
        deployment = objects[("Deployment", name)]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        spec = services[name]
        assert deployment["spec"]["replicas"] == spec.get("deploy", {}).get("replicas", 1)
        env = {e["name"]: e.get("value") for e in container["env"]}
        compose_env = {k: str(v) for k, v in spec["environment"].items()}
        for key, value in compose_env.items():
            if key.endswith(("_GRPC_HOST", "_METRICS_PORT", "GATEWAY_HOST")):
                assert env[key] == value, (name, key)
        ports = {p["containerPort"] for p in container["ports"]}
        published = {int(p.split(":")[-1]) for p in spec.get("ports", [])}
        assert ports == {int(p) for p in spec.get("expose", [])} | published, name
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        metrics = compose_env.get(f"TUNELOOP_{name.upper()}_METRICS_PORT", "8000")
        assert annotations["prometheus.io/port"] == metrics, name
        secret = next(e for e in container["env"] if e["name"] == "POSTGRES_PASSWORD")
        assert secret["valueFrom"]["secretKeyRef"]["name"] == "tuneloop-secrets"
        service = objects[("Service", name)]
        assert {p["port"] for p in service["spec"]["ports"]} == ports


def test_prometheus_scrapes_every_service_where_it_serves_metrics() -> None:
    config = yaml.safe_load((ROOT / "infra" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job["dns_sd_configs"][0] for job in config["scrape_configs"]}
    assert set(jobs) == set(SERVICES)
    services = compose()["services"]
    for name, target in jobs.items():
        port = services[name]["environment"].get(f"TUNELOOP_{name.upper()}_METRICS_PORT", "8000")
        assert target["names"] == [name] and str(target["port"]) == str(port)
