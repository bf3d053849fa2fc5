"""What the parity command writes: the terminal table, the JSON and Markdown reports, the PNG.

Files are written to a temporary name in the target directory and renamed into place.
"""

from __future__ import annotations

import json
import math
import os
import platform
from collections import Counter, OrderedDict

from .._files import atomic_write, publish, temporary
from ..testing.result import describe

__all__ = ["failures", "summarize", "terminal_table", "markdown", "write_reports", "write_png", "versions"]

KCOMPAT = "kcompat"


def versions():
    """Versions of what was compared (TensorFlow's from its package metadata, never imported here)."""
    from importlib.metadata import PackageNotFoundError, version

    import numpy
    import torch

    import kcompat

    out = {"kcompat": kcompat.__version__, "torch": torch.__version__, "numpy": numpy.__version__,
           "python": platform.python_version()}
    for dist in ("tensorflow-cpu", "tensorflow", "keras", "tf_keras"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def _group(case):
    if "class_name" in case.config:  # a layer around the transposed convolution: grouped by class
        return (case.reference, case.config["class_name"],
                "channels_first" if case.channels_first else "channels_last",
                case.config["padding"] if isinstance(case.config.get("padding"), str) else "-")
    return (case.reference, f"{case.rank}-D", "channels_first" if case.channels_first else "channels_last",
            case.config.get("padding", "valid"))


def summarize(rows, implementation=KCOMPAT):
    """Per (reference, rank, data format, padding): counts by status and the largest error.

    ``rows``: ``[(case, {implementation: result})]``.
    """
    groups = OrderedDict()
    for case, results in rows:
        result = results.get(implementation)
        if result is None:
            continue
        g = groups.setdefault(_group(case), {"cases": 0, "match": 0, "refused": 0, "failed": 0, "max_rel": 0.0})
        g["cases"] += 1
        key = result.status if result.status in ("match", "refused") else "failed"
        g[key] += 1
        g["max_rel"] = max(g["max_rel"], result.max_rel)
    return groups


def failures(rows):
    """``[(case, kcompat's result)]`` of the cases where kcompat does not agree with TensorFlow."""
    return [(case, results[KCOMPAT]) for case, results in rows if not results[KCOMPAT].ok]


def _note_lines(rows):
    """One line per distinct note on kcompat's results (how a case was judged), with its count."""
    notes = Counter(note for _, results in rows if KCOMPAT in results for note in results[KCOMPAT].notes)
    return [f"Note ({count} case{'s' if count > 1 else ''}): {note}" for note, count in notes.items()]


def _summary_rows(rows):
    return [[*group, g["cases"], g["match"], g["refused"], g["failed"], f"{g['max_rel']:.1e}"]
            for group, g in summarize(rows).items()]


def _status_cell(result):
    if result is None:
        return "-"
    if result.status == "match":
        return f"ok {result.max_rel:.1e}"
    if result.status == "refused":
        return "refused (as TF)"
    if result.status == "mismatch" and result.differences:
        return f"DIFF {result.max_rel:.1e}"
    return {"mismatch": "SHAPE", "refuses": "REFUSES", "accepts": "ACCEPTS", "crashed": "TF CRASH"}[result.status]


def _table(header, body):
    widths = [max(len(str(r[i])) for r in [header] + body) for i in range(len(header))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in body])


def terminal_table(rows, implementations=(KCOMPAT,), per_case=False):
    """The summary for the terminal: kcompat per group (or per case), each peer's counts, failures."""
    if per_case:
        body = [[case.id, "x".join(map(str, case.input_shape)), _layer_text(case.config),
                 _status_cell(results.get(KCOMPAT))] for case, results in rows]
        out = [_table(["layer", "input", "config", "kcompat vs TF (max rel err)"], body)]
    else:
        out = [_table(["reference", "rank", "data_format", "padding", "cases", "match", "refused", "FAILED",
                       "max rel err"], _summary_rows(rows))]
    peers = [name for name in implementations if name != KCOMPAT]
    if peers:
        body = []
        for name in implementations:
            statuses = [results[name] for _, results in rows if name in results]
            ok = sum(r.ok for r in statuses)
            shape = sum(r.status == "mismatch" and not r.differences for r in statuses)
            values = sum(r.status == "mismatch" and bool(r.differences) for r in statuses)
            refusal = sum(r.status in ("refuses", "accepts", "crashed") for r in statuses)
            body.append([name, len(statuses), ok, values, shape, refusal,
                         f"{100 * (len(statuses) - ok) / max(1, len(statuses)):.0f}%"])
        out.append("")
        out.append(_table(["implementation", "cases", "as TF", "wrong values", "wrong shape",
                           "refusal differs", "differs"], body))
    for line in _note_lines(rows):
        out += ["", line]
    failed = failures(rows)
    if failed:
        out.append("")
        out.append(f"{len(failed)} kcompat case(s) differ from TensorFlow:")
        for case, result in failed[:20]:
            out.append(f"  {case.id}: {_status_cell(result)}  {result.message[:150]}")
        if len(failed) > 20:
            out.append(f"  ... and {len(failed) - 20} more (see the reports)")
    return "\n".join(out)


def _layer_text(config):
    """A model row's config column: the layer's class (when a model's row) and what differs from Keras's defaults."""
    text = describe(config)
    return f"{config['class_name']}: {text}" if config.get("class_name") and text else config.get("class_name") or text


