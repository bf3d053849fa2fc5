"""TensorFlow-side builders of the test suite's models and checkpoints (run in the oracle's workers).

Called by reference through the oracle (``oracle.run(tf_fixtures.save_keras_models, ...)``):
the worker imports this file, the test process only names its functions.
"""

from __future__ import annotations

import inspect
import os

import numpy as np

from kcompat.testing.tf_calls import conv_transposes, keras_module, legacy_keras, tf


def _generator(mod, repeat_names=True):
    """A DCGAN-style generator with nested sub-models that reuse a layer name (``up``).

    tf_keras's HDF5 writer cannot hold a repeated nested name, so it gets ``up2``.
    """
    L = mod.layers
    z = mod.Input((16,))
    x = L.Dense(4 * 4 * 32, name="project")(z)
    x = L.Reshape((4, 4, 32), name="reshape")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.Conv2DTranspose(16, 5, strides=2, padding="same", activation="relu", name="deconv1")(x)
    x = L.Conv2DTranspose(8, 3, strides=2, padding="valid", output_padding=1, name="deconv2")(x)
    x = L.Conv2DTranspose(6, 4, strides=1, padding="same", use_bias=False, name="deconv3")(x)
    head1 = mod.Sequential([L.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1, name="up")],
                           name="head1")
    head2 = mod.Sequential([L.Conv2DTranspose(3, 2, strides=(1, 2), padding="valid", activation="tanh",
                                              name="up" if repeat_names else "up2")], name="head2")
    return mod.Model(z, head2(head1(x)), name="generator")


def save_keras_models(reference, directory):
    """Train a generator one step and save it in every format ``reference`` writes.

    Returns the files, and per transposed convolution (dotted name path) an input and the
    layer's output on it.
    """
    t = tf()
    mod = keras_module(reference)
    model = _generator(mod, repeat_names=reference == "keras")
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    model.fit(rng.standard_normal((4, 16)).astype("float32"),
              rng.standard_normal((4,) + tuple(model.output_shape[1:])).astype("float32"), verbose=0)
    for layer in model.layers:  # non-trivial biases and BN statistics
        for weight in layer.weights:
            weight.assign(rng.standard_normal(tuple(weight.shape)).astype("float32") * 0.1 + weight.numpy())
    files = {}
    os.makedirs(directory, exist_ok=True)
    if reference == "keras":
        for name in ("model.keras", "model.h5", "model.weights.h5"):
            path = os.path.join(directory, name)
            model.save_weights(path) if name.endswith(".weights.h5") else model.save(path)
            files[name] = path
    else:
        for name in ("model.h5", "model.weights.h5", "ckpt/model", "legacy_weights.h5"):
            path = os.path.join(directory, name)
            model.save_weights(path) if name != "model.h5" else model.save(path)
            files[name] = path
    layers = {}
    for path, layer in conv_transposes(model):
        x = rng.standard_normal((2,) + tuple(layer.input.shape[1:])).astype("float32")
        layers[path] = (x, np.asarray(layer(t.constant(x))), [np.asarray(w) for w in layer.weights])
    return {"files": files, "layers": layers, "weights": len(model.weights)}


def save_nd_model(reference, directory):
    """A model with a Conv1DTranspose (audio-style) and a Conv3DTranspose (volume-style) branch,
    random non-zero weights, saved whole by ``reference``'s Keras (``.keras`` and ``.h5`` for Keras 3,
    ``.h5`` for Keras 2). Returns the files, and per layer an input and its output."""
    t = tf()
    mod = keras_module(reference)
    L = mod.layers
    steps, volume = mod.Input((8, 4)), mod.Input((2, 3, 2, 3))
    audio = L.Conv1DTranspose(3, 5, strides=2, padding="same", activation="tanh", name="audio")(steps)
    voxels = L.Conv3DTranspose(2, (3, 2, 3), strides=(2, 1, 2), padding="valid", output_padding=(1, 0, 1),
                               name="voxels")(volume)
    model = mod.Model([steps, volume], [audio, voxels], name="nd")
    rng = np.random.default_rng(1)
    for weight in model.weights:
        weight.assign(rng.standard_normal(tuple(weight.shape)).astype("float32") * 0.3)
    os.makedirs(directory, exist_ok=True)
    files = {}
    for name in (("model.keras", "model.h5") if reference == "keras" else ("model.h5",)):
        files[name] = os.path.join(directory, name)
        model.save(files[name])
    layers = {}
    for path, layer in conv_transposes(model):
        x = rng.standard_normal((2,) + tuple(layer.input.shape[1:])).astype("float32")
        layers[path] = (x, np.asarray(layer(t.constant(x))), [np.asarray(w) for w in layer.weights])
    return {"files": files, "layers": layers}


def save_object_checkpoint(reference, layout, directory):
    """Train a generator (and for ``layout="dcgan"`` a discriminator) one Adam step each and save
    them with ``tf.train.Checkpoint`` as the TF tutorials do: ``"cvae"`` ``(model, optimizer)``,
    ``"dcgan"`` two models and their optimizers, ``"legacy"`` a Keras 2 legacy optimizer (slot
    variables) plus a compiled model's own. Returns the prefix, every model variable's value and
    the checkpoint's other (optimizer) entries, as TensorFlow lists them."""
    t = tf()
    mod = keras_module(reference)
    L = mod.layers
    rng = np.random.default_rng(0)
    generator = mod.Sequential([mod.Input((8,)), L.Dense(16, name="project"), L.BatchNormalization(name="bn"),
                                L.Reshape((2, 2, 4)), L.Conv2DTranspose(3, 3, strides=2, padding="same", name="up")],
                               name="generator")
    discriminator = mod.Sequential([mod.Input((4, 4, 3)), L.Flatten(), L.Dense(1, name="score")], name="disc")
    make = mod.optimizers.legacy.Adam if layout == "legacy" else mod.optimizers.Adam
    models = {"generator": generator, "discriminator": discriminator} if layout == "dcgan" else {"model": generator}
    objects = {}
    for name, model in models.items():
        optimizer = make(1e-3)
        x = t.constant(rng.standard_normal((2,) + tuple(model.input_shape[1:])).astype("float32"))
        with t.GradientTape() as tape:
            loss = t.reduce_sum(model(x, training=True) ** 2)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        objects[name] = model
        objects["optimizer" if layout != "dcgan" else f"{name}_optimizer"] = optimizer
    if layout == "legacy":
        generator.compile(optimizer=mod.optimizers.legacy.SGD(0.1, momentum=0.9), loss="mse")
        generator.fit(rng.standard_normal((2, 8)).astype("float32"), np.zeros((2, 4, 4, 3), "float32"), verbose=0)
    prefix = t.train.Checkpoint(**objects).save(os.path.join(directory, "ckpt"))
    weights = [np.asarray(v) for model in models.values() for v in model.weights]
    configs, outputs = {}, {}
    for name, model in models.items():  # each model's config beside the checkpoint, and its output
        configs[name] = os.path.join(directory, f"{name}.json")
        with open(configs[name], "w") as f:
            f.write(model.to_json())
        x = rng.standard_normal((2,) + tuple(model.input_shape[1:])).astype("float32")
        outputs[name] = (x, np.asarray(model(x, training=False)))
    return {"prefix": prefix, "weights": weights, "entries": len(t.train.list_variables(prefix)),
            "configs": configs, "outputs": outputs}


