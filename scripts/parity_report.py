"""The parity report: kcompat against real TensorFlow. Same as the ``kcompat-parity`` command.

    python scripts/parity_report.py [--peers] [--png] [--model FILE] [--fuzz N --seed S]
"""

import sys

from kcompat.harness.cli import main

if __name__ == "__main__":
    sys.exit(main())
