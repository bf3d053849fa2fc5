"""Convert a Keras file or TF checkpoint to PyTorch weights: the same as ``kcompat-convert``."""

import sys

from kcompat.convert.cli import main

if __name__ == "__main__":
    sys.exit(main())
