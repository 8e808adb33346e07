"""Building the google-genai and google-cloud-storage clients for Vertex AI, with clear errors.

Credentials are Application Default Credentials (``gcloud auth application-default login`` or a
service account named by ``GOOGLE_APPLICATION_CREDENTIALS``); the project and region come from the
arguments, else ``GOOGLE_CLOUD_PROJECT`` / ``GOOGLE_CLOUD_LOCATION``, else the ADC's project and
``us-central1``. ``GOOGLE_VERTEX_BASE_URL`` (google-genai's own variable) and ``STORAGE_EMULATOR_HOST``
(google-cloud-storage's) point the clients at another endpoint, which is how the tests reach the
local emulator.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from typing import Any

from sftwise.errors import ParameterError, SftwiseError

DEFAULT_LOCATION = "us-central1"

# Regions that offer Gemini supervised tuning (Vertex AI "Generative AI locations" page, tuning column;
# checked 2026-11). A region missing here gets a clear error before any call; set
# SFTWISE_SKIP_REGION_CHECK=1 when Google adds one before this table is updated.
TUNING_REGIONS_CHECKED = date(2026, 11, 1)
TUNING_REGIONS = (
    "us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west4",
    "northamerica-northeast1", "southamerica-east1",
    "europe-west1", "europe-west2", "europe-west3", "europe-west4", "europe-west6", "europe-west8",
    "europe-west9", "europe-north1", "europe-central2", "europe-southwest1",
    "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast3", "asia-south1", "asia-southeast1",
    "australia-southeast1", "me-central1", "me-west1",
)


@dataclass
class VertexContext:
    """A resolved project, region and credentials: what every call needs."""

    project: str
    location: str
    credentials: Any


def default_credentials() -> tuple[Any, str | None]:
    """Application Default Credentials and their project; tests replace this function."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        return google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except DefaultCredentialsError:
        raise SftwiseError(
            "no Google Cloud credentials found. Run `gcloud auth application-default login` "
            "(or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file) and try again; see docs/vertex.md."
        ) from None


def check_region(location: str, *, for_tuning: bool = True) -> None:
    if not for_tuning or os.environ.get("SFTWISE_SKIP_REGION_CHECK") == "1":
        return
    if location not in TUNING_REGIONS:
        raise ParameterError(
            "location",
            f"region {location!r} does not offer Gemini tuning (as of {TUNING_REGIONS_CHECKED}); "
            f"use one of: {', '.join(TUNING_REGIONS[:8])}, ... (e.g. us-central1). "
            "If Google added it since, set SFTWISE_SKIP_REGION_CHECK=1."
        )


def resolve_context(project: str | None = None, location: str | None = None, *, for_tuning: bool = True) -> VertexContext:
    location = location or os.environ.get("GOOGLE_CLOUD_LOCATION") or os.environ.get("GOOGLE_CLOUD_REGION") or DEFAULT_LOCATION
    check_region(location, for_tuning=for_tuning)
    credentials, adc_project = default_credentials()
    project = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or adc_project
    if not project:
        raise ParameterError(
            "project",
            "no Google Cloud project given: give the project id or set GOOGLE_CLOUD_PROJECT "
            "(`gcloud config set project PROJECT_ID` does not reach application default credentials)."
        )
    return VertexContext(project=project, location=location, credentials=credentials)


def genai_client(ctx: VertexContext) -> Any:
    """A google-genai client in Vertex AI mode for ``ctx`` (honours GOOGLE_VERTEX_BASE_URL)."""
    try:
        from google import genai
    except ImportError:
        raise SftwiseError("the Gemini backend needs google-genai: pip install 'sftwise[gemini]'") from None
    return genai.Client(vertexai=True, project=ctx.project, location=ctx.location, credentials=ctx.credentials)


def storage_client(ctx: VertexContext) -> Any:
    try:
        from google.cloud import storage
    except ImportError:
        raise SftwiseError("uploading datasets needs google-cloud-storage: pip install 'sftwise[gemini]'") from None
    return storage.Client(project=ctx.project, credentials=ctx.credentials)


def console_url(job_name: str) -> str:
    """The Cloud console page of a tuning job ``projects/P/locations/L/tuningJobs/ID`` (the link google-genai shows)."""
    parts = job_name.split("/")
    try:
        project, location, job_id = parts[1], parts[3], parts[5]
    except IndexError:
        return "https://console.cloud.google.com/vertex-ai/generative/language"
    return f"https://console.cloud.google.com/vertex-ai/generative/language/locations/{location}/tuning/tuningJob/{job_id}?project={project}"
