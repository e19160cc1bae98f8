"""A typer command that parses its plain options without pydantic (`score` starts faster).

Typer coerces every option through a pydantic ``TypeAdapter``; importing pydantic and
building one adapter per option costs about 0.1 s of CPU at each start, a large share of
a one-patient ``score`` (target: under 0.8 s cold). `LeanCommand` gives the options whose
coercion is trivial — ``bool`` flags, ``str``, ``Path`` (typer's own path checks still run), ``float`` and
``int`` without min/max/parser, given as plain command-line text — a converter that does
without pydantic, and hands every other value (or any value it is unsure of) to typer's
own coercion, so accepted values and error messages stay typer's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.core import TyperCommand, TyperGroup

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_PLAIN = (str, Path, float, int, bool)


class _LeanParse:
    def parse_args(self, ctx, args: list[str]) -> list[str]:
        for param in self.get_params(ctx):  # with --help, which typer adds
            _make_lean(param)
        return super().parse_args(ctx, args)


class LeanCommand(_LeanParse, TyperCommand):
    """`TyperCommand` whose plain options skip pydantic (see the module's docstring)."""


class LeanGroup(_LeanParse, TyperGroup):
    """`TyperGroup` whose own options (``--debug``, ``--help``) skip pydantic."""


def _make_lean(param) -> None:
    desc = getattr(param, "type_descriptor", None)
    if desc is None or getattr(param, "_runtime_param", "absent") is not None:
        return  # not a typer parameter of this typer version, or already built
    info = desc.parameter_info
    if (
        desc.annotation not in _PLAIN
        or desc.file_annotation is not None
        or getattr(info, "parser", None) is not None
        or getattr(info, "click_type", None) is not None
        or getattr(info, "min", None) is not None
        or getattr(info, "max", None) is not None
        or (desc.annotation is Path and getattr(info, "path_type", None) is not None)
        or param.multiple
        or param.nargs != 1
    ):
        return
    from typer._coercion import RuntimeParam

    @dataclass(frozen=True)
    class _Lean(RuntimeParam):
        def _coerce_value(self, value: Any, param, ctx) -> Any:
            out = _plain(self.annotation, value, self.parameter_info, param, ctx)
            if out is _UNSURE:  # typer's own coercion (pydantic), with its messages
                from typer._coercion import build_runtime_param

                return build_runtime_param(param.type_descriptor)._coerce_value(value, param, ctx)
            return out

    param._runtime_param = _Lean(parameter_info=info, annotation=desc.annotation)


_UNSURE = object()


def _plain(annotation, value, info, param, ctx):
    """``value`` converted as typer's pydantic adapter would, or `_UNSURE`."""
    if annotation is str:
        return value if isinstance(value, str) else _UNSURE
    if annotation is Path:
        if not isinstance(value, str) or value == "":
            return _UNSURE
        from typer._param_types import coerce_cli_path

        return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
    if annotation is bool or isinstance(value, bool):
        return value if annotation is bool and isinstance(value, bool) else _UNSURE
    if annotation is int:
        if isinstance(value, int):
            return value
        return int(value) if isinstance(value, str) and _INT.fullmatch(value) else _UNSURE
    if isinstance(value, (int, float)):  # annotation is float
        return float(value)
    return float(value) if isinstance(value, str) and _FLOAT.fullmatch(value) else _UNSURE
