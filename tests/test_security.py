"""Security defaults: secrets are refused in search-space files (they are logged and copied into run directories),
a model's repository code runs only when the space trusts that model, and a local Ray binds its dashboard to
localhost and starts no Ray Client server."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
import ray

from raytl.config import load_space, parse_space
from raytl.errors import InputError
from raytl.models.zoo import resolve_model
from tests.conftest import ROOT, tiny_space

HF_TOKEN = "hf_" + "a1B2c3D4" * 5  # token-shaped, not a real one


@pytest.mark.parametrize(("change", "where"), [
    ({"hf_token": HF_TOKEN}, "hf_token: the key name says"),
    ({"data": {"source": "generated", "apiKey": "x"}}, "data.apiKey: the key name says"),
    ({"search": {"study_storage": "postgresql://raytl:hunter2@db/raytl"}},
     "search.study_storage: a password inside a URL"),
    ({"storage": "s3://bucket/runs?access_key=AK&secret_key=SK"}, "storage: a credential in the URL's query"),
    ({"search": {"points_to_evaluate": [{"model": HF_TOKEN}]}}, "search.points_to_evaluate.0.model: a Hugging Face"),
    ({"storage": "s3://AKIAABCDEFGHIJKLMNOP@bucket/runs"}, "storage: an AWS access key id"),
])
def test_secrets_in_the_space_are_refused_with_one_line(tmp_path: Path, change: dict, where: str) -> None:
    space = tiny_space(tmp_path)
    for key, value in change.items():
        space[key] = {**space[key], **value} if isinstance(space.get(key), dict) else value
    with pytest.raises(InputError) as error:
        parse_space(space, source="s.yaml")
    message = str(error.value)
    assert message.startswith(f"s.yaml: {where}") and "\n" not in message
    assert "environment variables" in message
    assert "hunter2" not in message and HF_TOKEN not in message and "AKIAABCDEFGHIJKLMNOP" not in message


def test_shipped_spaces_and_ordinary_values_pass(tmp_path: Path) -> None:
    for path in sorted((ROOT / "search_spaces").glob("*.yaml")):
        load_space(path)  # would raise on anything secret-looking
    space = {**tiny_space(tmp_path, search={"study_storage": "postgresql://raytl@db/raytl", "num_trials": 2}),
             "storage": "s3://bucket/runs?region=eu-west-1"}
    # a user name only: the password comes from PGPASSWORD
    assert parse_space(space).search.study_storage == "postgresql://raytl@db/raytl"


def _remote_code_model(directory: Path, marker: Path) -> str:
    """A model directory whose config class lives in repository code that records when it runs."""
    directory.mkdir()
    (directory / "configuration_probe.py").write_text(
        "from pathlib import Path\nfrom transformers import PretrainedConfig\n"
        f"Path({str(marker)!r}).write_text('ran')\n"
        "class ProbeConfig(PretrainedConfig):\n    model_type = 'raytl_probe'\n")
    (directory / "config.json").write_text(json.dumps({
        "model_type": "raytl_probe", "auto_map": {"AutoConfig": "configuration_probe.ProbeConfig"},
        "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 1}))
    return f"hub:{directory}"


def test_repository_code_runs_only_for_trusted_models(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    name = _remote_code_model(tmp_path / "untrusted", marker)
    with pytest.raises(Exception, match="trust_remote_code"):
        resolve_model(name)
    assert not marker.exists(), "repository code ran without trust_remote_code"
    assert parse_space(tiny_space(tmp_path)).trust_remote_code == []  # off unless listed per model

    trusted = _remote_code_model(tmp_path / "trusted", marker)
    with contextlib.suppress(Exception):  # the probe is no real encoder: only whether its code ran matters
        resolve_model(trusted, trust_remote_code=True)
    assert marker.read_text() == "ran"


@pytest.fixture
def local_ray() -> Iterator[None]:
    """`start_ray` in local mode, in a temp dir of its own (so it starts a fresh Ray instead of joining one)."""
    from raytl.search.tuner import start_ray

    with tempfile.TemporaryDirectory(prefix="rtl-sec-", dir="/tmp") as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_TMPDIR", tmp)
        patch.delenv("RAY_ADDRESS", raising=False)
        ray.shutdown()
        start_ray(parse_space(tiny_space(Path(tmp))))
        try:
            yield
        finally:
            ray.shutdown()


@pytest.mark.slow
def test_local_ray_dashboard_on_localhost_and_no_client_server(local_ray: None) -> None:
    node = ray._private.worker.global_worker.node
    url = node.address_info["webui_url"]
    assert url, "the dashboard runs (State API, cleanup of stopped trials)"
    host, port = urlsplit(f"http://{url}").hostname, urlsplit(f"http://{url}").port
    assert host == "127.0.0.1"
    listening = [c.laddr.ip for c in psutil.net_connections("tcp") if c.status == "LISTEN" and c.laddr.port == port]
    assert listening and set(listening) == {"127.0.0.1"}, listening
    session = node.get_session_dir_path()
    ours = [p for p in psutil.process_iter(["cmdline"]) if any(session in part for part in p.info["cmdline"] or [])]
    assert ours, "the session's processes are found by their session directory"
    commands = [" ".join(p.info["cmdline"]) for p in ours]
    assert not [c for c in commands if "client.server" in c or "ray_client_server" in c], "no Ray Client server"
