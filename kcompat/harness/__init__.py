"""The parity harness behind ``kcompat-parity``: grids, fuzzing, peers, models and reports.

The one-layer check it runs is :func:`kcompat.testing.check_parity`; TensorFlow runs in
worker processes (:mod:`kcompat.testing.tf_oracle`), never in this process.
"""