@legacy_keras
def save_tf1_checkpoint(source, directory, x, optimizers=1):
    """Build ``build(tf1, x)`` in a TF1 graph, train one Adam step, save with ``Saver``; return values.

    ``optimizers=2``: the trainable variables split between two Adam optimizers, the second
    named ``d_adam`` (as GAN code trains its two networks)."""
    t = tf()
    tf1 = t.compat.v1
    namespace = {"tf": t}
    exec(source, namespace)  # noqa: S102 - test programs written by the test suite
    graph = t.Graph()
    with graph.as_default():
        placeholder = tf1.placeholder(t.float32, x.shape, name="x")
        output = namespace["build"](tf1, placeholder)
        loss = t.reduce_mean(t.square(output))
        trainable = tf1.trainable_variables()
        groups = [trainable] if optimizers == 1 else [trainable[:len(trainable) // 2], trainable[len(trainable) // 2:]]
        step = t.group([tf1.train.AdamOptimizer(0.01, name="Adam" if i == 0 else "d_adam").minimize(
            loss, var_list=group, global_step=tf1.train.get_or_create_global_step() if i == 0 else None)
            for i, group in enumerate(groups)])
        saver = tf1.train.Saver()
        with tf1.Session(graph=graph) as session:
            session.run(tf1.global_variables_initializer())
            session.run(step, {placeholder: x})
            prefix = saver.save(session, os.path.join(directory, "model.ckpt"))
            values = session.run({v.op.name: v for v in tf1.global_variables()})
            y = session.run(output, {placeholder: x})
    return {"prefix": prefix, "variables": values, "output": y}




@legacy_keras
def tf1_class_config(class_name, config, input_shape):
    """A ``tf.compat.v1.layers`` class's config before and after its first call, and its variables' names."""
    t = tf()
    layer = getattr(t.compat.v1.layers, class_name)(**config)
    before = layer.get_config()
    layer(t.zeros(input_shape))
    return before, layer.get_config(), [w.name.split(":")[0] for w in layer.weights]


# TF 1.15's tf.contrib.layers.batch_norm transcribed in tf.compat.v1 ops (contrib is gone from TF 2),
# for the TF side of a program whose kcompat side calls tf1.contrib.layers.batch_norm. ``unbiased``:
# its fused kernel's moving-variance update (2-D and 4-D inputs, fused=None); ``axes``: all but channels.
CONTRIB_BATCH_NORM = '''
def contrib_batch_norm(tf1, x, decay=0.999, scale=False, epsilon=0.001, is_training=True, scope=None,
                       unbiased=True):
    with tf1.variable_scope(scope, default_name="BatchNorm"):
        c = x.shape[-1]
        beta = tf1.get_variable("beta", [c], x.dtype, tf1.zeros_initializer())
        gamma = tf1.get_variable("gamma", [c], x.dtype, tf1.ones_initializer()) if scale else None
        mm = tf1.get_variable("moving_mean", [c], x.dtype, tf1.zeros_initializer(), trainable=False)
        mv = tf1.get_variable("moving_variance", [c], x.dtype, tf1.ones_initializer(), trainable=False)
    if not is_training:
        return tf1.nn.batch_normalization(x, mm, mv, beta, gamma, epsilon)
    mean, var = tf1.nn.moments(x, list(range(len(x.shape) - 1)))
    n = tf1.cast(tf1.size(x) // tf1.shape(x)[-1], x.dtype)
    batch_var = var * n / (n - 1.0) if unbiased else var
    delta = tf1.cast(1.0 - decay, x.dtype)
    tf1.add_to_collection(tf1.GraphKeys.UPDATE_OPS, tf1.assign_sub(mm, (mm - mean) * delta))
    tf1.add_to_collection(tf1.GraphKeys.UPDATE_OPS, tf1.assign_sub(mv, (mv - batch_var) * delta))
    return tf1.nn.batch_normalization(x, mean, var, beta, gamma, epsilon)
'''


def _model_families(mod):
    """The model families the issue names, small: built with ``mod``'s layers (Keras 3 or 2)."""
    L = mod.layers
    z = mod.Input((12,))
    x = L.Dense(4 * 4 * 16, use_bias=False, name="project")(z)
    x = L.BatchNormalization(name="bn0")(x)
    x = L.LeakyReLU()(x)
    x = L.Reshape((4, 4, 16))(x)
    x = L.Conv2DTranspose(8, 5, strides=2, padding="same", use_bias=False, name="up1")(x)
    x = L.BatchNormalization()(x)
    x = L.LeakyReLU()(x)
    x = L.Conv2DTranspose(3, 5, strides=2, padding="same", activation="tanh", name="up2")(x)
    dcgan = mod.Model(z, x, name="dcgan_generator")

    image = mod.Input((16, 16, 3))
    d1 = L.Conv2D(8, 4, strides=2, padding="same", use_bias=False)(image)
    d1 = L.LeakyReLU()(d1)
    d2 = L.Conv2D(16, 4, strides=2, padding="same", use_bias=False)(d1)
    d2 = L.BatchNormalization()(d2)
    d2 = L.LeakyReLU()(d2)
    u1 = L.Conv2DTranspose(8, 4, strides=2, padding="same", use_bias=False)(d2)
    u1 = L.BatchNormalization()(u1)
    u1 = L.Dropout(0.5)(u1)
    u1 = L.ReLU()(u1)
    u1 = L.Concatenate()([u1, d1])
    out = L.Conv2DTranspose(3, 4, strides=2, padding="same", activation="tanh")(u1)
    unet = mod.Model(image, out, name="pix2pix_unet")

    signal = mod.Input((32, 2))
    a = L.Conv1D(8, 7, strides=2, padding="same", activation="relu")(signal)
    a = L.Dropout(0.2)(a)
    a = L.Conv1D(4, 7, strides=2, padding="same", activation="relu")(a)
    a = L.Conv1DTranspose(4, 7, strides=2, padding="same", activation="relu")(a)
    a = L.Conv1DTranspose(8, 7, strides=2, padding="same", activation="relu")(a)
    a = L.Conv1DTranspose(2, 7, padding="same")(a)
    autoencoder = mod.Model(signal, a, name="conv1d_autoencoder")

    inp = mod.Input((16, 16, 3))
    h = L.Conv2D(8, 3, strides=2, padding="same")(inp)
    h = L.BatchNormalization()(h)
    h = L.Activation("relu")(h)
    previous = h
    h = L.SeparableConv2D(8, 3, padding="same")(h)
    h = L.BatchNormalization()(h)
    h = L.MaxPooling2D(3, strides=2, padding="same")(h)
    residual = L.Conv2D(8, 1, strides=2, padding="same")(previous)
    h = L.Add()([h, residual])
    h = L.Conv2DTranspose(8, 3, padding="same")(h)
    h = L.UpSampling2D(2)(h)
    h = L.Conv2D(2, 3, activation="softmax", padding="same")(h)
    xception = mod.Model(inp, h, name="xception_unet")

    encoder = mod.Sequential([mod.Input((8, 8, 1)), L.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
                              L.Flatten(), L.Dense(6)], name="encoder")
    decoder = mod.Sequential([mod.Input((3,)), L.Dense(4 * 4 * 4, activation="relu"), L.Reshape((4, 4, 4)),
                              L.Conv2DTranspose(1, 3, strides=2, padding="same")], name="decoder")
    code = mod.Input((8, 8, 1))
    mean_logvar = encoder(code)
    mean = L.Dense(3, name="mean")(mean_logvar)
    cvae = mod.Model(code, decoder(mean), name="cvae_nested")

    volume = mod.Input((8, 8, 8, 1))
    v = L.Conv3D(4, 3, padding="same", activation="relu")(volume)
    v2 = L.MaxPooling3D(2)(v)
    v2 = L.Conv3D(8, 3, padding="same", activation="relu")(v2)
    v2 = L.Conv3DTranspose(4, 2, strides=2)(v2)
    v = L.Concatenate()([v, v2])
    v = L.Conv3D(1, 1, activation="sigmoid")(v)
    unet3d = mod.Model(volume, v, name="unet3d")
    return [dcgan, unet, autoencoder, xception, cvae, unet3d]


def save_model_families(reference, directory):
    """Each family trained one step (moving statistics away from their start), saved in every
    whole-model format ``reference`` writes; inputs and outputs in inference and training mode."""
    mod = keras_module(reference)
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(0)
    out = []
    for model in _model_families(mod):
        shape = (4, *model.inputs[0].shape[1:])
        x = rng.standard_normal(shape).astype("float32")
        y = model(x, training=False).numpy()
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, np.zeros_like(y), epochs=1, verbose=0)
        files = {}
        for fmt in (("keras", "h5") if reference == "keras" else ("h5",)):
            files[fmt] = os.path.join(directory, f"{model.name}.{fmt}")
            model.save(files[fmt])
        files["json"] = os.path.join(directory, f"{model.name}.json")
        with open(files["json"], "w") as f:
            f.write(model.to_json())
        files["weights"] = os.path.join(directory, f"{model.name}.weights.h5")
        model.save_weights(files["weights"])
        dropout = any(type(layer).__name__ == "Dropout" for layer in model.layers)
        out.append({"name": model.name, "files": files, "x": x,
                    "inference": np.asarray(model(x, training=False)),
                    # training mode (batch statistics; not comparable where Dropout draws)
                    "training": None if dropout else np.asarray(model(x, training=True)),
                    "layers": [layer.name for layer in model.layers]})
    return out


def save_models_that_do_not_fit(directory):
    """A model with a Lambda layer; two Dense models of different widths (a config and the
    other's weights); a weights-only file."""
    import keras

    L = keras.layers
    os.makedirs(directory, exist_ok=True)
    x = keras.Input((4,))
    lam = keras.Model(x, L.Dense(2, name="head")(L.Lambda(lambda t: t * 2.0, name="double")(x)), name="lam")
    lam.save(os.path.join(directory, "lambda.keras"))
    narrow = keras.Sequential([keras.Input((4,)), L.Dense(3, name="fc"), L.Dense(1, name="out")], name="narrow")
    wide = keras.Sequential([keras.Input((4,)), L.Dense(5, name="fc"), L.Dense(1, name="out")], name="wide")
    with open(os.path.join(directory, "narrow.json"), "w") as f:
        f.write(narrow.to_json())
    wide.save_weights(os.path.join(directory, "wide.weights.h5"))
    narrow.save_weights(os.path.join(directory, "narrow.weights.h5"))
    sample = np.arange(8, dtype="float32").reshape(2, 4)
    return {"lambda_input": sample, "lambda_head": [w for w in lam.get_layer("head").get_weights()],
            "lambda_output": np.asarray(lam(sample))}


def save_graph_corners(reference, directory):
    """A fully convolutional model (spatial axes unknown) with what a generated forward must get
    right: a nested backbone called with ``training=False`` (transfer learning), a shared layer
    called twice, a layer named as a ``torch.nn.Module`` method (``double``), two outputs, two
    inputs. Trained a step; saved whole (``.keras`` for Keras 3, ``.h5`` for Keras 2)."""
    mod = keras_module(reference)
    L = mod.layers
    image, mask = mod.Input((None, None, 3), name="image"), mod.Input((None, None, 1), name="mask")
    backbone = mod.Sequential([mod.Input((None, None, 4)), L.Conv2D(4, 3, padding="same", name="features"),
                               L.BatchNormalization(name="backbone_bn")], name="backbone")
    x = L.Concatenate(name="stack")([image, mask])
    x = L.Conv2D(4, 3, strides=2, padding="same", name="stem")(x)
    f = backbone(x, training=False)
    shared = L.Conv2D(4, 1, name="shared")
    s1 = shared(f)
    s2 = shared(L.ReLU(name="double")(s1))
    up = L.Conv2DTranspose(3, 3, strides=2, padding="same", name="up")(s2)
    model = mod.Model([image, mask], [up, L.Add(name="skip")([s1, s2])], name="corners")
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((2, 8, 8, 3)).astype("float32"), rng.standard_normal((2, 8, 8, 1)).astype("float32")]
    model.compile(optimizer="adam", loss="mse")
    model.fit(xs, [np.zeros((2, 8, 8, 3), "float32"), np.zeros((2, 4, 4, 4), "float32")], epochs=1, verbose=0)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "corners.keras" if reference == "keras" else "corners.h5")
    model.save(path)
    return {"path": path, "x": xs, "outputs": [np.asarray(y) for y in model(xs, training=False)]}


