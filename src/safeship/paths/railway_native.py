"""The railway-native path: deploy with Railway's own build through its GraphQL API."""

from __future__ import annotations

import time
from collections.abc import Callable

from safeship.paths.base import Availability, PathError, RunOutcome, token_from
from safeship.paths.settings import RailwayNativePathSettings
from safeship.targets.base import TargetError
from safeship.targets.railway import RailwayClient, RailwayDeployFailed


class RailwayNativePath:
    name = "railway-native"

    def __init__(
        self,
        settings: RailwayNativePathSettings,
        token: str | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._token = token_from(token, settings.token_env)
        self._sleep = sleep

    def _client(self, environment: str | None = None) -> RailwayClient:
        if not self._token:
            raise PathError(f"railway: {self.settings.token_env} is not set")
        settings = self.settings
        if environment is not None:
            env_id = settings.environment_ids.get(environment, settings.environment_id)
            settings = settings.model_copy(update={"environment_id": env_id})
        return RailwayClient(settings, self._token, sleep=self._sleep)

    def is_available(self) -> Availability:
        try:
            client = self._client()
            try:
                client.deployments(first=1)  # proves the token and the ids
            finally:
                client.close()
        except (PathError, TargetError) as exc:
            return Availability(False, str(exc))
        return Availability(True, "Railway API reachable, token accepted")

    def trigger(self, version: str, commit: str | None, environment: str) -> str:
        client = self._client(environment)
        try:
            return client.deploy(commit)
        except TargetError as exc:
            raise PathError(str(exc)) from None
        finally:
            client.close()

    def follow(self, run_id: str) -> RunOutcome:
        client = self._client()
        try:
            deployment = client.wait(run_id)
        except RailwayDeployFailed as exc:
            return RunOutcome(run_id, False, exc.status, True, str(exc))
        except TargetError as exc:
            raise PathError(str(exc)) from None
        finally:
            client.close()
        return RunOutcome(run_id, True, deployment.status, url=deployment.static_url)
