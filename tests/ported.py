"""Generated source imported as a user would: a file path in, its module out (a fresh name each time)."""

from __future__ import annotations

import importlib.util
import sys


def import_file(path):
    """The file at ``path`` as a module, under a name of its own, not left in ``sys.modules``."""
    name = f"ported_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module
