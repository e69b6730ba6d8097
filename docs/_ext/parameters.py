"""Sphinx extension: a class's reference lists every parameter it accepts, with its default.

Operators take most of their parameters from this provider's base classes (the connection, the
hook's limits, ``fail_on``, ``deferrable`` ...) through ``**kwargs``, so autodoc alone would show
only the ones the class itself names. For each documented class, the ``:param`` entries of its
docstring are completed with those of its bases in this package (nearest first), each with the
default its ``__init__`` gives; and "Bases:" names the public Airflow class it builds on, not a
private base of this package. ``tests/test_param_reference.py`` checks every public class.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

PACKAGE = "airflow_provider_soda"
_PARAM = re.compile(r"^(\s*):param\s+(?:[^:]+\s)?(\w+):\s?(.*)$")


def _own_classes(cls: type) -> list[type]:
    return [c for c in cls.__mro__ if c.__module__.startswith(PACKAGE)]


def param_blocks(docstring: str | None) -> dict[str, list[str]]:
    """``{name: lines}`` of the ``:param name:`` entries of a docstring (continuation lines included)."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    indent = 0
    for line in inspect.cleandoc(docstring or "").splitlines():
        match = _PARAM.match(line)
        if match:
            indent = len(match.group(1))
            current = blocks.setdefault(match.group(2), [])
            current.append(line.strip())
        elif current is not None and line.strip() and len(line) - len(line.lstrip()) > indent:
            current.append(line.strip())
        else:
            current = None
    return blocks


def accepted(cls: type) -> dict[str, Any]:
    """``{name: default}`` of every keyword the class accepts through its and its bases' ``__init__``."""
    found: dict[str, Any] = {}
    for klass in _own_classes(cls):
        if "__init__" not in vars(klass):
            continue
        for name, parameter in inspect.signature(klass.__init__).parameters.items():
            if name == "self" or parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                continue
            found.setdefault(name, parameter.default)
    return found


def merged(cls: type) -> dict[str, str]:
    """``{name: text}`` of every parameter the class documents or inherits, with its default."""
    texts: dict[str, str] = {}
    for klass in _own_classes(cls):
        for name, lines in param_blocks(klass.__doc__).items():
            texts.setdefault(name, " ".join(lines).split(":", 2)[2].strip())
    defaults = accepted(cls)
    for name, text in texts.items():
        default = defaults.get(name, inspect.Parameter.empty)
        if default is not inspect.Parameter.empty and "default" not in text.lower():
            texts[name] = f"{text} Default: ``{default!r}``."
    return texts


def _process_docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    if what != "class" or not isinstance(obj, type) or not obj.__module__.startswith(PACKAGE):
        return
    params = merged(obj)
    if not params:
        return
    kept, skipping = [], False
    for line in lines:
        if _PARAM.match(line):
            skipping = True
            continue
        if skipping and line.startswith((" ", "\t")) and line.strip():
            continue
        skipping = False
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    lines[:] = [*kept, "", *(f":param {name}: {text}" for name, text in params.items())]


def _process_bases(app: Any, name: str, obj: Any, options: Any, bases: list[type]) -> None:
    """Name the public classes a documented class builds on, not this package's private bases."""
    public: list[type] = []
    for base in bases:
        if base.__module__.startswith(PACKAGE) and (
            base.__name__.startswith("_") or base.__name__.endswith("Base")
        ):
            base = next(b for b in base.__mro__[1:] if not b.__module__.startswith(PACKAGE))
        public.append(base)
    unique = list(dict.fromkeys(public))
    # BaseOperator beside BaseSensorOperator says nothing more: keep the most specific ones.
    bases[:] = [b for b in unique if not any(o is not b and issubclass(o, b) for o in unique)]


def setup(app: Any) -> dict[str, Any]:
    app.connect("autodoc-process-docstring", _process_docstring)
    app.connect("autodoc-process-bases", _process_bases)
    return {"parallel_read_safe": True}
