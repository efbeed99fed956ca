"""The root command's subcommands, each built only when it runs (or --help lists it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING

import typer
from typer.models import TyperInfo

if TYPE_CHECKING:
    from typer._click import Command
    from typer.core import MarkupMode


class LazyCommands(MutableMapping[str, "Command"]):
    """The root group's commands, each built (and its group's module imported) on first use.

    Typer builds every command of an app before running one (evaluating every parameter's
    annotations); this mapping builds only the one that runs (--help builds them all). Its keys
    keep the order of registration: commands, then groups, then lazy groups.
    """

    def __init__(self, typer_app: typer.Typer, lazy_groups: Mapping[str, str]) -> None:
        from functools import partial

        from typer.main import get_command_from_info, get_command_name

        short = typer_app.pretty_exceptions_short
        markup = typer_app.rich_markup_mode
        suggest = typer_app.suggest_commands
        self._built: dict[str, Command] = {}
        self._make: dict[str, Callable[[], Command]] = {}
        for info in typer_app.registered_commands:
            assert info.callback is not None
            name = info.name or get_command_name(info.callback.__name__)
            self._make[name] = partial(
                get_command_from_info, info, pretty_exceptions_short=short, rich_markup_mode=markup
            )
        groups: list[tuple[str | None, TyperInfo | Callable[[], TyperInfo]]] = [
            (group.name, group) for group in typer_app.registered_groups
        ]
        groups += [(n, partial(_lazy_typer_info, n, target)) for n, target in lazy_groups.items()]
        for group_name, group in groups:
            assert group_name, "name every group: app.add_typer(..., name=...)"
            self._make[group_name] = partial(
                _group_command,
                group,
                pretty_exceptions_short=short,
                rich_markup_mode=markup,
                suggest_commands=suggest,
            )

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            self._built[name] = self._make[name]()
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._built[name] = command
        self._make.setdefault(name, lambda: command)

    def __delitem__(self, name: str) -> None:
        del self._make[name]
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._make)

    def __len__(self) -> int:
        return len(self._make)


def _lazy_typer_info(name: str, target: str) -> TyperInfo:
    import importlib

    module, _, attribute = target.partition(":")
    sub_app: typer.Typer = getattr(importlib.import_module(module), attribute)
    return TyperInfo(sub_app, name=name)


def _group_command(
    group: TyperInfo | Callable[[], TyperInfo],
    *,
    pretty_exceptions_short: bool,
    rich_markup_mode: MarkupMode,
    suggest_commands: bool,
) -> Command:
    from typer.main import get_group_from_info

    return get_group_from_info(
        group if isinstance(group, TyperInfo) else group(),
        pretty_exceptions_short=pretty_exceptions_short,
        rich_markup_mode=rich_markup_mode,
        suggest_commands=suggest_commands,
    )