@legacy_keras
def save_keras_model_in_a_tf1_session(directory):
    """A tf.keras generator (nested head included) trained one Adam step in a TF1 session and saved
    with ``tf.compat.v1.train.Saver``, as TF1-era repositories did; its config beside it, and its
    inference output."""
    t = tf()
    tf1 = t.compat.v1
    graph = t.Graph()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 8)).astype("float32")
    with graph.as_default():
        L = t.keras.layers
        head = t.keras.Sequential([L.Conv2DTranspose(3, 3, strides=2, padding="same", name="up")], name="head")
        model = t.keras.Sequential([t.keras.Input((8,)), L.Dense(32, name="project"), L.BatchNormalization(name="bn"),
                                    L.LeakyReLU(), L.Reshape((4, 4, 2)), head], name="generator")
        placeholder = tf1.placeholder(t.float32, x.shape)
        loss = t.reduce_mean(t.square(model(placeholder, training=True)))
        step = tf1.train.AdamOptimizer(0.01).minimize(loss, var_list=model.trainable_weights)
        inference = model(placeholder, training=False)
        with tf1.Session(graph=graph) as session:
            session.run(tf1.global_variables_initializer())
            session.run(step, {placeholder: x})
            session.run([v.assign(v + 0.1) for v in model.non_trainable_weights])  # moved statistics
            prefix = tf1.train.Saver().save(session, os.path.join(directory, "model.ckpt"))
            y = session.run(inference, {placeholder: x})
            names = [v.op.name for v in tf1.global_variables()]
        config = os.path.join(directory, "generator.json")
        with open(config, "w") as f:
            f.write(model.to_json())
    return {"prefix": prefix, "config": config, "x": x, "output": y, "variables": names}


def save_tutorial_generators(directory):
    """The TF tutorials' DCGAN and pix2pix generators as scripts/bench_models.py builds them, by
    Keras 3, saved as ``.keras``: the files the whole-model benchmark times."""
    import sys

    import keras

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
    try:
        import bench_models
    finally:
        sys.path.pop(0)
    os.makedirs(directory, exist_ok=True)
    out = {}
    for build in (bench_models.dcgan_generator, bench_models.pix2pix_generator):  # not the applications
        model = build(keras)
        out[model.name] = os.path.join(directory, f"{model.name}.keras")
        model.save(out[model.name])
    return out


def save_segmentation_unet(reference, directory):
    """tensorflow.org/tutorials/images/segmentation's model: a frozen MobileNetV2 encoder
    (``weights=None``: no download) with five skip outputs, pix2pix upsample blocks, a final
    Conv2DTranspose; its weights nudged off their initial values, saved whole."""
    mod = keras_module(reference)
    base = mod.applications.MobileNetV2(input_shape=[128, 128, 3], include_top=False, weights=None)
    names = ["block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu", "block_13_expand_relu",
             "block_16_project"]
    down = mod.Model(inputs=base.input, outputs=[base.get_layer(n).output for n in names])
    down.trainable = False

    def upsample(filters):
        return mod.Sequential([mod.layers.Conv2DTranspose(filters, 3, strides=2, padding="same", use_bias=False,
                                                          kernel_initializer=mod.initializers.RandomNormal(0.0, 0.02)),
                               mod.layers.BatchNormalization(), mod.layers.ReLU()])

    inputs = mod.layers.Input(shape=[128, 128, 3])
    skips = down(inputs)
    x = skips[-1]
    for up, skip in zip([upsample(512), upsample(256), upsample(128), upsample(64)], reversed(skips[:-1])):
        x = mod.layers.Concatenate()([up(x), skip])
    model = mod.Model(inputs, mod.layers.Conv2DTranspose(3, 3, strides=2, padding="same")(x), name="segmentation")
    rng = np.random.default_rng(0)
    for weight in model.weights:
        weight.assign(np.asarray(weight) + rng.standard_normal(tuple(weight.shape)).astype("float32") * 0.01)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "segmentation.keras" if reference == "keras" else "segmentation.h5")
    model.save(path)
    x = rng.standard_normal((1, 128, 128, 3)).astype("float32")
    return {"path": path, "x": x, "output": np.asarray(model(x, training=False))}


