"""What every kcompat command does around its work: one line per error, nothing half-written.

An error is one line on stderr, ``<tool>: error: <message>`` (the message names the file), and
exit 1; Ctrl-C (SIGINT) and SIGTERM stop the work where it stands, so that the ``finally`` blocks
of :func:`kcompat._files.write_together` remove the temporaries, and exit 130 / 143.
"""

from __future__ import annotations

import signal
import sys

__all__ = ["Terminated", "add_version", "one_line", "run"]


def add_version(parser):
    """``--version``: the tool, kcompat's version, and torch's (what a bug report needs)."""
    import torch

    from ._version import __version__

    parser.add_argument("--version", action="version",
                        version=f"%(prog)s (kcompat {__version__}, torch {torch.__version__})")
    return parser


class Terminated(BaseException):
    """SIGTERM, raised where the work stands so that its temporary files are removed (as on
    Ctrl-C); by default the process would die with them left behind."""


def _terminate(signum, frame):
    raise Terminated()


def _on_sigterm(handler):
    """Install ``handler`` for SIGTERM; returns the previous one (``None`` off the main thread,
    where Python cannot install handlers)."""
    if handler is None:
        return None
    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:
        return None


def one_line(text):
    """``text`` on one line: a list of problems after ``:\\n  `` joined with ``; ``."""
    text = str(text).replace(":\n  ", ": ").replace("\n  ", "; ")
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def run(tool, work):
    """Run ``work()`` for command ``tool``; returns ``(exit code, result)``. A ``ValueError`` or
    ``OSError`` is the user's input (printed as it is); any other exception is a kcompat bug:
    printed on one line too, with a request to report it."""
    previous = _on_sigterm(_terminate)
    try:
        return 0, work()
    except KeyboardInterrupt:
        print(f"{tool}: interrupted; nothing written", file=sys.stderr)
        return 130, None
    except Terminated:
        print(f"{tool}: terminated; nothing written", file=sys.stderr)
        return 128 + signal.SIGTERM, None
    except RecursionError:
        print(f"{tool}: error: the model's config nests deeper than Python can follow; nothing written",
              file=sys.stderr)
        return 1, None
    except (ValueError, OSError) as exc:
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        where = f"{exc.filename}: " if isinstance(exc, OSError) and exc.filename else ""
        print(f"{tool}: error: {where}{one_line(message)}", file=sys.stderr)
        return 1, None
    except MemoryError:
        print(f"{tool}: error: out of memory; nothing written", file=sys.stderr)
        return 1, None
    except Exception as exc:  # noqa: BLE001 - a command never ends in a traceback
        print(f"{tool}: error: {type(exc).__name__}: {one_line(exc)} (a kcompat bug: please report it with the "
              "file); nothing written", file=sys.stderr)
        return 1, None
    finally:
        _on_sigterm(previous)
