"""kcompat's version (one place: the package, its commands and the files kcompat-port writes read it)."""

__version__ = "0.1.0"
