"""Secrets never come from a search-space file: it is printed, logged, copied into the run directory and into
every checkpoint's config. `find_secret` spots what looks like one (by key name, a password inside a URL, a
credential in a URI's query, a well-known token shape) so the edge can refuse the file with a one-line error.

>>> find_secret({"search": {"study_storage": "postgresql://raytl:hunter2@db/raytl"}})
'search.study_storage: a password inside a URL'
>>> find_secret({"name": "ok", "storage": "s3://bucket/runs?region=eu-west-1"}) is None
True
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

SECRET_WORDS = {"token", "secret", "password", "passwd", "pwd", "credential", "credentials", "apikey",
                "accesskey", "secretkey", "privatekey", "sessiontoken"}
TOKEN_SHAPES = {
    "a Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}"),
    "an AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "a GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
    "an API key": re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
ADVICE = ("secrets are read from environment variables (e.g. HF_TOKEN, AWS_SECRET_ACCESS_KEY, PGPASSWORD) or the "
          "cloud's instance credentials, never from the space file, which is logged and copied into the run directory")


def looks_like_secret_key(key: str) -> bool:
    """True for key names such as `hf_token`, `apiKey`, `aws_secret_access_key`, `db-password`.

    >>> looks_like_secret_key("hf_token"), looks_like_secret_key("apiKey"), looks_like_secret_key("max_length")
    (True, True, False)
    """
    parts = [part.lower() for part in re.split(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])", key) if part]
    pairs = [a + b for a, b in zip(parts, parts[1:], strict=False)]
    return any(part in SECRET_WORDS for part in [*parts, *pairs])


def find_secret(data: Any, where: str = "") -> str | None:
    """`<key path>: <why>` for the first value in `data` that looks like a secret, else None. Never echoes it."""
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{where}.{key}" if where else str(key)
            if looks_like_secret_key(str(key)) and value not in (None, "", [], {}):
                return f"{path}: the key name says it holds a secret"
            found = find_secret(value, path)
            if found:
                return found
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found = find_secret(value, f"{where}.{index}" if where else str(index))
            if found:
                return found
    elif isinstance(data, str):
        why = _secret_in_text(data)
        return f"{where or '<top>'}: {why}" if why else None
    return None


def _secret_in_text(text: str) -> str | None:
    if "://" in text:
        parts = urlsplit(text)
        try:
            if parts.password:
                return "a password inside a URL"
        except ValueError:  # a malformed port: not ours to judge
            pass
        if any(looks_like_secret_key(name) for name, _ in parse_qsl(parts.query)):
            return "a credential in the URL's query"
    for what, shape in TOKEN_SHAPES.items():
        if shape.search(text):
            return f"{what}"
    return None
