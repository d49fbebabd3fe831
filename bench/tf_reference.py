#!/usr/bin/env python3
"""The TensorFlow CVAE tutorial's recipe in TensorFlow itself, to see the spread of its test ELBO
over seeds (the tutorial prints one run). TensorFlow is optional: nothing in the Rust build or
tests needs it.

Model (the tutorial's, and vae-core's `ConvVae` with `ConvVaeConfig::default()`):
  encoder Conv2D(32, 3, strides 2, ReLU) -> Conv2D(64, 3, strides 2, ReLU) -> Flatten -> Dense(2 * latent)
  decoder Dense(7*7*32, ReLU) -> Reshape(7, 7, 32) -> Conv2DTranspose(64, 3, 2, 'same', ReLU)
          -> Conv2DTranspose(32, 3, 2, 'same', ReLU) -> Conv2DTranspose(1, 3, 1, 'same') logits
  latent 2, batch 32, Adam 1e-4, images binarised at 0.5, training data reshuffled every epoch.
Loss: the single-sample Monte Carlo ELBO, log p(x|z) + log N(z; 0, I) - log N(z; mu, sigma^2),
averaged over the batch; the test ELBO is the mean of the per-batch means over the test set in
batches of 32, as the tutorial computes it.

Data: raw MNIST IDX files from $VAE_DATA_DIR/mnist, else data/mnist.

Prints one JSON object per epoch: {"impl":"tensorflow","epoch":n,"test_elbo":e,"epoch_seconds":s,...}
epoch_seconds times the training steps only (the test ELBO is computed after the clock stops).
With --max-batches N only the first N batches of each epoch run and the test set is skipped; the
JSON then carries batches, full_epoch_batches and extrapolated_epoch_seconds, as
bench/pytorch_reference.py does (bench/compare.py --reference tensorflow uses it); the shuffle
buffer's fill before the first batch (once per epoch) is counted once, not extrapolated.
--warmup N runs N untimed steps first, so that tracing the tf.function is not timed.

Usage: VENV/bin/python bench/tf_reference.py --epochs 10 --seed 1 --threads 2
Setup: a venv of its own (TensorFlow is not in requirements.txt), e.g. with VENV=/tmp/tf:
       python3 -m venv VENV && VENV/bin/pip install tensorflow-cpu numpy
"""
import argparse
import json
import os
import sys
import time

try:
    import numpy as np
    import tensorflow as tf
except ImportError as e:  # TensorFlow is optional; say how to get it.
    sys.exit(f"tf_reference.py needs numpy and tensorflow ({e}); e.g. python3 -m venv /tmp/tf "
             "&& /tmp/tf/bin/pip install tensorflow-cpu numpy, then run it with /tmp/tf/bin/python")
from mnist_idx import mnist_dir, read_images  # noqa: E402 (after the friendly ImportError)

LOG2PI = float(np.log(2.0 * np.pi))


def read_binarised(name):
    """One MNIST image file as float32 [n, 28, 28, 1], binarised at 0.5 as the tutorial does."""
    images = read_images(os.path.join(mnist_dir(), name))
    return (images[..., None].astype(np.float32) / 255.0 > 0.5).astype(np.float32)


def build(latent):
    layers = tf.keras.layers
    encoder = tf.keras.Sequential([
        layers.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, 3, strides=2, activation="relu"),
        layers.Conv2D(64, 3, strides=2, activation="relu"),
        layers.Flatten(),
        layers.Dense(2 * latent),
    ])
    decoder = tf.keras.Sequential([
        layers.Input(shape=(latent,)),
        layers.Dense(7 * 7 * 32, activation="relu"),
        layers.Reshape((7, 7, 32)),
        layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2DTranspose(1, 3, strides=1, padding="same"),
    ])
    return encoder, decoder


def log_normal(z, mean, logvar):
    return tf.reduce_sum(-0.5 * ((z - mean) ** 2 * tf.exp(-logvar) + logvar + LOG2PI), axis=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--latent", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: its default)")
    ap.add_argument("--max-batches", type=int, default=0, help="time only this many batches per epoch, no test")
    ap.add_argument("--warmup", type=int, default=0,
                    help="untimed training steps before the first epoch (tracing the tf.function takes seconds)")
    args = ap.parse_args()

    if args.threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras.utils.set_random_seed(args.seed)
    train = read_binarised("train-images-idx3-ubyte")
    test = read_binarised("t10k-images-idx3-ubyte")
    train_ds = tf.data.Dataset.from_tensor_slices(train).shuffle(len(train), seed=args.seed).batch(32)
    test_ds = tf.data.Dataset.from_tensor_slices(test).shuffle(len(test), seed=args.seed + 1).batch(32)
    encoder, decoder = build(args.latent)
    opt = tf.keras.optimizers.Adam(args.lr)

    def neg_elbo(x):
        mean, logvar = tf.split(encoder(x), 2, axis=1)
        z = mean + tf.random.normal(tf.shape(mean)) * tf.exp(0.5 * logvar)
        logits = decoder(z)
        logpx_z = -tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(logits=logits, labels=x), axis=[1, 2, 3])
        return -tf.reduce_mean(logpx_z + log_normal(z, 0.0, 0.0) - log_normal(z, mean, logvar))

    @tf.function
    def train_step(x):
        with tf.GradientTape() as tape:
            loss = neg_elbo(x)
        variables = encoder.trainable_variables + decoder.trainable_variables
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    eval_step = tf.function(neg_elbo)

    for x in train_ds.take(args.warmup):
        train_step(x)
    full_batches = (len(train) + 31) // 32
    todo = full_batches if args.max_batches <= 0 else min(args.max_batches, full_batches)
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        total, batches, t_first = 0.0, 0, None
        for x in train_ds.take(todo):
            # The first batch waits for the shuffle buffer (all 60 000 images) to fill: a cost
            # paid once per epoch, kept apart from the steps when extrapolating.
            t_first = t_first or time.perf_counter()
            total += float(train_step(x))
            batches += 1
        secs = time.perf_counter() - t0
        fill = t_first - t0
        rec = {"impl": "tensorflow", "epoch": epoch, "seed": args.seed, "train_elbo": round(-total / batches, 4),
               "epoch_seconds": round(secs, 2), "threads": args.threads, "tf": tf.__version__}
        if todo < full_batches:
            rec.update(batches=todo, full_epoch_batches=full_batches, shuffle_fill_seconds=round(fill, 2),
                       extrapolated_epoch_seconds=round(fill + (secs - fill) * full_batches / todo, 2))
        else:
            rec["test_elbo"] = round(-float(np.mean([float(eval_step(x)) for x in test_ds])), 4)
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
