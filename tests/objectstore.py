"""An S3 endpoint for tests: moto's server on 127.0.0.1 (a real HTTP S3 API, conditional writes included), so
pyarrow, boto3 and Ray all talk to it exactly as they would talk to S3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

ENVIRONMENT = {  # fake credentials, and nothing read from this machine's AWS set-up or metadata service
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}


@contextmanager
def s3_bucket(name: str | None = None) -> Iterator[str]:
    """Start the server, create a bucket (`name`, else a fresh one), yield its URI with the endpoint as pyarrow
    query options. The environment (which pyarrow, boto3 and Ray workers started meanwhile read) is restored."""
    server_module = pytest.importorskip("moto.server", reason="moto[server] is in the test extra")
    import boto3

    with pytest.MonkeyPatch.context() as patch:
        for key, value in ENVIRONMENT.items():
            patch.setenv(key, value)
        server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        bucket = name or f"raytl-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=f"http://{host}:{port}").create_bucket(Bucket=bucket)
        try:
            yield f"s3://{bucket}?endpoint_override={host}:{port}&scheme=http&region=us-east-1"
        finally:
            server.stop()
