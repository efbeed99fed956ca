"""The ``[artifacts]`` table of safeship.toml: where the artifact file store keeps its files.

[artifacts]
store = ""                      # empty: .safeship/artifacts next to safeship.toml
# store = "backups"             # a local directory (relative to safeship.toml)
# store = "s3://bucket/safeship" # any fsspec URL (its package installed: s3fs for s3://)
"""

from __future__ import annotations

from pydantic import Field, field_validator

from safeship.settings_model import SettingsModel


class ArtifactsSettings(SettingsModel):
    # Where stored files go: empty for the default local directory, a directory path, or an
    # fsspec URL. Credentials for a remote store come from its usual environment variables
    # (AWS_ACCESS_KEY_ID, ...), never from this file.
    store: str = Field(default="", max_length=1000)

    @field_validator("store")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        if sep and ":" in rest.split("/", 1)[0].rpartition("@")[0]:
            # The config file is committed: a password in it would be public.
            raise ValueError(
                f"a {scheme}:// store URL must not hold a password; give credentials "
                "through the store's environment variables"
            )
        return value