def save_hostile_bases(directory):
    """The small real models the hostile-file tests mutate: Keras 3 saves one whole (``.keras``,
    whose weights are keyed by class counters, so a renamed layer keeps its weights), tf_keras
    one as ``model.json`` + ``model.weights.h5`` and as a whole-model ``.h5`` (weights by name).
    A nested Sequential block, weighted and weightless layers, a transposed convolution; names
    distinctive enough to replace as strings."""
    os.makedirs(directory, exist_ok=True)
    files = {}
    for reference in ("keras", "tf_keras"):
        mod = keras_module(reference)
        L = mod.layers
        image = mod.Input((8, 8, 3), name="image_in")
        block = mod.Sequential([mod.Input((8, 8, 4)), L.Conv2D(4, 3, padding="same", name="conv_b"),
                                L.BatchNormalization(name="bn_b")], name="block_model")
        x = L.Conv2D(4, 3, padding="same", name="conv_a")(image)
        x = L.LeakyReLU(name="act_c")(block(x))
        x = L.Conv2DTranspose(2, 3, strides=2, padding="same", name="up_d")(x)
        model = mod.Model(image, L.Dense(3, name="dense_g")(L.GlobalAveragePooling2D(name="pool_f")(x)),
                          name="hostile_base")
        rng = np.random.default_rng(5)
        for weight in model.weights:
            weight.assign(rng.standard_normal(tuple(weight.shape)).astype("float32") * 0.2)
        if reference == "keras":
            files["keras"] = os.path.join(directory, "base.keras")
            model.save(files["keras"])
        else:
            files["json"] = os.path.join(directory, "base.json")
            with open(files["json"], "w") as f:
                f.write(model.to_json())
            files["weights"] = os.path.join(directory, "base.weights.h5")
            model.save_weights(files["weights"])
            files["h5"] = os.path.join(directory, "base.h5")  # Keras 2's whole-model HDF5: weights by layer name
            model.save(files["h5"])
    return files


def save_wrapped_model(reference, directory):
    """``Model(inp, unet(inp))``: a model whose output is a wrapped Functional model's call (the
    spatial axes unknown), which Keras 3 numbers with the wrapped model's built-in call counted."""
    mod = keras_module(reference)
    L = mod.layers
    inner_in = mod.Input((None, None, 3))
    x = L.Conv2D(4, 3, padding="same", name="c")(inner_in)
    unet = mod.Model(inner_in, L.Conv2DTranspose(2, 3, strides=2, padding="same", name="u")(x), name="unet")
    outer_in = mod.Input((None, None, 3), name="image")
    model = mod.Model(outer_in, unet(outer_in), name="wrapped")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "wrapped.keras" if reference == "keras" else "wrapped.h5")
    model.save(path)
    x = np.random.default_rng(3).standard_normal((2, 6, 5, 3)).astype("float32")
    return {"path": path, "x": x, "y": np.asarray(model(x))}


def save_custom_layers(directory, lambdas=True):
    """A model with two ``Lambda`` layers (unless ``lambdas`` is false) and a user's own layer with
    two weights (``Scale``: ``x * alpha + beta``), as users save theirs (registered, Keras 3), with
    its weights set: layers kcompat does not ship."""
    import keras

    @keras.saving.register_keras_serializable(package="user")
    class Scale(keras.layers.Layer):
        def build(self, input_shape):
            self.alpha = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="alpha")
            self.beta = self.add_weight(shape=(), initializer="zeros", name="beta")

        def call(self, x):
            return x * self.alpha + self.beta

    L = keras.layers
    x = keras.Input((4,))
    y = L.Dense(3, name="fc")(x)
    if lambdas:
        y = L.Lambda(lambda t: t * 2.0, name="twice")(y)
    y = Scale(name="scale")(y)
    if lambdas:
        y = L.Lambda(lambda t: t + 1.0, name="plus_one")(y)
    model = keras.Model(x, y, name="custom")
    model.get_layer("scale").set_weights([np.array([0.5, -1.0, 2.0], "float32"), np.array(0.25, "float32")])
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "custom.keras")
    model.save(path)
    with open(os.path.join(directory, "custom.json"), "w") as f:  # the config and the weights apart, too
        f.write(model.to_json())
    model.save_weights(os.path.join(directory, "custom.weights.h5"))
    sample = np.arange(8, dtype="float32").reshape(2, 4)
    return {"path": path, "x": sample, "y": np.asarray(model(sample))}


def save_keras2_slash_names(directory):
    """A tf.keras model named as keras.applications' DenseNet and MobileNetV3 name layers
    (``conv1/conv``, ``conv1/bn``, ``block/se/mul``...), which Keras 3 would refuse; saved as Keras 2
    saves it: a whole-model ``.h5`` and ``model.json`` + ``.weights.h5``."""
    import tf_keras

    L = tf_keras.layers
    image = tf_keras.Input((8, 8, 3), name="input_1")
    x = L.Conv2D(4, 3, padding="same", name="conv1/conv")(image)
    x = L.BatchNormalization(name="conv1/bn")(x)
    x = L.ReLU(name="conv1/relu")(x)
    block = tf_keras.Sequential([L.Conv2D(4, 1, name="block/inner/conv")], name="block/seq")
    x = L.Add(name="block/add")([x, block(x)])
    x = L.Conv2DTranspose(2, 3, strides=2, padding="same", name="up/deconv")(x)
    model = tf_keras.Model(image, L.Dense(3, name="predictions/dense")(L.GlobalAveragePooling2D(name="avg/pool")(x)),
                           name="slashes")
    rng = np.random.default_rng(7)
    for weight in model.weights:
        weight.assign(rng.standard_normal(tuple(weight.shape)).astype("float32") * 0.3 + (
            1.0 if "moving_variance" in weight.name else 0.0))
    files = _save_keras2_forms(model, directory, "slashes")
    x = rng.standard_normal((2, 8, 8, 3)).astype("float32")
    return {"files": files, "x": x, "y": np.asarray(model(x, training=False))}


def _save_keras2_forms(model, directory, stem):
    """A tf.keras model as Keras 2 saves it: a whole-model ``.h5``, and ``.json`` + ``.weights.h5``."""
    os.makedirs(directory, exist_ok=True)
    files = {"h5": os.path.join(directory, f"{stem}.h5"), "json": os.path.join(directory, f"{stem}.json"),
             "weights": os.path.join(directory, f"{stem}.weights.h5")}
    model.save(files["h5"])
    with open(files["json"], "w") as f:
        f.write(model.to_json())
    model.save_weights(files["weights"])
    return files


APPLICATION_FORMATS = {  # every format users save a model in, by the Keras that writes it
    "keras": ("keras", "h5", "weights"),
    "tf_keras": ("h5", "savedmodel", "keras", "weights", "legacy_weights", "checkpoint"),
}


