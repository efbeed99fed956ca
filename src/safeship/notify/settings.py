"""The optional ``[github]`` section of safeship.toml: report every deploy as a GitHub deployment.

[github]
repo = "acme/shop"
token_env = "GITHUB_TOKEN"                      # a token with deployments: write
api_url = "https://api.github.com"              # GitHub Enterprise: https://HOST/api/v3
environment_url = "https://{environment}.acme.example"   # optional; {environment} is replaced
log_url = "https://ci.acme.example/deploys"     # optional
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class GitHubSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    repo: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]
    token_env: str = "GITHUB_TOKEN"
    api_url: str = "https://api.github.com"
    environment_url: str | None = None
    log_url: str | None = None
    request_timeout: Annotated[float, Field(gt=0, le=120)] = 10.0
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    max_retry_wait: Annotated[float, Field(ge=0, le=300)] = 30.0
