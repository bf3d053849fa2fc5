"""``kcompat-port FILE OUT.py``: the command line of :func:`kcompat.models.port`.

    kcompat-port model.keras model.py            # model.py and model.safetensors
    kcompat-port model.keras model.py --check    # ... then the generated module against TensorFlow
    kcompat-port --example unet.py --check       # the example U-Net shipped with kcompat

Exit status 0 when the files are written (and, with ``--check``, the generated module matches
TensorFlow), 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys

from .._cli import add_version

__all__ = ["main"]


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="kcompat-port",
        usage="%(prog)s [options] SOURCE OUT.py\n       %(prog)s [options] --example OUT.py",
        description="Write a Keras model (.keras, whole-model .h5, or a Keras JSON config with --weights) as "
                    "readable PyTorch source (an nn.Module of kcompat layers, named as the Keras layers) and its "
                    "weights beside it (OUT.safetensors). Porting needs no TensorFlow; --check does.")
    add_version(parser)
    parser.add_argument("paths", nargs="+", metavar="SOURCE OUT.py",
                        help="the Keras model file (.keras, .h5, or model.json with --weights), then the Python "
                             "file to write (OUT.py; the weights go to OUT.safetensors)")
    parser.add_argument("--example", action="store_true",
                        help="port the example model shipped with kcompat (a small U-Net, kcompat/examples/"
                             "unet.keras) instead of SOURCE: give OUT.py only")
    parser.add_argument("--check", action="store_true",
                        help="then import the generated module and compare it with the Keras model as TensorFlow "
                             "runs it (outputs, gradients, moving statistics, every layer call; needs "
                             "tensorflow-cpu)")
    parser.add_argument("--weights", help="the weights, where SOURCE is a config (.weights.h5, .h5, or a TF2 "
                                          "object checkpoint prefix)")
    parser.add_argument("--custom-objects", metavar="MODULE.py",
                        help="your module of factories for layers kcompat does not have: it defines CUSTOM_OBJECTS = "
                             "{Keras class name: factory(config) returning a torch.nn.Module}; the generated file "
                             "imports it by name")
    parser.add_argument("--force", action="store_true", help="overwrite OUT.py and OUT.safetensors")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)
    if args.example:
        if len(args.paths) != 1:
            parser.error(f"--example takes OUT.py only; received {len(args.paths)} paths {args.paths}")
        from ..examples import path as example_path

        source, output = example_path("unet"), args.paths[0]
    elif len(args.paths) != 2:
        parser.error(f"expected SOURCE and OUT.py (or --example OUT.py); received {len(args.paths)} path"
                     f"{'s' if len(args.paths) != 1 else ''} {args.paths}")
    else:
        source, output = args.paths
    if args.check and args.weights is not None:
        parser.error(_CHECK_NEEDS_A_MODEL_FILE)  # refused before anything is written
    from .._cli import run
    from .codegen import port

    code, result = run("kcompat-port", lambda: port(source, output, weights=args.weights, force=args.force,
                                                    custom_objects=args.custom_objects))
    if code:
        return code
    name, weights, tensors = result
    if not args.quiet:
        print(f"wrote {output} (class {name}; load() returns it with its weights) and {weights} "
              f"({tensors} tensors)")
    if not args.check:
        return 0
    code, checked = run("kcompat-port --check", lambda: check(output, source))
    if code:
        return code
    if not checked.ok or not args.quiet:
        print(summary(checked, output))
    return 0 if checked.ok else 1


_CHECK_NEEDS_A_MODEL_FILE = (
    "--check: compares with a whole-model file (.keras or .h5); a config with --weights is not one (check the "
    "ported module with kcompat.testing.assert_model_parity and the Keras model itself)")


def check(output, source, weights=None):
    """The generated module in ``output`` against the Keras model in ``source`` as TensorFlow
    runs it (:func:`kcompat.testing.check_model_parity`)."""
    import importlib.util
    import os

    from ..testing import check_model_parity
    from ..testing.parity import TensorFlowMissing

    if weights is not None:
        raise ValueError(_CHECK_NEEDS_A_MODEL_FILE)
    spec = importlib.util.spec_from_file_location(f"_kcompat_port_{os.getpid()}", os.path.abspath(output))
    generated = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generated)  # the file just written, from kcompat's checked template
    try:
        return check_model_parity(generated.load(), source)
    except TensorFlowMissing as exc:
        raise ValueError(f"--check needs TensorFlow: {exc}") from None


def summary(result, output):
    """What ``--check`` found: one line when everything agrees, the whole report otherwise."""
    if not result.ok:
        return f"{output} differs from TensorFlow:\n{result}"
    lines = str(result).splitlines()
    outputs = [" ".join(line.split(" at (")[0].split()) for line in lines if line.strip().startswith("output")]
    return f"checked {output}: {lines[0]}; {'; '.join(outputs)}"


if __name__ == "__main__":
    sys.exit(main())
