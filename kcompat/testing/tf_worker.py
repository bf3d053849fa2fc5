"""The loop of a TensorFlow worker process (:mod:`.tf_oracle` starts one per flavour).

Reads pickled ``(module, file, function, kwargs)`` requests on stdin and writes pickled
``("ok", result)`` or ``("error", (exception_type, message))`` replies on the original stdout
(fd 1 is pointed at stderr so that nothing TensorFlow prints can corrupt the protocol).
``module`` is imported by name where it is importable (``kcompat.testing.tf_calls``), else
from ``file`` (a test suite's own TF-side functions). The oracle sets ``TF_ENABLE_ONEDNN_OPTS``
before starting it: TensorFlow reads it at import.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pickle
import sys

__all__ = ["main"]

_modules = {}


def _function(module, file, name):
    loaded = _modules.get((module, file))
    if loaded is None:
        try:
            loaded = importlib.import_module(module)
        except ImportError:
            if file is None:
                raise
            spec = importlib.util.spec_from_file_location(module, file)
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[module] = loaded
            spec.loader.exec_module(loaded)
        _modules[(module, file)] = loaded
    return getattr(loaded, name)


def main():
    """Answer requests until stdin closes."""
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    proto_in = sys.stdin.buffer
    while True:
        try:
            module, file, name, kwargs = pickle.load(proto_in)
        except EOFError:
            return
        try:
            reply = pickle.dumps(("ok", _function(module, file, name)(**kwargs)))
        except Exception as exc:  # the oracle re-raises it in the caller (an unpicklable result too)
            reply = pickle.dumps(("error", (type(exc).__name__, str(exc))))
        proto_out.write(reply)
        proto_out.flush()


if __name__ == "__main__":
    main()
