"""Load only the pulumi_aws files a program uses, not whole service modules.

Most of an offline plan's time is Python importing pulumi_aws. A service package
(``pulumi_aws.ec2``) imports every resource and function file it holds in its ``__init__``: for
ec2 that is 180 files, about half of the package's import time, when a layer uses six classes.
With :func:`install`, a service package whose ``__init__`` only re-exports its files (``from .vpc
import *`` ..., ``from . import outputs``: every pulumi_aws service package) is created without
running that ``__init__``; the first lookup of a name (``aws.ec2.Vpc``) imports the one file whose
``__all__`` lists it. The objects are the SDK's own (the same files, imported under the same
names), so nothing a program sees changes, only what is never looked at is never loaded. A name
no file lists, ``dir()`` and ``from ... import *`` run the package's real ``__init__`` first, so
they see exactly what they would without this.

Only the offline plan installs it (shared.plan.engine); a real ``pulumi up`` imports the SDK as usual.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.machinery
import re
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "pulumi_aws"

# What an SDK service package's __init__ may contain to be loaded lean; anything else (a nested
# lazily imported package, code) and it is imported as usual.
_ALLOWED_LINE = re.compile(
    r"^(?:#.*|import builtins as _builtins|import typing|from \.\. import _utilities"
    r"|from \.(\w+) import \*|from \. import (\w+))$"
)
_ALL = re.compile(r"^__all__ = \[([^\]]*)\]", re.MULTILINE)
_NAME = re.compile(r"'(\w+)'")
# A resource or function file's __all__ is one line near the top; the type files' is long.
_HEAD = 4096
_TYPE_FILES = ("_enums", "_inputs", "outputs")


def _exports(path: Path, whole: bool) -> list[str] | None:
    """The names in a file's ``__all__`` (None when the file has none where it is looked for)."""
    try:
        with path.open(encoding="utf-8") as handle:
            text = handle.read() if whole else handle.read(_HEAD)
    except OSError:
        return None
    found = _ALL.search(text)
    return _NAME.findall(found.group(1)) if found else None


def _layout(init: Path) -> tuple[list[str], list[str]] | None:
    """The files an ``__init__`` star-imports and the modules it imports by name, in order; None
    when it does anything else."""
    try:
        lines = init.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    star: list[str] = []
    plain: list[str] = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        match = _ALLOWED_LINE.match(line)
        if match is None:
            return None
        if match.group(1):
            star.append(match.group(1))
        elif match.group(2):
            plain.append(match.group(2))
    return star, plain


_INDEX_LOCK = threading.Lock()
_INDEXES: dict[Path, dict[str, str]] = {}
_TYPED: set[Path] = set()


def _locate(directory: Path, star: Sequence[str], name: str) -> str | None:
    """The file (``vpc``, ``_inputs``) of ``directory``'s package that exports ``name``, from each
    file's ``__all__``; the long type files are read only for a name no other file exports."""
    with _INDEX_LOCK:
        index = _INDEXES.get(directory)
        if index is None:
            index = _INDEXES[directory] = {}
            for file in star:
                if file not in _TYPE_FILES:
                    # Later star imports win in the real __init__; so here.
                    for exported in _exports(directory / f"{file}.py", whole=False) or ():
                        index[exported] = file
        if name not in index and directory not in _TYPED:
            _TYPED.add(directory)
            for file in _TYPE_FILES:
                if file in star:
                    for exported in _exports(directory / f"{file}.py", whole=True) or ():
                        index.setdefault(exported, file)
        return index.get(name)


@functools.cache
def _package_path() -> list[str] | None:
    """Where pulumi_aws lives, found without importing it."""
    spec = importlib.machinery.PathFinder.find_spec(PACKAGE)
    return list(spec.submodule_search_locations or ()) if spec else None


