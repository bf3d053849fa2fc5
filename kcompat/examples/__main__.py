"""``python -m kcompat.examples``: the path of each example model file."""

from . import EXAMPLES, path

for _name in EXAMPLES:
    print(f"{_name}: {path(_name)}")
