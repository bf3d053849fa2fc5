"""``kcompat-port FILE OUT.py``: the command line of :func:`kcompat.models.port`."""

from __future__ import annotations

import argparse
import sys

from .._cli import add_version

__all__ = ["main"]


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="kcompat-port",
        description="Write a Keras model (.keras, whole-model .h5, or a Keras JSON config with --weights) as "
                    "readable PyTorch source (an nn.Module of kcompat layers, named as the Keras layers) and its "
                    "weights beside it (OUT.safetensors).")
    add_version(parser)
    parser.add_argument("source", help="the Keras model file (.keras, .h5, or model.json with --weights)")
    parser.add_argument("output", help="the Python file to write (OUT.py; the weights go to OUT.safetensors)")
    parser.add_argument("--weights", help="the weights, where SOURCE is a config (.weights.h5, .h5, or a TF2 "
                                          "object checkpoint prefix)")
    parser.add_argument("--custom-objects", metavar="MODULE.py",
                        help="your module of factories for layers kcompat does not have: it defines CUSTOM_OBJECTS = "
                             "{Keras class name: factory(config) returning a torch.nn.Module}; the generated file "
                             "imports it by name")
    parser.add_argument("--force", action="store_true", help="overwrite OUT.py and OUT.safetensors")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)
    from .._cli import run
    from .codegen import port

    code, result = run("kcompat-port", lambda: port(args.source, args.output, weights=args.weights, force=args.force,
                                                    custom_objects=args.custom_objects))
    if code:
        return code
    name, weights, tensors = result
    if not args.quiet:
        print(f"wrote {args.output} (class {name}; load() returns it with its weights) and {weights} "
              f"({tensors} tensors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