def save_application(reference, name, directory, input_shape=(32, 32, 3), classes=5, formats=None,
                     include_top=True):
    """keras.applications' ``name`` (tf_keras.applications' for ``"tf_keras"``) with random
    weights and moving statistics at a small input, saved in each of ``formats`` (default: the
    first of :data:`APPLICATION_FORMATS`, ``.keras`` or Keras 2's ``.h5``): ``{format: (file,
    weights file or None)}``; its output on a random batch (inference)."""
    mod = keras_module(reference)
    build = getattr(mod.applications, name)
    shape = dict(weights=None, input_shape=input_shape, include_top=include_top)
    shape.update(dict(classes=classes) if include_top else dict(pooling="avg"))
    try:  # logits, not a softmax that a random network saturates
        model = build(**shape, **(dict(classifier_activation=None) if include_top else {}))
    except TypeError:
        model = build(**shape)
    rng = np.random.default_rng(13)
    for weight in model.non_trainable_weights:  # BatchNormalization's and Normalization's statistics
        if "float" not in str(weight.dtype):
            continue
        value = np.asarray(weight)
        if "variance" in weight.name:
            weight.assign(rng.uniform(0.5, 1.5, value.shape).astype(value.dtype) * value)
        else:
            weight.assign(value + rng.standard_normal(value.shape).astype(value.dtype) * 0.1)
    for layer in model.layers:  # Normalization computes from a copy of its statistics, made at build
        if hasattr(layer, "adapt_mean") and hasattr(layer, "finalize_state"):
            layer.finalize_state()
    os.makedirs(directory, exist_ok=True)
    files = {}
    for form in formats or APPLICATION_FORMATS[reference][:1]:
        stem = os.path.join(directory, name)
        if form in ("weights", "legacy_weights", "checkpoint"):
            with open(f"{stem}.json", "w") as f:
                f.write(model.to_json())
            weights = {"weights": f"{stem}.weights.h5", "legacy_weights": f"{stem}_legacy.h5",
                       "checkpoint": os.path.join(directory, "ckpt", name)}[form]
            model.save_weights(weights)
            files[form] = (f"{stem}.json", weights)
        elif form == "savedmodel":
            model.save(f"{stem}_savedmodel", save_format="tf")
            files[form] = (f"{stem}_savedmodel", None)
        else:
            model.save(f"{stem}.{form}")
            files[form] = (f"{stem}.{form}", None)
    x = np.random.default_rng(11).uniform(0, 255, (2, *input_shape)).astype("float32")
    first = files[next(iter(files))][0]
    return {"path": first, "files": files, "x": x, "y": np.asarray(model(x, training=False))}


def save_op_nodes_model(directory):
    """A tf.keras model that calls TensorFlow functions on Keras tensors, as keras-io examples and
    tf.keras-era applications do: every call a ``TFOpLambda`` (``SlicingOpLambda`` for ``x[...]``)
    node holding the call's arguments, tensors among them. Saved as ``.h5`` and ``model.json`` +
    ``.weights.h5``; its output on a batch."""
    import tensorflow as tf
    import tf_keras

    tf_keras.backend.clear_session()  # the op nodes' names ('tf.nn.relu6') do not depend on what the worker built before
    L = tf_keras.layers
    x = tf_keras.Input((4, 4, 8), name="x")
    y = L.Conv2D(8, 1, name="conv")(x)
    a = tf.nn.relu6(y + 3.0) * (1.0 / 6.0)  # hard swish
    b = a / 2.0 - x
    c = tf.reshape(-b, (-1, 16, 8))
    d = tf.concat([c, c * 0.5], axis=-1)
    e = d[:, 1:3, ::-2]  # a negative step
    f = tf.nn.depth_to_space(y, 2)
    g = tf.math.reduce_mean(x, axis=[1, 2], keepdims=True)
    h = tf.expand_dims(g[..., 0], -1)
    i = L.Dense(3, name="dense")(x) * x[..., :3]  # a tensor as the second argument
    j = tf.transpose(tf.image.resize(i, (6, 6)), perm=[0, 3, 1, 2])
    k = tf.linalg.matmul(tf.reshape(i, (-1, 16, 3)), tf.reshape(i, (-1, 16, 3)), transpose_a=True)
    m = tf.clip_by_value(tf.math.maximum(k, 0.5) ** 2.0, 0.0, 4.0)
    n = tf.nn.silu(f) + tf.nn.gelu(f) + tf.math.sigmoid(f)
    o = tf.pad(n, [[0, 0], [1, 0], [0, 1], [0, 0]])
    p = tf.squeeze(tf.tile(h, [1, 2, 1, 1]), axis=-1)[:, tf.newaxis]
    model = tf_keras.Model(x, [e, o, j, m, p], name="op_nodes")
    rng = np.random.default_rng(9)
    for weight in model.weights:
        weight.assign(rng.standard_normal(tuple(weight.shape)).astype("float32") * 0.5)
    files = _save_keras2_forms(model, directory, "op_nodes")
    sample = rng.standard_normal((2, 4, 4, 8)).astype("float32")
    return {"files": files, "x": sample, "y": [np.asarray(t) for t in model(sample)],
            "functions": sorted({layer.get_config().get("function", "") for layer in model.layers} - {""})}


def save_keras_ops_model(directory):
    """A Keras 3 Functional model that calls ``keras.ops`` on Keras tensors: each call an operation
    node (``Reshape``, ``GetItem``, ``Relu``...) with its arguments. Saved as ``.keras``."""
    import keras
    from keras import ops

    L = keras.layers
    x = keras.Input((4, 4, 8), name="x")
    y = L.Conv2D(8, 1, name="conv")(x)
    a = ops.relu(y) + 3.0
    b = a * x - ops.sigmoid(x) / 2
    c = ops.reshape(b, (-1, 16, 8))
    d = ops.concatenate([c, c], axis=-1)
    e = d[:, 1:3, ::2]
    f = ops.mean(x, axis=(1, 2), keepdims=True)
    g = ops.expand_dims(f[..., 0], -1)
    h = ops.stack([y, x], axis=1)
    i = ops.transpose(ops.gelu(y), (0, 3, 1, 2))
    j = ops.clip(ops.square(y) ** 0.5, 0.1, 2.0) + ops.hard_sigmoid(y) + ops.softmax(y, axis=-1)
    model = keras.Model(x, [e, g, h, i, j], name="keras_ops")
    rng = np.random.default_rng(10)
    for weight in model.weights:
        weight.assign(rng.standard_normal(tuple(weight.shape)).astype("float32") * 0.5)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "keras_ops.keras")
    model.save(path)
    sample = rng.standard_normal((2, 4, 4, 8)).astype("float32")
    return {"path": path, "x": sample, "y": [np.asarray(t) for t in model(sample)]}


def save_more_op_nodes(reference, directory):
    """A keras-io style model of the ops beyond arithmetic (argmax, gather/take, where, split and
    unstack with several outputs, std, one_hot, top_k, extract_patches, cumsum, norm, roll, casts
    to a dtype), as tf.keras (``"tf_keras"``: TFOpLambda nodes, ``.h5``) or Keras 3 (``"keras"``:
    operation nodes, ``.keras``) saves it; its outputs on a batch."""
    rng = np.random.default_rng(12)
    os.makedirs(directory, exist_ok=True)
    if reference == "tf_keras":
        import tensorflow as tf
        import tf_keras

        x = tf_keras.Input((4, 4, 8), name="x")
        y = tf_keras.layers.Conv2D(8, 1, name="conv")(x)
        first, second = tf.split(y, 2, axis=-1)
        rows = tf.unstack(x, axis=1)
        outputs = [tf.cast(tf.math.argmax(x, axis=-1), tf.float32) + tf.gather(x, [0, 2, 5], axis=-1)[..., 1],
                   tf.where(x > 0.0, x, 0.1 * x) + tf.math.reduce_std(x, axis=[1, 2], keepdims=True),
                   first * second, tf.one_hot(tf.math.argmax(y, axis=-1), 8, axis=1),
                   tf.math.top_k(tf.reshape(x, (-1, 128)), k=3).values,
                   tf.image.extract_patches(y, sizes=[1, 2, 2, 1], strides=[1, 2, 2, 1], rates=[1, 1, 1, 1],
                                            padding="VALID"),
                   tf.math.cumsum(x, axis=1, reverse=True) + tf.roll(x, 1, axis=2) - tf.math.floormod(x, 0.7),
                   tf.norm(x, axis=-1) + tf.stack(rows[::-1], axis=1)[..., 0]]
        model = tf_keras.Model(x, outputs, name="more_ops")
        path = os.path.join(directory, "more_ops.h5")
    else:
        import keras
        from keras import ops

        x = keras.Input((4, 4, 8), name="x")
        y = keras.layers.Conv2D(8, 1, name="conv")(x)
        first, second = ops.split(y, 2, axis=-1)
        rows = ops.unstack(x, axis=1)
        mean, variance = ops.moments(y, axes=[1, 2], keepdims=True)
        outputs = [ops.cast(ops.argmax(x, axis=-1), "float32") + ops.take(x, [0, 2, 5], axis=-1)[..., 1],
                   ops.where(ops.greater(x, 0.0), x, 0.1 * x) + ops.std(x, axis=(1, 2), keepdims=True),
                   first * second, ops.one_hot(ops.argmax(y, axis=-1), 8, axis=1),
                   ops.top_k(ops.reshape(x, (-1, 128)), k=3)[0],
                   ops.image.extract_patches(y, 2) + ops.nn.space_to_depth(y, 2),
                   ops.cumsum(x, axis=1) + ops.roll(x, 1, axis=2) - ops.mod(x, 0.7) + ops.flip(x, axis=1),
                   ops.norm(x, axis=-1) + ops.stack(rows[::-1], axis=1)[..., 0],
                   (y - mean) / ops.sqrt(variance + 1e-3) + ops.swapaxes(ops.image.resize(y, (4, 4)), 1, 2)]
        model = keras.Model(x, outputs, name="more_ops")
        path = os.path.join(directory, "more_ops.keras")
    for weight in model.weights:
        weight.assign(rng.standard_normal(tuple(weight.shape)).astype("float32") * 0.5)
    model.save(path)
    sample = rng.standard_normal((2, 4, 4, 8)).astype("float32")
    return {"path": path, "x": sample, "y": [np.asarray(t) for t in model(sample)]}


