"""MNIST's raw IDX image files for the optional reference scripts in bench/ (numpy only)."""
import os
import struct
import sys

import numpy as np


def mnist_dir():
    """$VAE_DATA_DIR/mnist, else data/mnist: the first that holds train-images-idx3-ubyte."""
    candidates = [os.path.join(os.environ["VAE_DATA_DIR"], "mnist")] if os.environ.get("VAE_DATA_DIR") else []
    candidates.append(os.path.join("data", "mnist"))
    for d in candidates:
        if os.path.exists(os.path.join(d, "train-images-idx3-ubyte")):
            return d
    sys.exit(f"MNIST train-images-idx3-ubyte not found in {candidates}; run `make data` "
             "or set VAE_DATA_DIR to a folder holding mnist/")


def read_images(path):
    """The images of an IDX file (16-byte header, magic 2051) as uint8 [n, rows, cols]."""
    with open(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051:
            sys.exit(f"{path}: bad magic {magic} (expected 2051 for IDX images)")
        data = np.frombuffer(f.read(), dtype=np.uint8)
    if data.size != n * rows * cols:
        sys.exit(f"{path}: expected {n * rows * cols} pixels, found {data.size}")
    return data.reshape(n, rows, cols)
