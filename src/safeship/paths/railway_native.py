"""The railway-native path: Railway's own build, started from this process through its API.

Its run is the normal pipeline in this process (``InProcessPath``): the environment's railway
target deploys (``serviceInstanceDeployV2`` with the commit), under the environment's lease,
with the registry row, env gate, health checks on the release's URL and rollback of every
deploy. So the path only adds its availability (the token and Railway's API answer) and the
check that it deploys the service the environment's target names: an environment whose target
is not railway, or whose ids differ from ``[paths.railway-native]``, cannot use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import BaseModel

from safeship.paths.base import Availability, PathError, token_from
from safeship.paths.local import InProcessPath, Runner
from safeship.paths.settings import PathsSettings, RailwayNativePathSettings
from safeship.railway.client import RailwayClient
from safeship.targets.base import TargetError
from safeship.targets.settings import RailwayTargetSettings


class RailwayNativePath(InProcessPath):
    name = "railway-native"

    @classmethod
    def configured(cls, settings: PathsSettings, runner: Runner | None) -> RailwayNativePath:
        if settings.railway_native is None:
            raise PathError("railway-native: no [paths.railway-native] table")
        return cls(settings.railway_native, runner=runner)

    def __init__(
        self,
        settings: RailwayNativePathSettings,
        token: str | None = None,
        *,
        runner: Runner | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(runner)
        self.settings = settings
        self._token = token_from(token, settings.token_env)
        self._sleep = sleep

    def is_available(self) -> Availability:
        if not self._token:
            return Availability(False, f"railway: {self.settings.token_env} is not set")
        try:
            client = RailwayClient(self.settings, self._token, sleep=self._sleep)
            try:
                client.deployments(first=1)  # proves the token and the ids
            finally:
                client.close()
        except (PathError, TargetError) as exc:
            return Availability(False, str(exc))
        return Availability(True, "Railway API reachable, token accepted")

    def refuses(self, environment: str, target: BaseModel) -> str | None:
        """Why this path cannot deploy ``environment``, whose target settings are ``target``;
        None when it can."""
        if not isinstance(target, RailwayTargetSettings):
            kind = target.model_dump().get("type", "?")
            return (
                f"{environment}'s target is {kind}, not railway: the railway-native path "
                "deploys only a railway target"
            )
        s = self.settings
        wanted = (
            ("project_id", s.project_id, target.project_id),
            ("service_id", s.service_id, target.service_id),
            (
                "environment_id",
                s.environment_ids.get(environment, s.environment_id),
                target.environment_id,
            ),
        )
        for key, value, theirs in wanted:
            if theirs != value:
                return (
                    f"[paths.railway-native] {key} {value!r} is not {environment}'s target's "
                    f"({theirs!r})"
                )
        return None
