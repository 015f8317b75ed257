"""The deployment examples stay true: Docker and Kubernetes cannot run here, so the files are checked
for what can be checked without them. Every YAML parses; every `OPENMAAS_*` variable they set is a real
setting; every `openmaas` command line they run parses with the real CLI; every model registry they
carry loads with the real catalog."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from openmaas.catalog import load_catalog
from openmaas.cli.main import build_parser
from openmaas.engines.remote.openai_compatible import UpstreamOptions
from openmaas.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = sorted((DEPLOY / "k8s").glob("*.yaml"))


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def compose() -> dict[str, Any]:
    return documents(DEPLOY / "compose.yaml")[0]


def test_compose_has_the_reference_topology() -> None:
    services = compose()["services"]
    assert {"lb", "api", "worker", "image-worker", "minio", "vllm", "postgres", "redis"} <= set(services)


@pytest.mark.parametrize("path", K8S, ids=lambda p: p.name)
def test_kubernetes_manifests_are_well_formed(path: Path) -> None:
    for document in documents(path):
        assert {"apiVersion", "kind", "metadata"} <= set(document), document
        assert document["metadata"].get("name")


def _openmaas_env_names() -> set[str]:
    names = {k for k in compose()["x-openmaas-env"] if k.startswith("OPENMAAS_")}
    for path in K8S:
        for document in documents(path):
            if document["kind"] == "ConfigMap":
                names |= {k for k in document["data"] if k.startswith("OPENMAAS_")}
    names |= set(re.findall(r"OPENMAAS_[A-Z0-9_]+", (DEPLOY / "k8s" / "config.yaml").read_text()))
    return names


def test_every_setting_named_exists() -> None:
    fields = {f"OPENMAAS_{name.upper()}" for name in Settings.model_fields}
    unknown = _openmaas_env_names() - fields
    assert not unknown


def _commands() -> list[list[str]]:
    commands = []
    for name in ("api", "worker", "image-worker"):
        commands.append(list(compose()["services"][name]["command"]))
    for path in K8S:
        for document in documents(path):
            if document["kind"] != "Deployment":
                continue
            for container in document["spec"]["template"]["spec"]["containers"]:
                args = container.get("args", [])
                if container.get("command", [None])[0] == "sh":
                    args = shlex.split(args[0].replace("exec openmaas ", "").replace("$(POD_IP)", "10.0.0.1"))
                commands.append(list(args))
    return commands


def test_every_command_line_parses() -> None:
    commands = _commands()
    assert {c[0] for c in commands} == {"serve", "worker"}
    for command in commands:
        build_parser().parse_args(command)


def test_every_model_registry_loads(tmp_path: Path) -> None:
    registries = [(DEPLOY / f"{name}-models.toml").read_text() for name in ("api", "worker", "image")]
    for document in documents(DEPLOY / "k8s" / "config.yaml"):
        if document["kind"] == "ConfigMap" and document["metadata"]["name"] == "openmaas-models":
            registries += list(document["data"].values())
    assert len(registries) == 6
    for index, text in enumerate(registries):
        path = tmp_path / f"models-{index}.toml"
        path.write_text(text)
        for spec in load_catalog(path).models:
            if spec.engine == "openai-compatible":
                UpstreamOptions.model_validate(spec.options)
