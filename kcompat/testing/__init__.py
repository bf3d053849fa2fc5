"""Parity tools: TensorFlow run in worker processes, and an independent float64 reference.

Nothing here imports TensorFlow into the calling process: :mod:`.tf_oracle` starts workers
(``python -m kcompat.testing._tf_worker``) so that a TensorFlow crash or heap corruption can
never poison the caller or another comparison.

:func:`assert_parity` compares one kcompat layer (or Keras config) with TensorFlow's; the
``parity`` pytest fixture (:mod:`.pytest_plugin`) hands it to users' test suites.
"""

from .parity import ParityResult, TensorFlowMissing, assert_parity, check_parity

__all__ = ["ParityResult", "TensorFlowMissing", "assert_parity", "check_parity"]
