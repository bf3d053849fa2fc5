"""``kcompat-convert SOURCE OUTPUT``: the command line of :func:`kcompat.convert.convert`."""

from __future__ import annotations

import argparse
import json
import sys

from .._cli import add_version, run
from .converter import FORMATS, convert

__all__ = ["main"]


def _table(summary):
    rows = [("layer", "class", "shapes", "action")]
    for row in summary["layers"]:
        shapes = ", ".join("x".join(map(str, s)) or "scalar" for s in row["shapes"])
        rows.append((row["layer"], row["class"], shapes, row["action"]))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
    skipped = ", ".join(f"{n} {reason}" for reason, n in summary["skipped"].items()) or "none"
    lines.append(
        f"{summary['tensors_in_file']} tensors in {summary['source']} ({summary['kind']}): "
        f"{summary['written']} written to {summary['output']} ({summary['format']}), "
        f"{summary['converted_layers']} {'layers' if summary.get('scheme') == 'load_model' else 'transposed convolutions'}"
        f" with configs; left out: {skipped}"
    )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="kcompat-convert",
        description="Convert a Keras file (.keras, .h5, .weights.h5) or a TensorFlow checkpoint into "
                    "PyTorch weights for kcompat layers, with their configs in OUTPUT.json.",
    )
    add_version(parser)
    parser.add_argument("source", help="the Keras file, or the checkpoint prefix / .index file / directory")
    parser.add_argument("output", help="where to write: .safetensors (default format) or .pt")
    parser.add_argument("--config", metavar="FILE",
                        help="the model config SOURCE's weights were saved from (model.json, or a .keras/.h5 "
                             "holding it): every layer then gets its load_model state-dict keys")
    parser.add_argument("--format", choices=FORMATS, help="output format (default: from OUTPUT's extension)")
    parser.add_argument("--force", action="store_true", help="overwrite OUTPUT and OUTPUT.json")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    code, summary = run("kcompat-convert", lambda: convert(args.source, args.output, config=args.config,
                                                         format=args.format, force=args.force))
    if code:
        return code
    if args.json:
        print(json.dumps(summary, indent=1))
    elif not args.quiet:
        print(_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
