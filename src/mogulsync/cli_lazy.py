"""A command group whose sub-commands are imported only when one of them runs.

``mogulsync --help`` lists every command from a name and a one-line help kept here, without
importing the modules behind them (SQLAlchemy, dlt, httpx, the emulator ...): only the
command actually run, or asked for its own ``--help``, is imported.

A command that runs asks for a quick exit (``mogulsync._quick_exit``): once it is done, the
console-script process ends without the interpreter's teardown, which after the imports of a
real command costs ~0.1 s of CPU. Long-running commands (servers) are left out: their exit is
Python's own. In-process callers (tests, ``CliRunner``) never arm it, so nothing changes there.
"""

from __future__ import annotations

import functools
import importlib
import re
import weakref
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, ClassVar

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from mogulsync import _quick_exit as quick_exit

if TYPE_CHECKING:
    from typer import _click


class _Placeholder(TyperCommand):
    """Stands in for a command not imported yet: enough for a help listing."""

    target: str = ""


class LazyGroup(TyperGroup):
    """A Typer group whose ``lazy`` commands are ``"name": ("module:attribute", "help")``.

    The attribute is a ``typer.Typer`` (a group of sub-commands) or a command function.
    Subclass and fill ``lazy``; pass the subclass as ``typer.Typer(cls=...)``. Every command
    asks for a quick exit when it runs, except the paths in ``long_running`` (``"events
    serve"``): a server's exit stays Python's own.
    """

    lazy: ClassVar[dict[str, tuple[str, str]]] = {}
    long_running: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, (target, summary) in self.lazy.items():
            placeholder = _Placeholder(name, help=summary)
            placeholder.target = target
            self.commands.setdefault(name, placeholder)
        self._listing = False

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        # The listing needs only names and help lines: keep the placeholders.
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:  # noqa: ARG002
        command = self.commands.get(cmd_name)
        if isinstance(command, _Placeholder) and not self._listing:
            command = load_command(cmd_name, command.target, self.long_running)
            self.commands[cmd_name] = command
        return command


def load_command(name: str, target: str, long_running: Collection[str] = ()) -> _click.Command:
    """Import ``module:attribute`` and turn it into a click command named ``name``.

    Each command under it, but those whose path (``"events serve"``) is in
    ``long_running``, asks for a quick exit when it runs.
    """
    module_name, _, attribute = target.partition(":")
    obj = getattr(importlib.import_module(module_name), attribute)
    command: _click.Command
    if isinstance(obj, typer.Typer):
        # always a group, even with one sub-command (``alerts test``), as add_typer mounts it
        command = typer.main.get_group(obj)
        command.no_args_is_help = True  # `mogulsync sync` lists its commands, as the root does
    else:
        # no --install-completion/--show-completion: the root has none either (add_completion)
        single = typer.Typer(add_completion=False)
        single.command(name)(obj)
        command = typer.main.get_command(single)
    command.name = name
    plain_help(command)
    _ask_quick_exit(command, name, long_running)
    return command


def _ask_quick_exit(command: _click.Command, path: str, long_running: Collection[str]) -> None:
    """Wrap each one-shot command's callback so that running it asks for a quick exit.

    Only a command that runs asks: a usage error or ``--help`` ends as Python ends.
    """
    if isinstance(command, TyperGroup):
        for sub_name, sub in command.commands.items():
            _ask_quick_exit(sub, f"{path} {sub_name}", long_running)
    elif path not in long_running and command.callback is not None:
        command.callback = _one_shot(command.callback)


def _one_shot(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        quick_exit.request()  # effective only in the console-script process (armed there)
        return callback(*args, **kwargs)

    _ONE_SHOT.add(run)
    return run


#: the wrapped callbacks (for ``asks_quick_exit``)
_ONE_SHOT: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()


def asks_quick_exit(command: _click.Command) -> bool:
    """True when running ``command`` asks for a quick exit (for tests)."""
    return command.callback in _ONE_SHOT


def plain_help(command: _click.Command) -> None:
    """Plain help for a command and everything under it (see ``rich_markup_mode`` in cli.py)."""
    if isinstance(command, TyperCommand | TyperGroup):
        command.rich_markup_mode = None
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            plain_help(sub)


def _type_label(self: TyperOption, ctx: _click.Context) -> str | None:
    """Flags take no value: show no ``<bool>`` placeholder after them in help. A value
    reads as what one occurrence takes: ``<str>``, not Python's ``<list[str]>`` (the help
    says "repeat"), ``<int>``, not ``<int range>`` (the range is shown with the default)."""
    if self.is_flag and not self.count:
        return None
    label = _typed_label(self, ctx)
    if label is None:
        return None
    label = re.sub(r"list\[([^\]]+)\]", r"\1", label)
    return re.sub(r"\b(int|float) range\b", r"\1", label)


# Typer labels every option with its type, flags included (``--json <bool>``), which reads
# as if the flag wanted a value; tests/unit/test_cli_help.py checks every command's help.
_typed_label = TyperOption.display_type_rich
TyperOption.display_type_rich = _type_label  # type: ignore[method-assign]


def _usage_name(self: TyperArgument) -> str:
    """``NAME`` / ``[NAME]`` on the usage line, as the docs write it (Typer shows ``{name}``,
    which reads like a template left unfilled)."""
    name = (self.metavar or self.name or "").upper()
    name = name if self.required else f"[{name}]"
    return f"{name}..." if self.nargs != 1 else name


def _listed_name(self: TyperArgument) -> str:
    """The same ``NAME`` in the help's Arguments list."""
    name = (self.metavar or self.name or "").upper()
    return f"{name}..." if self.metavar is None and self.nargs != 1 else name


# Typer has no public hook for these; tests/unit/test_cli_help_usage.py fails if they move.
TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]  # noqa: SLF001
TyperArgument._rich_display_name = _listed_name  # type: ignore[method-assign]  # noqa: SLF001


def command_paths(command: _click.Command, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path under ``command`` (itself first), importing lazy ones (for tests)."""
    found = [prefix]
    if isinstance(command, TyperGroup):
        ctx = typer.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None:
                found.extend(command_paths(sub, (*prefix, name)))
    return found