def save_saved_models(directory):
    """tf.keras models saved in the format most of them were saved in: a SavedModel directory
    (``save_format="tf"``): the op-nodes model, the Keras 2 slash-named model and a generator
    with nested models; and a bare ``tf.Module`` SavedModel (no Keras metadata)."""
    import tensorflow as tf
    import tf_keras

    os.makedirs(directory, exist_ok=True)
    out = {}
    for name, build in (("op_nodes", save_op_nodes_model), ("slashes", save_keras2_slash_names)):
        saved = build(os.path.join(directory, f"{name}-files"))
        model = tf_keras.models.load_model(saved["files"]["h5"], compile=False)
        path = os.path.join(directory, f"{name}_savedmodel")
        model.save(path, save_format="tf")
        out[name] = {"path": path, "x": saved["x"], "y": saved["y"]}
    generator = _generator(tf_keras, repeat_names=False)
    rng = np.random.default_rng(4)
    for weight in generator.weights:
        value = rng.standard_normal(tuple(weight.shape)).astype("float32") * 0.2
        weight.assign(np.abs(value) + 0.5 if "moving_variance" in weight.name else value)
    path = os.path.join(directory, "generator_savedmodel")
    generator.save(path, save_format="tf")
    z = rng.standard_normal((2, 16)).astype("float32")
    out["generator"] = {"path": path, "x": z, "y": np.asarray(generator(z, training=False))}
    module = tf.Module()
    module.v = tf.Variable(1.0)
    module.f = tf.function(lambda x: x * module.v, input_signature=[tf.TensorSpec([None], tf.float32)])
    bare = os.path.join(directory, "bare_savedmodel")
    tf.saved_model.save(module, bare)
    out["bare"] = {"path": bare}
    return out


def save_attention_model(reference, directory):
    """A transformer block as TransUNet and ViT-style models write one: self-attention with a causal
    mask, cross-attention with its own value and output sizes, LayerNormalization, Dense; saved as
    each Keras saves it (``.keras``; Keras 2's ``.h5``)."""
    mod = keras_module(reference)
    L = mod.layers
    x = mod.Input((5, 6), name="tokens")
    c = mod.Input((3, 6), name="context")
    a = L.MultiHeadAttention(num_heads=2, key_dim=4, name="self_attention")(x, x, use_causal_mask=True)
    h = L.LayerNormalization(name="norm")(L.Add(name="residual")([x, a]))
    b = L.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=3, output_shape=7, name="cross")(h, c)
    model = mod.Model([x, c], L.Dense(4, name="head")(b), name="block")
    saved = _save_with_random_weights(model, reference, directory, 12, [(2, 5, 6), (2, 3, 6)])
    return dict(saved, y=saved["y"][0])


def _save_with_random_weights(model, reference, directory, seed, input_shapes):
    """``model`` with random weights (x0.4), saved as its Keras saves it (``.keras``; Keras 2's
    ``.h5``) under its name; its outputs (a list) on random inputs of ``input_shapes``."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        weight.assign(rng.standard_normal(tuple(weight.shape)).astype("float32") * 0.4)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{model.name}.keras" if reference == "keras" else f"{model.name}.h5")
    model.save(path)
    xs = [rng.standard_normal(shape).astype("float32") for shape in input_shapes]
    ys = model(xs, training=False)
    return {"path": path, "x": xs, "y": [np.asarray(t) for t in (ys if isinstance(ys, (list, tuple)) else [ys])]}


def save_axes_attention_model(reference, directory):
    """MultiHeadAttention over more than one axis, as image and video transformers call it: on
    (batch, height, width, features) over both position axes (Keras's default) and over the width
    only (``attention_axes=2``, rows as batch), and on a 5-D input over axes 1 and 3; saved as each
    Keras saves it."""
    mod = keras_module(reference)
    L = mod.layers
    image = mod.Input((4, 5, 6), name="image")
    volume = mod.Input((3, 2, 4, 6), name="volume")
    a = L.MultiHeadAttention(num_heads=2, key_dim=3, name="both_axes")(image, image)
    b = L.MultiHeadAttention(num_heads=2, key_dim=4, value_dim=2, attention_axes=2, name="width")(a, image)
    c = L.MultiHeadAttention(num_heads=3, key_dim=2, attention_axes=(1, 3), output_shape=5, name="axes_1_3")(
        volume, volume)
    model = mod.Model([image, volume], [b, c], name="axes")
    return _save_with_random_weights(model, reference, directory, 16, [(2, 4, 5, 6), (2, 3, 2, 4, 6)])


def save_gated_attention_model(directory):
    """Keras 3.15's MultiHeadAttention options: a gate (``use_gate``), a sliding window with and
    without the causal mask, and an output of two axes (``output_shape=(3, 4)``); saved as .keras."""
    import keras

    L = keras.layers
    x = keras.Input((6, 8), name="tokens")
    a = L.MultiHeadAttention(num_heads=2, key_dim=4, use_gate=True, name="gated")(x, x)
    b = L.MultiHeadAttention(num_heads=2, key_dim=3, sliding_window=3, name="window")(a, x, use_causal_mask=True)
    c = L.MultiHeadAttention(num_heads=3, key_dim=2, sliding_window=2, use_gate=True, output_shape=(3, 4),
                             name="window_two_axes")(b, b)
    model = keras.Model(x, [b, c], name="gated_attention")
    return _save_with_random_weights(model, "keras", directory, 17, [(2, 6, 8)])


def save_hard_sigmoid_model(reference, directory):
    """``hard_sigmoid`` as an Activation layer and as a Dense activation, saved by ``reference``
    (Keras 2's is ``clip(0.2 x + 0.5, 0, 1)``, Keras 3's ``relu6(x + 3) / 6``)."""
    mod = keras_module(reference)
    L = mod.layers
    x = mod.Input((5,), name="x")
    y = L.Activation("hard_sigmoid", name="act")(L.Dense(4, activation="hard_sigmoid", name="fc")(x) * 6.0 - 3.0)
    model = mod.Model(x, [y], name="hard")
    return _save_with_random_weights(model, reference, directory, 18, [(3, 5)])


def save_fold_model(directory):
    """BatchNormalization after Conv2D (no bias), DepthwiseConv2D, Conv2DTranspose, Dense, and
    after a Conv2D whose output also feeds an Add; positive moving variances; saved as .keras."""
    import keras

    L = keras.layers
    x = keras.Input((12, 12, 3), name="x")
    y = L.ReLU()(L.BatchNormalization()(L.Conv2D(8, 3, use_bias=False)(x)))
    y = L.BatchNormalization(epsilon=1e-5)(L.DepthwiseConv2D(3, padding="same")(y))
    y = L.BatchNormalization()(L.Conv2DTranspose(4, 3, strides=2, padding="same")(y))
    z = L.Conv2D(4, 1)(y)
    b = L.Add()([L.BatchNormalization()(z), z])
    f = L.BatchNormalization()(L.Dense(5)(L.GlobalAveragePooling2D()(b)))
    return _save_with_statistics(keras.Model(x, [b, f], name="fold"), directory, 19, (2, 12, 12, 3))


def _save_with_statistics(model, directory, seed, input_shape, input_scale=1.0):
    """``model`` (Keras 3) with random weights (x0.5) and positive moving variances, saved as
    ``.keras`` under its name; its outputs on a random batch of ``input_shape``."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        value = rng.standard_normal(tuple(w.shape)).astype("float32") * 0.5
        w.assign(np.abs(value) + 0.5 if "variance" in w.name else value)
    path = os.path.join(directory, f"{model.name}.keras")
    model.save(path)
    xs = [rng.standard_normal(input_shape).astype("float32") * input_scale]
    return {"path": path, "x": xs, "y": [np.asarray(t) for t in model(xs[0], training=False)]}


def save_padding_model(directory):
    """ZeroPadding2D before 'valid' convolutions, as keras.applications writes them: symmetric
    before a Conv2D (ResNet's stem), one-sided before stride-2 DepthwiseConv2Ds (MobileNet's
    ``correct_pad``) after a ReLU6, after a plain ReLU and after a ReLU6 read twice, and before a
    SeparableConv2D; random weights, saved as .keras; its outputs on a batch."""
    import keras

    L = keras.layers
    x = keras.Input((14, 13, 4), name="x")
    a = L.Conv2D(8, 5, strides=2, name="stem")(L.ZeroPadding2D(2, name="stem_pad")(x))
    b = L.ReLU(6.0, name="expand_relu")(L.BatchNormalization(name="expand_bn")(L.Conv2D(12, 1, name="expand")(a)))
    b = L.ZeroPadding2D(((0, 1), (1, 0)), name="dw_pad")(b)
    b = L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, name="dw")(b)
    c = L.ZeroPadding2D(((0, 1), (0, 1)), name="relu_pad")(L.ReLU(name="plain_relu")(a))
    c = L.DepthwiseConv2D(3, strides=2, name="dw_after_relu")(c)
    d = L.ReLU(6.0, name="shared_relu6")(a)
    e = L.DepthwiseConv2D(3, strides=2, name="dw_shared")(L.ZeroPadding2D(((1, 0), (0, 1)), name="shared_pad")(d))
    f = L.SeparableConv2D(6, 3, name="sep")(L.ZeroPadding2D(((1, 1), (2, 2)), name="sep_pad")(L.Add()([d, a])))
    return _save_with_statistics(keras.Model(x, [b, c, e, f], name="padding"), directory, 23, (2, 14, 13, 4), 3.0)