def _payload(rows, title, implementations, extra=None):
    cases = []
    for case, results in rows:
        cases.append({"id": case.id, "reference": case.reference, "dtype": case.dtype,
                      "config": case.config, "input_shape": list(case.input_shape),
                      "results": {name: r.as_dict() for name, r in results.items()}})
    summary = {"/".join(group): g for group, g in summarize(rows).items()}
    failed = len(failures(rows))
    return {"title": title, "versions": versions(), "implementations": list(implementations),
            "cases": len(rows), "failed": failed, "ok": failed == 0, "summary": summary,
            **(extra or {}), "results": cases}


def markdown(rows, title, implementations=(KCOMPAT,), extra_lines=()):
    """The Markdown report: summary, failures, then every case with every implementation."""
    lines = [f"# {title}", "", "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()), ""]
    lines += list(extra_lines)
    lines += ["| reference | rank | data_format | padding | cases | match | refused by both | failed | max rel err |",
              "|---|---|---|---|---:|---:|---:|---:|---:|"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in _summary_rows(rows)]
    failed = failures(rows)
    lines += ["", f"**{len(rows)} cases, {len(failed)} kcompat failures.**", ""]
    notes = _note_lines(rows)
    lines += notes + ([""] if notes else [])
    if failed:
        lines += ["## Failures", ""]
        for case, result in failed:
            lines += [f"### `{case.id}`", "", "```", str(result), "```", ""]
    lines += ["## Every case", "", "Errors are max |ours - TF| / max(1, max |TF|) over the output and the gradients.",
              "", "| case | config | input | " + " | ".join(implementations) + " |",
              "|---|---|---|" + "---|" * len(implementations)]
    for case, results in rows:
        cells = [_status_cell(results.get(name)) for name in implementations]
        lines.append(f"| `{case.id}` | {describe(case.config)} | {tuple(case.input_shape)} | " + " | ".join(cells)
                     + " |")
    return "\n".join(lines) + "\n"


def write_reports(rows, directory, title, implementations=(KCOMPAT,), extra=None, extra_lines=()):
    """``report.json`` and ``report.md`` in ``directory``; returns their paths."""
    json_path = os.path.join(directory, "report.json")
    md_path = os.path.join(directory, "report.md")
    payload = _payload(rows, title, implementations, extra)
    atomic_write(json_path, (json.dumps(payload, indent=1, default=_jsonable) + "\n").encode())
    atomic_write(md_path, markdown(rows, title, implementations, extra_lines).encode())
    return json_path, md_path


def _jsonable(value):
    """numpy scalars as numbers; anything else JSON cannot hold (a custom dtype policy) as text."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _cell(result):
    """``(layer, value)`` of one case's cell: ``("error", log10 max rel error)``, ``("refused", 1)``
    (both refuse), ``("broken", 1)`` (wrong shape or a one-sided refusal), or ``None`` when the
    implementation was not run on the case (the cell stays blank)."""
    if result is None:
        return None
    if result.status == "refused":
        return "refused", 1.0
    if result.status == "match" or (result.status == "mismatch" and result.differences):
        return "error", math.log10(max(result.max_rel, 1e-17))
    return "broken", 1.0


def write_png(rows, path, implementations=(KCOMPAT,), width=24):
    """A grid per implementation: one cell per case, coloured by its largest error (log10).

    Cases are laid out in blocks of ``width`` columns per (reference, rank, data format, padding),
    labelled on the left. Red: wrong shape, or a refusal TensorFlow does not share; white:
    both refuse. Needs matplotlib (``pip install matplotlib``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import ListedColormap

    blocks = OrderedDict()
    for case, results in rows:
        blocks.setdefault(_group(case), []).append(results)
    layout, ticks = [], []  # (row, col) per case, block label positions
    top = 0
    for group, members in blocks.items():
        ticks.append((top, "/".join(group)))
        for i in range(len(members)):
            layout.append((top + i // width, i % width))
        top += -(-len(members) // width) + 1
    ordered = [results for members in blocks.values() for results in members]
    height = max(1, top - 1)
    fig, axes = plt.subplots(1, len(implementations), squeeze=False,
                             figsize=(3.2 * len(implementations) + 2.6, 0.16 * height + 1.8))
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#f4f4f4")
    image = None
    for k, (ax, name) in enumerate(zip(axes[0], implementations)):
        layers = {kind: np.full((height, width), np.nan) for kind in ("error", "refused", "broken")}
        for (r, c), results in zip(layout, ordered):
            cell = _cell(results.get(name))
            if cell is not None:
                layers[cell[0]][r, c] = cell[1]
        values, refused, broken = layers["error"], layers["refused"], layers["broken"]
        image = ax.imshow(np.clip(values, -17, 0), cmap=cmap, vmin=-17, vmax=0, interpolation="nearest",
                          aspect="auto")
        ax.imshow(refused, cmap=ListedColormap(["#ffffff"]), interpolation="nearest", aspect="auto")
        ax.imshow(broken, cmap=ListedColormap(["#d62728"]), interpolation="nearest", aspect="auto")
        failed = sum(1 for results in ordered if name in results and not results[name].ok)
        total = sum(1 for results in ordered if name in results)
        ax.set_title(f"{name}: {failed}/{total} differ", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([t for t, _ in ticks])
        ax.set_yticklabels([label for _, label in ticks] if k == 0 else [], fontsize=7)
    bar = fig.colorbar(image, ax=axes[0].tolist(), fraction=0.03)
    bar.set_label("log10 max relative error", fontsize=8)
    fig.text(0.01, 0.01, "red: wrong shape, or refuses/accepts where TensorFlow does not; white: both refuse",
             fontsize=7)
    fig.suptitle("Transposed convolutions against TensorFlow, one cell per configuration", fontsize=11)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = temporary(path)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
        publish(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
