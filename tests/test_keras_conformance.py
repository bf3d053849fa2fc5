"""Keras's own layer tests, read from the installed ``keras`` and run against kcompat.

Every test function of every upstream layer test module is accounted for: it runs (through the
stand-ins of :mod:`keras_conformance`), or a rule below says why it does not apply to a ported
model, or it is a known gap kcompat has yet to close (strict xfail: it fails the day it passes).
Upstream files for layers kcompat does not have are listed with the reason. A Keras upgrade that
adds a test or a file fails :func:`test_every_upstream_test_is_accounted_for` until it is sorted.
"""

from __future__ import annotations

import re

import pytest

import keras_conformance as kc

# Upstream modules of the layers kcompat has, under keras/src/layers.
FILES = [
    "activations/activation_test.py", "activations/elu_test.py", "activations/leaky_relu_test.py",
    "activations/prelu_test.py", "activations/relu_test.py", "activations/softmax_test.py",
    "attention/attention_test.py", "attention/multi_head_attention_test.py",
    "convolutional/conv_test.py", "convolutional/conv_transpose_test.py", "convolutional/depthwise_conv_test.py",
    "convolutional/separable_conv_test.py",
    "core/dense_test.py", "core/einsum_dense_test.py", "core/embedding_test.py", "core/identity_test.py",
    "merging/merging_test.py",
    "normalization/batch_normalization_test.py", "normalization/group_normalization_test.py",
    "normalization/layer_normalization_test.py", "normalization/unit_normalization_test.py",
    "pooling/average_pooling_test.py", "pooling/global_average_pooling_test.py",
    "pooling/global_max_pooling_test.py", "pooling/max_pooling_test.py",
    "preprocessing/image_preprocessing/center_crop_test.py", "preprocessing/image_preprocessing/resizing_test.py",
    "preprocessing/normalization_test.py", "preprocessing/rescaling_test.py",
    "regularization/dropout_test.py", "regularization/gaussian_dropout_test.py",
    "regularization/gaussian_noise_test.py", "regularization/spatial_dropout_test.py",
    "reshaping/cropping1d_test.py", "reshaping/cropping2d_test.py", "reshaping/cropping3d_test.py",
    "reshaping/flatten_test.py", "reshaping/permute_test.py", "reshaping/repeat_vector_test.py",
    "reshaping/reshape_test.py", "reshaping/up_sampling1d_test.py", "reshaping/up_sampling2d_test.py",
    "reshaping/up_sampling3d_test.py", "reshaping/zero_padding1d_test.py", "reshaping/zero_padding2d_test.py",
    "reshaping/zero_padding3d_test.py",
]

# Upstream modules (path prefixes) for what kcompat has no layer for, and why.
OTHER_FILES = {
    "rnn/": "recurrent layers (LSTM, GRU, ConvLSTM, RNN cells, Bidirectional, TimeDistributed): not in kcompat",
    "layer_test.py": "Keras's Layer base class (tracking, autocast scopes, JAX/torch variables): kcompat's "
                     "base is tested by test_layer_base",
    "core/input_layer_test.py": "InputLayer: a Keras graph node; load_model reads it as the model's inputs",
    "core/lambda_layer_test.py": "Lambda runs Python from the model file: kcompat refuses to (test_hostile_files)",
    "core/masking_test.py": "Masking: kcompat has no Keras masks",
    "core/reversible_embedding_test.py": "ReversibleEmbedding (keras-hub's tied embedding): not in kcompat",
    "core/wrapper_test.py": "Wrapper: an abstract base for RNN wrappers",
    "regularization/activity_regularization_test.py": "ActivityRegularization: not in kcompat (a training loss)",
    "regularization/alpha_dropout_test.py": "AlphaDropout: not in kcompat",
    "attention/additive_attention_test.py": "AdditiveAttention: not in kcompat",
    "attention/grouped_query_attention_test.py": "GroupedQueryAttention: not in kcompat",
    "normalization/rms_normalization_test.py": "RMSNormalization: not in kcompat",
    "normalization/spectral_normalization_test.py": "SpectralNormalization (a training-time wrapper): not in kcompat",
    "pooling/adaptive_pooling": "AdaptiveAveragePooling/AdaptiveMaxPooling: not in kcompat",
    "preprocessing/": "data preprocessing and augmentation layers that run in tf.data pipelines (lookups, "
                      "hashing, text, audio, random augmentation): not in kcompat, which ports the model",
}

MASKS = "Keras masks (mask=, compute_mask, supports_masking): kcompat has no mask propagation"
QUANTIZED = ("LoRA and quantization (int8/int4/float8, GPTQ, AWQ): training and serving features of Keras; "
             "kcompat refuses them with an error naming the argument")
