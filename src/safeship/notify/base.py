"""The Notifier port: something the event bus delivers every event to (Slack, GitHub, ...).

Constructor contract (what the ``safeship.notifiers`` entry point names): a class with
``configured(settings, errors) -> Notifier | None``. ``settings`` is the notifier's table of
safeship.toml: ``[github]`` for "github", ``[notify.NAME]`` for any other (a built-in's as its
model, a third party's as the table's dict); ``errors`` is where warnings go (stderr when None).
None means it cannot run now (its token or URL is not set): it says so in one warning line,
and the deploy goes on without it. A deploy never fails for want of a notification.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TextIO

from safeship.events import Event

if TYPE_CHECKING:
    from safeship.config.models import SafeshipConfig


class Notifier(Protocol):
    def handle(self, event: Event) -> None:
        """Take one (redacted) event; queue any slow call (``safeship.notify.worker``): the
        deploy waits for this."""
        ...

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued, waiting at most ``timeout`` seconds, then stop."""
        ...


class NotifierClass(Protocol):
    def configured(self, settings: Any, errors: TextIO | None = None) -> Notifier | None: ...


def configured_notifiers(config: SafeshipConfig) -> dict[str, Any]:
    """Each configured notifier's name and settings, in the file's order ([github] first)."""
    found: dict[str, Any] = {}
    if config.github is not None:
        found["github"] = config.github
    found.update(config.notify.sections())
    return found


def build_notifiers(config: SafeshipConfig, errors: TextIO | None = None) -> list[Notifier]:
    """The configured notifiers that can run now, through the plugin registry."""
    from safeship.plugins import NOTIFIERS, load_adapter

    notifiers: list[Notifier] = []
    for name, settings in configured_notifiers(config).items():
        adapter: NotifierClass = load_adapter(NOTIFIERS, name)
        notifier = adapter.configured(settings, errors)
        if notifier is not None:
            notifiers.append(notifier)
    return notifiers