def files_for(module: str, name: str) -> list[Path]:
    """The files a lean import of ``module.name`` loads (its own file and the type files that file
    imports), found by reading, not importing; [] when it is not a lean package's name."""
    parent, _, child = module.partition(".")
    if parent != PACKAGE or not child or "." in child:
        return []
    root = _package_path()
    spec = importlib.machinery.PathFinder.find_spec(module, root) if root else None
    if spec is None or not spec.origin:
        return []
    layout = _layout(Path(spec.origin))
    if layout is None:
        return []
    directory = Path(spec.origin).parent
    file = _locate(directory, layout[0], name)
    if file is None:
        return []
    own = directory / f"{file}.py"
    files = [own]
    if file not in _TYPE_FILES:
        head = own.read_text(encoding="utf-8")[:_HEAD]
        files += [
            directory / f"{typed}.py"
            for typed in _TYPE_FILES
            if f"from . import {typed}" in head or f"from .{typed} import" in head
        ]
    return files


class _Lean:
    """Resolves a lean package's names on first use; see the module docstring."""

    def __init__(self, module: ModuleType, real: importlib.abc.Loader, star: list[str], plain: list[str]) -> None:
        self.module = module
        self.real = real
        self.directory = Path(module.__file__ or "").parent
        self.star = star
        self.plain = set(plain)
        self.complete = False
        self.lock = threading.RLock()

    def load_everything(self) -> None:
        with self.lock:
            if not self.complete:
                self.complete = True
                self.real.exec_module(self.module)

    def getattr(self, name: str) -> Any:
        # No lock is held while importing: the import system serialises each module itself, and
        # a file imported twice by racing threads is still one module in sys.modules.
        if not name.startswith("__") and not self.complete:
            file = _locate(self.directory, self.star, name)
            if file is not None:
                value = getattr(importlib.import_module(f"{self.module.__name__}.{file}"), name)
                setattr(self.module, name, value)
                return value
            if name in self.plain or name in self.star:  # `outputs`, `vpc`: the submodule itself
                return importlib.import_module(f"{self.module.__name__}.{name}")
        if name == "__all__" or not name.startswith("__"):
            self.load_everything()
            if name in self.module.__dict__:
                return self.module.__dict__[name]
        raise AttributeError(f"module {self.module.__name__!r} has no attribute {name!r}")

    def dir(self) -> list[str]:
        self.load_everything()
        return sorted(self.module.__dict__)


class _LeanLoader(importlib.abc.Loader):
    def __init__(self, real: importlib.abc.Loader, star: list[str], plain: list[str]) -> None:
        self.real = real
        self.star = star
        self.plain = plain

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.real.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        lean = _Lean(module, self.real, self.star, self.plain)
        # Module-level __getattr__/__dir__ (PEP 562): consulted only for names not yet defined.
        module.__dict__["__getattr__"] = lean.getattr
        module.__dict__["__dir__"] = lean.dir


def _lean_loader(spec: importlib.machinery.ModuleSpec | None) -> _LeanLoader | None:
    if spec is None or spec.loader is None or not spec.origin or not spec.submodule_search_locations:
        return None
    if isinstance(spec.loader, _LeanLoader) or not hasattr(spec.loader, "exec_module"):
        return None
    layout = _layout(Path(spec.origin))
    if layout is None:
        return None
    return _LeanLoader(spec.loader, *layout)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        parent, _, child = fullname.rpartition(".")
        if parent != PACKAGE or not child:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        loader = _lean_loader(spec)
        if spec is None or loader is None:
            return None  # not a lean package: the usual finders import it as always
        spec.loader = loader
        return spec


_FINDER = _Finder()


def install() -> None:
    """Load pulumi_aws service packages lean from now on in this process (idempotent).

    Also converts the service packages ``import pulumi_aws`` already registered lazily and nobody
    has used yet (pulumi_aws registers each service with a lazy loader that runs the real
    ``__init__`` on first attribute access)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    prefix = PACKAGE + "."
    for name, module in list(sys.modules.items()):
        if not name.startswith(prefix) or name.count(".") != 1:
            continue
        spec = getattr(module, "__spec__", None)
        # Not yet used: still the pulumi lazy module class, its spec holding the real loader.
        if spec is None or type(module).__name__ != "_LazyModule":
            continue
        loader = _lean_loader(spec)
        if loader is not None:
            spec.loader = loader


def touch(names: Sequence[tuple[str, str]]) -> None:
    """Import the files behind ``(module, name)`` pairs ahead of use (``("pulumi_aws.ec2",
    "Vpc")``); a name that does not resolve is left for the program to report."""
    for module, name in names:
        try:
            getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
