"""Every file in clusters/: launcher YAMLs validate against the installed Ray's schema, the KubeRay manifest
has the expected structure, and nothing looks like a credential."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray
import yaml

CLUSTERS = Path(__file__).resolve().parent.parent / "clusters"
RAY_SCHEMA = Path(ray.__file__).parent / "autoscaler" / "ray-schema.json"
GPU_CLASSES = ("gpu_24gb", "gpu_80gb")


def _load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _launcher_files() -> list[Path]:
    return [p for p in sorted(CLUSTERS.glob("*.yaml")) if "apiVersion" not in _load_all(p)[0]]


def _kuberay_files() -> list[Path]:
    return [p for p in sorted(CLUSTERS.glob("*.yaml")) if "apiVersion" in _load_all(p)[0]]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(RAY_SCHEMA.read_text())
    assert schema["$schema"].startswith("http://json-schema.org/draft-07")
    return jsonschema.Draft7Validator(schema)


def test_expected_files_present() -> None:
    assert {p.name for p in _launcher_files()} >= {"aws.yaml", "gcp.yaml"}
    assert {p.name for p in _kuberay_files()} >= {"kuberay.yaml"}


# --- cluster launcher configs ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", _launcher_files(), ids=lambda p: p.name)
def test_launcher_config_matches_ray_schema(path: Path, validator: jsonschema.Draft7Validator) -> None:
    (config,) = _load_all(path)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(config)]
    assert not errors, errors


def test_schema_check_can_fail(validator: jsonschema.Draft7Validator) -> None:
    (config,) = _load_all(CLUSTERS / "aws.yaml")
    assert not validator.is_valid({**config, "head_node": {}})  # unknown top-level key
    config["available_node_types"]["head"]["resources"]["trial_driver"] = 0.5  # resources are integers
    assert not validator.is_valid(config)


def _is_spot(node_config: dict[str, Any]) -> bool:
    market = node_config.get("InstanceMarketOptions", {}).get("MarketType")
    scheduling = node_config.get("scheduling", {})
    return (
        market == "spot"
        or scheduling.get("provisioningModel") == "SPOT"
        or bool(scheduling.get("preemptible"))
    )


@pytest.mark.parametrize("path", _launcher_files(), ids=lambda p: p.name)
def test_launcher_node_types(path: Path) -> None:
    (config,) = _load_all(path)
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"]["CPU"] == 0 and head["resources"]["trial_driver"] >= 100
    assert not _is_spot(head["node_config"])
    workers = {name: t for name, t in types.items() if name != config["head_node_type"]}
    for name, worker in workers.items():
        assert "trial_driver" not in worker["resources"], name
        assert 0 <= worker.get("min_workers", 0) <= worker["max_workers"] <= config["max_workers"], name
        (gpu_class,) = [c for c in GPU_CLASSES if c in worker["resources"]]
        # Big-model nodes stay on-demand: only the 24 GB (base/large) types may be spot.
        assert not _is_spot(worker["node_config"]) or gpu_class == "gpu_24gb", name
    assert any(t["resources"].get("gpu_80gb") == 8 for t in workers.values())
    assert any(_is_spot(t["node_config"]) for t in workers.values())


@pytest.mark.parametrize("path", _launcher_files(), ids=lambda p: p.name)
def test_launcher_setup(path: Path) -> None:
    (config,) = _load_all(path)
    assert config["file_mounts"]["~/raytl"] == "."
    setup = "\n".join(config["setup_commands"])
    assert re.search(r"pip install .*torch .*--index-url https://download\.pytorch\.org/whl/cu\d+", setup)
    assert "whl/cpu" not in path.read_text()
    extra = "aws" if path.name == "aws.yaml" else "gcp"  # boto3 / google-cloud-storage: object-store leases
    assert f'pip install --no-cache-dir -e "$HOME/raytl[{extra}]"' in setup
    start = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    assert all("RAY_AUTH_MODE=token" in cmd for cmd in start if "ray start" in cmd)
    assert "ssh_private_key" not in config.get("auth", {})
    assert any("export RAY_ADDRESS=auto" in cmd for cmd in config["head_setup_commands"])


# --- KubeRay --------------------------------------------------------------------------------------------


def _containers(group: dict[str, Any]) -> list[dict[str, Any]]:
    return group["template"]["spec"]["containers"]


@pytest.mark.parametrize("path", _kuberay_files(), ids=lambda p: p.name)
def test_kuberay_structure(path: Path) -> None:
    docs = _load_all(path)
    assert all(doc.get("kind") != "Secret" for doc in docs)
    (cluster,) = [d for d in docs if d.get("kind") == "RayCluster"]
    assert cluster["apiVersion"] == "ray.io/v1"
    spec = cluster["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["authOptions"]["mode"] == "token"
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"
    assert "trial_driver" in json.loads(json.loads(head["rayStartParams"]["resources"]))
    assert [c["name"] for c in _containers(head)] == ["ray-head"]
    groups = spec["workerGroupSpecs"]
    assert len({g["groupName"] for g in groups}) == len(groups) >= 2
    for group in groups:
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        assert all(isinstance(v, str) for v in group["rayStartParams"].values())  # map[string]string
        custom = json.loads(json.loads(group["rayStartParams"]["resources"]))
        (container,) = _containers(group)
        limits = container["resources"]["limits"]
        assert container["resources"]["requests"] == limits
        assert int(limits["nvidia.com/gpu"]) == sum(custom.get(c, 0) for c in GPU_CLASSES) > 0


@pytest.mark.parametrize("path", _kuberay_files(), ids=lambda p: p.name)
def test_kuberay_env_takes_secrets_by_reference(path: Path) -> None:
    for doc in _load_all(path):
        for env in _walk_env(doc):
            if re.search(r"TOKEN|SECRET|PASSWORD|KEY", env["name"], re.I):
                assert "value" not in env and "valueFrom" in env, env["name"]


def _walk_env(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = list(node["env"]) if isinstance(node.get("env"), list) else []
        return found + [e for v in node.values() for e in _walk_env(v)]
    if isinstance(node, list):
        return [e for v in node for e in _walk_env(v)]
    return []


# --- no credentials -------------------------------------------------------------------------------------

CREDENTIAL_PATTERNS = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b"),
    "AWS secret key setting": re.compile(r"(?i)aws_secret_access_key|aws_session_token\s*[:=]"),
    "12-digit account id": re.compile(r"(?<![\d.])\d{12}(?![\d.])"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----|\"private_key\"\s*:"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "secret-looking assignment": re.compile(
        r"(?i)\b(password|passwd|secret|api_?key|access_?key|token)\s*[:=]\s*['\"]?(?!<)[A-Za-z0-9+/=_\-]{16,}"
    ),
}


def _credential_hits(text: str) -> list[str]:
    return [name for name, pattern in CREDENTIAL_PATTERNS.items() if pattern.search(text)]


@pytest.mark.parametrize("path", sorted(p for p in CLUSTERS.rglob("*") if p.is_file()), ids=lambda p: p.name)
def test_no_credentials(path: Path) -> None:
    assert _credential_hits(path.read_text(errors="replace")) == []


@pytest.mark.parametrize(
    "sample",
    [
        "aws_access_key_id: AKIA" + "ABCDEFGHIJKLMNOP",
        "Arn: arn:aws:iam::" + "123456789012" + ":instance-profile/x",
        "-----BEGIN RSA " + "PRIVATE KEY-----",
        "key: AIza" + "x" * 35,
        "password: " + "hunter2hunter2hunter2",
    ],
)
def test_credential_scan_catches(sample: str) -> None:
    assert _credential_hits(sample)


def test_credential_scan_allows_placeholders() -> None:
    assert _credential_hits("Arn: arn:aws:iam::<your-aws-account-id>:instance-profile/<profile>") == []
    assert _credential_hits("authOptions:\n  mode: token\n~/.ray/auth_token: ~/.ray/auth_token") == []


def test_ray_submit_script_runs_the_raytl_command(tmp_path: Path) -> None:
    """`ray submit CLUSTER clusters/raytl_submit.py -- ARGS` runs `python raytl_submit.py ARGS` on the head."""
    import subprocess
    import sys

    script = CLUSTERS / "raytl_submit.py"
    space = Path(__file__).resolve().parent.parent / "search_spaces" / "quickstart.yaml"
    done = subprocess.run([sys.executable, str(script), "plan", str(space)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "quickstart" in done.stdout
    bad = subprocess.run([sys.executable, str(script), "plan", str(tmp_path / "missing.yaml")], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert bad.returncode == 2 and "missing.yaml" in bad.stderr