NOT_APPLICABLE = {  # regular expression on "file::function" -> why it does not apply
    r"lora|quantiz|int4|int8|float8|gptq|awq|kernel_packing|dtype_policy_map": QUANTIZED,
    r"mask|merging_test.py::test_errors$": MASKS,
    r"sparse|ragged": "sparse and ragged tensors: torch layers take dense tensors",
    r"legacy_load_own_variables|save|serialization_with_dtype_policy": "Keras's own saving internals: kcompat "
                                                                       "loads Keras files (test_load_model)",
    r"_calculate_score|_calculate_scores|_compute_attention|analyze_einsum|causal_only_skipped_for_subclass|"
    r"multi_head_attention_test.py::test_(initializer|mha_constraints|sliding_window_serialization)$":
        "tests a private helper or attribute of Keras's implementation (MultiHeadAttention's `_query_dense` "
        "sublayers, `_sliding_window`)",
    r"autocast_scope": "Keras's AutocastScope (a Keras backend context): torch has torch.autocast",
    r"flash_attention": "flash attention is a backend kernel choice (TensorFlow has none)",
    r"tf_data|grain|py_dataset|adapt_.*dataset|normalization_test.py::test_normalization_adapt2$":
        "tf.data and grain pipelines: kcompat's layers take tensors (and iterables of batches)",
    r"::test_.*seed|seed_preserved": "Keras's SeedGenerator: kcompat's random layers draw from torch's generator",
    r"bounding_box": "bounding-box inputs of preprocessing layers (augmentation pipelines): kcompat's take images",
    r"model_fit|flatten_with_dynamic_batch_size_and_dynamic|center_crop_test.py::test_dynamic_spatial_dims":
        "Keras's Sequential/fit training loop around the layer: kcompat builds models from files (load_model)",
}

# Tests whose checks apply up to a feature that does not (they end there, passed), and why.
PARTLY_APPLICABLE = {
    r"global_average_pooling_test.py::test_global_average_pooling1d$|merging_test.py::test_correctness_|"
    r"attention_test.py::test_attention_errors$|batch_normalization_test.py::test_correctness$":
        "then calls with a mask: " + MASKS,
}

# Tests of what a ported model needs that kcompat does not do yet: they must fail (strict), with why.
KNOWN_GAPS = {
}


def _reason(key, table):
    for pattern, why in table.items():
        if re.search(pattern, key):
            return why
    return None


def _params():
    params = []
    for relative in FILES:
        for class_name, generated, function in kc.cases(relative):
            key = f"{relative}::{function}"
            marks = []
            na = _reason(key, NOT_APPLICABLE) or _reason(f"{relative}::{generated}", NOT_APPLICABLE)
            gap = _reason(f"{relative}::{generated}", KNOWN_GAPS)
            if na:
                marks.append(pytest.mark.skip(reason=f"not applicable: {na}"))
            elif gap:
                marks.append(pytest.mark.xfail(strict=True, reason=f"known gap: {gap}"))
            partly = _reason(key, PARTLY_APPLICABLE) is not None
            params.append(pytest.param(relative, class_name, generated, partly, id=f"{relative}::{generated}",
                                       marks=marks))
    return params


@pytest.mark.parametrize(("relative", "class_name", "generated", "partly"), _params())
def test_upstream(relative, class_name, generated, partly):
    try:
        kc.run_case(relative, class_name, generated, partly)
    except kc.NotApplicable as e:
        pytest.fail(f"the test reached {e}, which kcompat has no counterpart for: translate it, or list it "
                    "in NOT_APPLICABLE with the reason")


def test_every_upstream_test_is_accounted_for():
    """Every upstream layer test module is run or listed; every rule still matches an upstream test."""
    upstream = sorted(str(p.relative_to(kc.LAYER_TESTS)) for p in kc.LAYER_TESTS.rglob("*_test.py"))
    unlisted = [f for f in upstream if f not in FILES and not any(f.startswith(o) for o in OTHER_FILES)]
    assert not unlisted, f"upstream layer tests neither run nor listed: {unlisted}"
    assert not [f for f in FILES if f not in upstream], "a listed module is gone upstream"
    keys = [f"{f}::{fn}" for f in FILES for fns in kc.test_functions(f).values() for fn in fns]
    generated = [f"{f}::{g}" for f in FILES for _, g, _ in kc.cases(f)]
    stale = [p for p in {**NOT_APPLICABLE, **PARTLY_APPLICABLE} if not any(re.search(p, k) for k in keys + generated)]
    stale += [p for p in KNOWN_GAPS if not any(re.search(p, k) for k in generated)]
    assert not stale, f"rules that match no upstream test: {stale}"
    assert len(keys) > 400  # the conformance suite reads what it should
