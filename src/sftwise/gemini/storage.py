"""Putting local dataset files into Cloud Storage, where Vertex AI tuning reads them.

Objects are named by content (``PREFIX/sftwise/<sha256[:16]>/<file name>``), so uploading the same
file twice is skipped, and a job's dataset URI always names exactly the bytes that were audited.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sftwise.gemini.errors import with_retries
from sftwise.errors import ParameterError, SftwiseError
from sftwise.io import file_sha256


def parse_gs_uri(uri: str, parameter: str = "bucket") -> tuple[str, str]:
    """``gs://bucket/some/prefix`` -> (``bucket``, ``some/prefix``); errors name ``parameter``, the
    caller's argument that held ``uri``."""
    if not uri.startswith("gs://") or len(uri) <= 5:
        raise ParameterError(parameter, f"must be a gs:// URI like gs://my-bucket or gs://my-bucket/prefix, got {uri!r}")
    bucket, _, prefix = uri[5:].partition("/")
    if not bucket:
        raise ParameterError(parameter, f"{uri!r} names no bucket")
    return bucket, prefix.strip("/")


def upload_file(client: Any, path: str | Path, bucket_uri: str) -> str:
    """Upload ``path`` under ``bucket_uri``; return its ``gs://`` URI. Checks the bucket exists first."""
    path = Path(path)
    bucket_name, prefix = parse_gs_uri(bucket_uri)
    bucket = with_retries(lambda: client.lookup_bucket(bucket_name), action=f"looking up bucket gs://{bucket_name}")
    if bucket is None:
        raise SftwiseError(
            f"bucket gs://{bucket_name} does not exist (or is in another project). Create it in your tuning region: "
            f"gcloud storage buckets create gs://{bucket_name} --location=us-central1"
        )
    name = "/".join(p for p in (prefix, "sftwise", file_sha256(path)[:16], path.name) if p)
    blob = bucket.blob(name)
    uri = f"gs://{bucket_name}/{name}"
    if with_retries(blob.exists, action=f"checking {uri}"):
        return uri
    with_retries(lambda: blob.upload_from_filename(str(path), content_type="application/jsonl"), action=f"uploading {path} to {uri}")
    return uri
