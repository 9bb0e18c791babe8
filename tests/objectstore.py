"""An S3 endpoint for tests: moto's server on 127.0.0.1 (a real HTTP S3 API, conditional writes included), so
pyarrow, boto3 and Ray all talk to it exactly as they would talk to S3."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def s3_bucket() -> Iterator[str]:
    """Start the server, create a fresh bucket, yield its URI (with the endpoint as pyarrow query options)."""
    server_module = pytest.importorskip("moto.server", reason="moto[server] is in the test extra")
    import boto3

    os.environ.update(CREDENTIALS)  # pyarrow, boto3 and Ray workers started from this process read these
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    bucket = f"raytl-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=f"http://{host}:{port}").create_bucket(Bucket=bucket)
    try:
        yield f"s3://{bucket}?endpoint_override={host}:{port}&scheme=http"
    finally:
        server.stop()
