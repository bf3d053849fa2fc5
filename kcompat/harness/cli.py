"""``kcompat-parity``: kcompat against real TensorFlow, on the built-in grid, a user's model, or at random.

    kcompat-parity                      # the built-in grid: 1-D, 2-D and 3-D layers, every API generation
    kcompat-parity --ranks 2            # ... Conv2DTranspose only
    kcompat-parity --peers --png        # ... beside Keras 3's torch backend and a plain torch port
    kcompat-parity --model gen.keras    # a saved model, whole and every layer call
    kcompat-parity --fuzz 500 --seed 1  # random configurations, shrunk to the smallest failure

Prints a table (with a progress bar on a terminal), writes ``report.json`` and ``report.md``
(and ``report.png`` with ``--png``) to ``--output``; exit status 0 when everything agrees with
TensorFlow, 1 when anything differs, 2 when the run cannot start (TensorFlow missing, bad
arguments, unreadable model).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

from .._cli import add_version
from ..testing.parity import REFERENCES, TensorFlowMissing, require_tensorflow
from ..testing.result import describe
from . import report
from .grid import RANKS

__all__ = ["main"]

DTYPES = ("float32", "float64", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16")


def _references(text):
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    bad = [v for v in values if v not in REFERENCES]
    if bad or not values:
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {', '.join(REFERENCES)}; "
                                         f"received {text!r}")
    return values


def _ranks(text):
    try:
        values = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        values = ()
    if not values or not set(values) <= {1, 2, 3}:
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of 1, 2, 3; received {text!r}")
    return values


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; received {text!r}")
    return value


def _parser():
    parser = argparse.ArgumentParser(
        prog="kcompat-parity",
        description="Check kcompat's Conv1DTranspose, Conv2DTranspose and Conv3DTranspose against real "
                    "TensorFlow (outputs and gradients).")
    add_version(parser)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--model", metavar="FILE",
                      help="check a Keras model file (.keras/whole-model .h5) loaded by kcompat.load_model: the "
                           "whole model and every layer call on the activations TensorFlow's model gives it")
    mode.add_argument("--fuzz", type=int, metavar="N", help="N random configurations instead of the grid")
    mode.add_argument("--layers", action="store_true",
                      help="the layers around the transposed convolution (Dense, Conv, BatchNormalization, "
                           "pooling, ...) over their grid, against Keras 3 and Keras 2")
    parser.add_argument("--seed", type=int, default=0, help="seed of --fuzz (default 0)")
    parser.add_argument("--sample", type=_positive, metavar="N",
                        help="N grid cases spread evenly over the grid (a quick check), not all of it")
    parser.add_argument("--peers", action="store_true",
                        help="also judge Keras 3 on the torch backend and a plain torch.nn.ConvTransposeNd port "
                             "(grid: against Keras 3)")
    parser.add_argument("--references", type=_references, default=REFERENCES, metavar="LIST",
                        help=f"API generations to compare with (default: {','.join(REFERENCES)})")
    parser.add_argument("--ranks", type=_ranks, default=(1, 2, 3), metavar="LIST",
                        help="spatial ranks of the grid and --fuzz: 1 (Conv1DTranspose), 2, 3 (default: 1,2,3; "
                             "tf1 and tf.nn are checked in 2-D only)")
    parser.add_argument("--dtype", choices=DTYPES, default="float32", help="dtype policy (default float32)")
    parser.add_argument("--no-grads", dest="grads", action="store_false", help="compare outputs only")
    parser.add_argument("--training", action="store_true",
                        help="--model: run both sides with training=True (batch statistics; random layers refused)")
    parser.add_argument("--output", default="parity-report", metavar="DIR",
                        help="where report.json / report.md / report.png go (default ./parity-report)")
    parser.add_argument("--png", action="store_true", help="also draw report.png (needs matplotlib)")
    parser.add_argument("--quiet", action="store_true", help="print only the last line")
    return parser


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.training and not args.model:
        parser.error("--training: only with --model (the grid and --fuzz compare layers in inference)")
    if not args.model and not any(r in RANKS[ref] for ref in args.references for r in args.ranks):
        parser.error(f"--ranks {','.join(map(str, args.ranks))}: {', '.join(args.references)} "
                     f"{'is' if len(args.references) == 1 else 'are'} checked in 2-D only")
    try:
        for reference in args.references:
            require_tensorflow(reference)
    except TensorFlowMissing as exc:
        print(f"kcompat-parity: {exc}", file=sys.stderr)
        return 2
    if args.png and importlib.util.find_spec("matplotlib") is None:
        print("kcompat-parity: --png needs matplotlib: pip install matplotlib", file=sys.stderr)
        return 2
    from ..testing.tf_oracle import default_oracle

    oracle = default_oracle()
    say = (lambda *a: None) if args.quiet else print
    try:
        if args.model:
            from .._cli import one_line
            from .model import ModelError, model_cases

            try:
                rows, title, lines = model_cases(args.model, oracle, grads=args.grads, training=args.training)
            except ModelError as exc:
                print(f"kcompat-parity: error: {one_line(exc)}", file=sys.stderr)
                return 2
            implementations, extra = ("kcompat",), {"model": args.model}
            for line in lines[:1]:
                say(line)
        elif args.layers:
            rows, title = _layers(args, oracle, say)
            implementations, extra, lines = ("kcompat",), {}, []
        elif args.fuzz is not None:
            rows, title, extra, lines = _fuzz(args, oracle, say)
            implementations = ("kcompat",)
        else:
            rows, title, implementations = _grid(args, oracle)
            extra, lines = {}, []
    except KeyboardInterrupt:
        print("kcompat-parity: interrupted; no report written", file=sys.stderr)
        return 130
    say(report.terminal_table(rows, implementations, per_case=bool(args.model)))
    json_path, md_path = report.write_reports(rows, args.output, title, implementations, extra, lines)
    written = [json_path, md_path]
    if args.png:
        written.append(report.write_png(rows, os.path.join(args.output, "report.png"), implementations))
    failed = len(report.failures(rows))
    verdict = "all agree with TensorFlow" if failed == 0 else f"{failed} DIFFER from TensorFlow"
    print(f"{title}: {len(rows)} cases, {verdict}. Reports: {', '.join(written)}")
    return 0 if failed == 0 else 1


def _grid(args, oracle):
    from .grid import default_grid
    from .peers import peers
    from .run import run_cases

    references = args.references
    if args.peers and "keras" not in references:
        references = ("keras", *references)  # peers port Keras 3's layer: judged against Keras 3
    cases = default_grid(references, args.dtype, ranks=args.ranks)
    whole = len(cases)
    if args.sample and args.sample < whole:
        cases = [cases[i * whole // args.sample] for i in range(args.sample)]
    implementations = ("kcompat", "keras3-torch", "torch-recipe") if args.peers else ("kcompat",)
    table = peers(oracle) if args.peers else None
    rows = run_cases(cases, oracle, grads=args.grads,
                     peers=lambda case: table if case.reference == "keras" else None)
    used = [r for r in references if any(case.reference == r for case in cases)]
    sample = f"; {len(cases)} of {whole} cases" if len(cases) < whole else ""
    title = f"kcompat parity: built-in grid ({', '.join(used)}; {_rank_text(args.ranks)}; {args.dtype}{sample})"
    return rows, title, implementations


def _layers(args, oracle, say):
    from ..testing.layer_parity import check_case
    from .grid import Case
    from .layer_grid import keras2_config, layer_grid

    references = [r for r in args.references if r in ("keras", "tf_keras")] or ["keras"]
    cases = [(case, r) for case in layer_grid() for r in references
             if r == "keras" or keras2_config(case.class_name, case.config) is not None]
    whole = len(cases)
    if args.sample and args.sample < whole:
        cases = [cases[i * whole // args.sample] for i in range(args.sample)]
    rows = []
    for i, (case, reference) in enumerate(cases):
        result = check_case(case, reference, args.dtype, oracle)
        label = f"{case.id}-{reference}"
        rows.append((Case(dict(case.config, class_name=case.class_name), _first_shape(case.input_shape), reference,
                          args.dtype, label=label), {"kcompat": result}))
        if not result.ok:
            say(f"{label}: {result}")
        elif (i + 1) % 200 == 0:
            say(f"{i + 1} of {len(cases)} layer cases compared")
    sample = f"; {len(cases)} of {whole} cases" if len(cases) < whole else ""
    return rows, f"kcompat parity: the layers around the transposed convolution ({', '.join(references)}; " \
                 f"{args.dtype}{sample})"


def _first_shape(shape):
    return tuple(shape[0]) if isinstance(shape, list) else tuple(shape)


def _fuzz(args, oracle, say):
    from .fuzz import fuzz
    from .run import case_seed

    result = fuzz(args.fuzz, args.seed, args.references, args.dtype, oracle, ranks=args.ranks)
    rows = [(case, {"kcompat": r}) for case, r in result.results]
    title = f"kcompat parity: fuzz (N={args.fuzz}, seed={args.seed}, {_rank_text(args.ranks)})"
    extra = {"fuzz": {"n": args.fuzz, "seed": args.seed, "ranks": list(args.ranks), "ran": result.ran,
                      "ok": result.ok}}
    lines = [f"Fuzz: {result.ran} of {args.fuzz} random cases run from seed {args.seed}, "
             f"{len(result.failures)} failing.", ""]
    failures, listed = [], {case.id for case, _ in rows}
    for (first, _), (case, res, steps) in zip(result.failures, result.shrunk):
        if case.id not in listed:
            listed.add(case.id)
            rows.append((case, {"kcompat": res}))
        reproduce = (f"kcompat.testing.assert_parity({case.config!r}, {tuple(case.input_shape)}, "
                     f"reference={case.reference!r}, dtype={case.dtype!r}, seed={case_seed(case)})")
        failures.append({"failure": first.id, "shrunk": case.id, "shrunk_config": case.config,
                         "shrunk_input_shape": list(case.input_shape), "shrink_steps": steps,
                         "reproduce": reproduce})
        text = [f"Failure {len(failures)} of {len(result.failures)}: {first.id} ({describe(first.config)}).",
                f"Shrunk in {steps} steps to {case.id}:", str(res), "Reproduce:", "  " + reproduce]
        say("\n".join(text) + "\n")
        lines += ["```", *text, "```", ""]
    if failures:
        extra["fuzz"].update(failures[0], failures=failures)
    return rows, title, extra, lines


def _rank_text(ranks):
    return ", ".join(f"{r}-D" for r in ranks)


if __name__ == "__main__":
    sys.exit(main())
