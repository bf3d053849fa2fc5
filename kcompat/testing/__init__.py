"""Parity tools: TensorFlow run in worker processes, and an independent float64 reference.

Nothing here imports TensorFlow into the calling process: :mod:`.tf_oracle` starts workers
(``python -m kcompat.testing.tf_worker``) so that a TensorFlow crash or heap corruption can
never poison the caller or another comparison.

Modules, one job each: :mod:`.parity` (the engine: both sides built, run and judged),
:mod:`.result` (what a comparison found), :mod:`.tolerance` (the one agreement rule),
:mod:`.tf_defects` (where TensorFlow is wrong and what stands in), :mod:`.tf_oracle` (the
workers; :mod:`.tf_worker` their loop, :mod:`.tf_calls` what they compute),
:mod:`.numpy_reference` (float64, from TensorFlow's definition).

:func:`assert_parity` compares one kcompat layer (or Keras config) with TensorFlow's; the
``parity`` pytest fixture (:mod:`.pytest_plugin`) hands it to users' test suites.
:func:`assert_model_parity` (:mod:`.model_parity`) compares a whole ported model with the Keras
model file it came from, end to end and layer by layer.
"""

from .model_parity import ModelParity, assert_model_parity, check_model_parity
from .parity import ParityResult, TensorFlowMissing, assert_parity, check_parity

__all__ = ["ModelParity", "ParityResult", "TensorFlowMissing", "assert_model_parity", "assert_parity",
           "check_model_parity", "check_parity"]