def save_two_input_model(directory):
    """Two named inputs (an image and a vector) and two outputs; random weights, saved as .keras;
    its outputs on a batch."""
    import keras

    L = keras.layers
    image, vector = keras.Input((9, 8, 3), name="image"), keras.Input((5,), name="vector")
    y = L.ReLU(6.0)(L.Conv2D(4, 3, strides=2, padding="same")(image))
    z = L.Dense(4)(vector)
    out = L.Add()([L.GlobalAveragePooling2D()(y), z])
    model = keras.Model({"image": image, "vector": vector}, [out, y], name="two_inputs")
    rng = np.random.default_rng(29)
    for w in model.weights:
        w.assign(rng.standard_normal(tuple(w.shape)).astype("float32"))
    path = os.path.join(directory, "two_inputs.keras")
    model.save(path)
    xs = [rng.standard_normal((2, 9, 8, 3)).astype("float32"), rng.standard_normal((2, 5)).astype("float32")]
    return {"path": path, "x": xs, "y": [np.asarray(t) for t in model({"image": xs[0], "vector": xs[1]})]}


def save_cyclegan_style(directory):
    """A CycleGAN-style generator with the user's own ``ReflectionPadding2D`` (keras-io's), as its
    users save it (Keras 3, registered); its output on a batch."""
    import keras

    @keras.saving.register_keras_serializable(package="user")
    class ReflectionPadding2D(keras.layers.Layer):
        def __init__(self, padding=(1, 1), **kwargs):
            self.padding = tuple(padding)
            super().__init__(**kwargs)

        def call(self, x):
            w, h = self.padding
            return keras.ops.pad(x, [[0, 0], [h, h], [w, w], [0, 0]], mode="reflect")

        def get_config(self):
            return dict(super().get_config(), padding=self.padding)

    L = keras.layers
    x = keras.Input((8, 8, 3))
    y = ReflectionPadding2D((3, 3), name="pad")(x)
    y = L.Conv2D(4, 7, name="c7s1")(y)
    y = L.Conv2DTranspose(3, 3, strides=2, padding="same", name="up")(L.ReLU(name="relu")(y))
    model = keras.Model(x, y, name="cyclegan")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "cyclegan.keras")
    model.save(path)
    sample = np.random.default_rng(13).standard_normal((2, 8, 8, 3)).astype("float32")
    return {"path": path, "x": sample, "y": np.asarray(model(sample))}


def run_tf_op(name, args, kwargs):
    """TensorFlow's ``tf.<name>`` (``math.multiply``, ``__operators__.getitem``) on numpy arguments
    (arrays become tensors; ``("slice", start, stop, step)`` a slice, ``"..."`` an ellipsis)."""
    import tensorflow as tf

    function = tf
    for part in name.split("."):
        function = getattr(function, part)

    def value(a):
        if isinstance(a, np.ndarray):
            return tf.constant(a)
        if isinstance(a, tuple) and a and a[0] == "slice":
            return slice(*a[1:])
        if a == "...":
            return Ellipsis
        if isinstance(a, list):
            return [value(v) for v in a]
        return a

    out = function(*[value(a) for a in args], **{k: value(v) for k, v in kwargs.items()})
    return [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else np.asarray(out)


def run_keras_op(module, class_name, config, args):
    """Keras 3's operation ``module.class_name(**config)`` called on ``args`` (arrays become
    tensors, lists stay lists) on the TensorFlow backend, as a model's op node runs it."""
    import importlib

    import keras

    def value(a):
        if isinstance(a, np.ndarray):
            return keras.ops.convert_to_tensor(a)
        if isinstance(a, list):
            return [value(v) for v in a]
        return a

    out = getattr(importlib.import_module(module), class_name)(**config)(*[value(a) for a in args])
    return [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else np.asarray(out)


UNET_COLLECTION = {  # keras-unet-collection's U-Nets (Keras 2 code: tensorflow.keras), small
    "unet_2d_transpose": ("unet_2d", dict(filter_num=[8, 16, 32], n_labels=2, stack_num_down=2, stack_num_up=1,
                                          activation="ReLU", output_activation="Softmax", batch_norm=True, pool="max",
                                          unpool=False)),
    "unet_2d_bilinear": ("unet_2d", dict(filter_num=[8, 16, 32], n_labels=2, batch_norm=True, pool=False,
                                         unpool="bilinear")),
    "att_unet_2d": ("att_unet_2d", dict(filter_num=[8, 16, 32], n_labels=2, stack_num_down=2, stack_num_up=2,
                                        activation="ReLU", atten_activation="ReLU", attention="add",
                                        output_activation="Sigmoid", batch_norm=True, pool=False, unpool=False)),
    "unet_plus_2d": ("unet_plus_2d", dict(filter_num=[8, 16, 32], n_labels=2, stack_num_down=2, stack_num_up=2,
                                          activation="LeakyReLU", output_activation="Softmax", batch_norm=False,
                                          pool="max", unpool=False, deep_supervision=False)),
    "r2_unet_2d": ("r2_unet_2d", dict(filter_num=[8, 16, 32], n_labels=2, stack_num_down=2, stack_num_up=1,
                                      recur_num=2, activation="ReLU", output_activation="Softmax", batch_norm=True,
                                      pool="max", unpool="nearest")),
    "unet_3plus_2d": ("unet_3plus_2d", dict(n_labels=2, filter_num_down=[8, 16, 32], filter_num_skip="auto",
                                            filter_num_aggregate="auto", stack_num_down=2, stack_num_up=1,
                                            activation="ReLU", output_activation="Sigmoid", batch_norm=True,
                                            pool="max", unpool=False, deep_supervision=False)),
    "vnet_2d": ("vnet_2d", dict(filter_num=[8, 16, 32], n_labels=2, res_num_ini=1, res_num_max=3,
                                activation="PReLU", output_activation="Softmax", batch_norm=True, pool=False,
                                unpool=False)),
}


UNET_COLLECTION_CUSTOM = {  # keras-unet-collection's models with its own layers (the user passes factories)
    "transunet_2d": ("transunet_2d", dict(filter_num=[8, 16, 32], n_labels=2, stack_num_down=1, stack_num_up=1,
                                          embed_dim=16, num_mlp=32, num_heads=2, num_transformer=2,
                                          activation="ReLU", mlp_activation="GELU", output_activation="Softmax",
                                          batch_norm=True, pool=True, unpool="bilinear")),
}


@legacy_keras
def save_unet_collection(name, directory):
    """keras-unet-collection's ``name`` (``UNET_COLLECTION``) at 64x64, random weights, saved as its
    users save it (tf.keras's ``.h5``); its output on a batch. ``None`` where the package is missing."""
    try:
        from keras_unet_collection import models
    except ImportError:
        return None
    builder, arguments = {**UNET_COLLECTION, **UNET_COLLECTION_CUSTOM}[name]
    model = getattr(models, builder)((64, 64, 3), name=name, **arguments)
    rng = np.random.default_rng(15)
    for weight in model.non_trainable_weights:  # moving statistics as a trained model has them
        value = np.asarray(weight)
        weight.assign(rng.uniform(0.5, 1.5, value.shape).astype(value.dtype) if "variance" in weight.name
                      else value + rng.standard_normal(value.shape).astype(value.dtype) * 0.1)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.h5")
    model.save(path)
    x = np.random.default_rng(14).standard_normal((2, 64, 64, 3)).astype("float32")
    y = model(x, training=False)
    return {"path": path, "x": x, "y": np.asarray(y[0] if isinstance(y, (list, tuple)) else y)}


def keras_layer_outcome(class_name, config, x=None, training=False, after_build=None):
    """What Keras 3 does with ``layers.<class_name>(**config)`` (called on ``x`` where given; a
    list for a merge layer): ``{"error": (type, message), "when": "construct" or "call"}`` or
    ``{"y": output}``. ``after_build``: attribute -> value set after a first call (``activation``)."""
    import keras

    try:
        layer = getattr(keras.layers, class_name)(**config)
    except Exception as exc:  # noqa: BLE001 - the outcome is the error
        return {"error": (type(exc).__name__, str(exc)), "when": "construct"}
    if x is None:
        return {"y": None}
    try:
        y = layer(x, training=training) if "training" in inspect.signature(layer.call).parameters else layer(x)
        if after_build:
            for name, value in after_build.items():
                setattr(layer, name, value)
            y = layer(x)
    except Exception as exc:  # noqa: BLE001
        return {"error": (type(exc).__name__, str(exc)), "when": "call"}
    return {"y": np.asarray(y)}


def save_fusion_model(reference, directory):
    """Every chain the eager module fuses in inference (kcompat.models.fusion), and the cases it
    must leave apart, in one model saved by ``reference``; random weights, positive variances;
    its inference outputs on a batch."""
    mod = keras_module(reference)
    L = mod.layers
    x = mod.Input((17, 17, 3), name="x")
    stem = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(x)))
    # depthwise (multiplier 2) -> BN -> ReLU6; ZeroPadding2D -> strided valid depthwise -> BN -> ReLU
    dw = L.ReLU(6.0)(L.BatchNormalization(epsilon=1e-5)(L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(stem)))
    dw = L.DepthwiseConv2D(3, strides=2, use_bias=False)(L.ZeroPadding2D(((0, 1), (0, 1)))(dw))
    dw = L.ReLU()(L.BatchNormalization()(dw))
    # residual: conv -> BN -> Add(shortcut conv -> BN) -> Activation("relu")
    main = L.BatchNormalization()(L.Conv2D(24, 1, use_bias=False)(dw))
    short = L.BatchNormalization()(L.Conv2D(24, 3, padding="same")(dw))
    res = L.Activation("relu")(L.Add()([short, main]))
    # identity block with Keras 2's positive BN axis spelled out, and a LeakyReLU
    ident = L.LeakyReLU(0.1)(L.BatchNormalization(axis=3)(L.Conv2D(24, 3, padding="same")(res)))
    ident = L.ReLU()(L.Add()([res, L.BatchNormalization(axis=-1, center=False, scale=False)(L.Conv2D(24, 1)(ident))]))
    own = L.Conv2D(8, 2, activation="relu")(ident)  # the convolution's own activation
    # a BatchNormalization output read twice (and a model output): the chain ends before it is read
    shared = L.BatchNormalization()(L.Conv2D(8, 1)(own))
    tail = L.ReLU()(shared)
    # a one-channel input to a convolution: the unfused route (plain strides)
    thin = L.ReLU()(L.BatchNormalization()(L.Conv2D(4, 3, strides=(1, 2), padding="same")(L.Conv2D(1, 1)(stem))))
    # the layers that run as themselves with the normalization folded in: a transposed
    # convolution (a Dropout between: the identity in inference) and a Dense
    up = L.ReLU()(L.Dropout(0.5)(L.BatchNormalization()(L.Conv2DTranspose(6, 3, strides=2, padding="same")(ident))))
    dense = L.LeakyReLU(0.2)(L.BatchNormalization()(L.Dense(5, use_bias=False)(L.GlobalAveragePooling2D()(res))))
    model = mod.Model(x, [tail, shared, thin, up, dense], name="fusion")
    rng = np.random.default_rng(23)
    for w in model.weights:
        value = rng.standard_normal(tuple(w.shape)).astype("float32") * 0.5
        w.assign(np.abs(value) + 0.5 if "variance" in w.name else value)
    path = os.path.join(directory, "fusion.keras" if reference == "keras" else "fusion.h5")
    model.save(path)
    xs = rng.standard_normal((2, 17, 17, 3)).astype("float32")
    return {"path": path, "x": xs, "y": [np.asarray(t) for t in model(xs, training=False)]}


def example_against_its_script(script, path):
    """Whether the shipped example file holds what ``scripts/make_example.py`` builds: the same
    config and the same weights (the zip's bytes carry a timestamp)."""
    import importlib.util
    import json

    import keras

    spec = importlib.util.spec_from_file_location("make_example", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built, shipped = module.build(keras), keras.saving.load_model(path)
    same_weights = all(np.array_equal(a, b) for a, b in zip(built.get_weights(), shipped.get_weights()))
    return {"config": json.dumps(built.get_config(), sort_keys=True) == json.dumps(shipped.get_config(), sort_keys=True),
            "weights": same_weights and len(built.get_weights()) == len(shipped.get_weights())}
