#!/usr/bin/env python3
"""PyTorch CPU reference timings for the two VAEs of the course, to compare with the Rust/candle
implementation. PyTorch is optional: nothing in the Rust build or tests needs it.

Models (identical architectures to vae-core):
  mlp-vae : 784-400-(20 mu, 20 logvar) encoder, 20-400-784 decoder, ReLU, batch 128,
            Adam 1e-3, loss = BCE(sum, on sigmoid logits) + KL (analytic), inputs in [0, 1].
  conv-vae: TensorFlow CVAE tutorial. Encoder Conv2d(1->32,k3,s2) ReLU, Conv2d(32->64,k3,s2) ReLU,
            flatten, Linear(->2*latent); decoder Linear(latent->7*7*32) ReLU, reshape (32,7,7),
            ConvT(32->64,k3,s2,p1,op1) ReLU, ConvT(64->32,k3,s2,p1,op1) ReLU, ConvT(32->1,k3,s1,p1)
            logits (PyTorch's padding: the same sizes and cost as TensorFlow's 'same', which
            vae-core uses by default, with the output window one pixel over). latent 2,
            batch 32, Adam 1e-4, inputs binarised at 0.5, loss = BCE(sum) + KL
            (analytic KL; same cost as the single-sample MC ELBO).

Data: raw MNIST IDX files (train-images-idx3-ubyte, 16-byte header; train-labels-idx1-ubyte,
8-byte header) from $VAE_DATA_DIR/mnist, else data/mnist.

Prints one JSON object per epoch:
  {"impl":"pytorch","model":...,"epoch":n,"epoch_seconds":s,"samples_per_s":x,"train_loss":l,...}
With --max-batches N only the first N batches of each epoch run; the JSON then also carries
"batches", "full_epoch_batches" and "extrapolated_epoch_seconds" (= s * full / N).

Usage: python bench/pytorch_reference.py --model conv-vae --epochs 1 --threads 2 --max-batches 300
       python bench/pytorch_reference.py --model mlp-vae --epochs 10 --milestones 9 --gamma 0.1 --test
"""
import argparse
import json
import os
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # PyTorch is optional; say how to get it.
    sys.exit(f"pytorch_reference.py needs numpy and torch ({e}); e.g. python3 -m venv /work/torchvenv "
             "&& /work/torchvenv/bin/pip install torch numpy")
from mnist_idx import mnist_dir, read_images  # noqa: E402 (after the friendly ImportError)


def read_grey(name):
    """One MNIST image file as float32 [n, 784] in [0, 1]."""
    images = read_images(os.path.join(mnist_dir(), name))
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


class MlpVae(nn.Module):
    def __init__(self, latent=20, hidden=400):
        super().__init__()
        self.enc = nn.Linear(784, hidden)
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.dec1 = nn.Linear(latent, hidden)
        self.dec2 = nn.Linear(hidden, 784)

    def forward(self, x):
        h = F.relu(self.enc(x))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.dec2(F.relu(self.dec1(z))), mu, logvar


class ConvVae(nn.Module):
    def __init__(self, latent=2):
        super().__init__()
        self.latent = latent
        self.enc = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * 6 * 6, 2 * latent))
        self.dec_in = nn.Linear(latent, 7 * 7 * 32)
        self.dec = nn.Sequential(
            nn.ConvTranspose2d(32, 64, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 3, stride=1, padding=1))

    def forward(self, x):
        mu, logvar = self.enc(x.view(-1, 1, 28, 28)).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        h = F.relu(self.dec_in(z)).view(-1, 32, 7, 7)
        return self.dec(h).view(-1, 784), mu, logvar


def loss_fn(logits, x, mu, logvar):
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kl


def test_loss(model, test, batch):
    """Per-image loss on the test set, z sampled as in training (pytorch/examples vae does the same)."""
    total = 0.0
    with torch.no_grad():
        for i in range(0, test.shape[0], batch):
            x = test[i:i + batch]
            logits, mu, logvar = model(x)
            total += loss_fn(logits, x, mu, logvar).item()
    return total / test.shape[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["mlp-vae", "conv-vae"], default="mlp-vae")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch default)")
    ap.add_argument("--max-batches", type=int, default=0, help="time only this many batches per epoch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--milestones", default="",
                    help="comma-separated epochs after which the learning rate is multiplied by --gamma "
                         "(torch.optim.lr_scheduler.MultiStepLR, as `vae train --milestones`)")
    ap.add_argument("--gamma", type=float, default=0.1)
    ap.add_argument("--test", action="store_true",
                    help="also report the test loss after each epoch (z sampled, as in pytorch/examples vae)")
    args = ap.parse_args()
    try:
        milestones = [int(m) for m in args.milestones.split(",") if m.strip()]
    except ValueError:
        ap.error(f"--milestones {args.milestones!r}: expected comma-separated epoch numbers such as 9 or 6,8")

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    images = read_grey("train-images-idx3-ubyte")
    if args.model == "mlp-vae":
        model, batch, lr = MlpVae(), 128, 1e-3
    else:
        model, batch, lr = ConvVae(), 32, 1e-4
        images = (images > 0.5).astype(np.float32)
    data = torch.from_numpy(images)
    test = None
    if args.test:
        test = read_grey("t10k-images-idx3-ubyte")
        if args.model == "conv-vae":
            test = (test > 0.5).astype(np.float32)
        test = torch.from_numpy(test)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=args.gamma)
    n = data.shape[0]
    full_batches = (n + batch - 1) // batch
    for epoch in range(1, args.epochs + 1):
        order = torch.from_numpy(rng.permutation(n))
        todo = full_batches if args.max_batches <= 0 else min(args.max_batches, full_batches)
        total, seen = 0.0, 0
        t0 = time.perf_counter()
        for b in range(todo):
            x = data[order[b * batch:(b + 1) * batch]]
            logits, mu, logvar = model(x)
            loss = loss_fn(logits, x, mu, logvar)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
            seen += x.shape[0]
        secs = time.perf_counter() - t0
        lr_used = opt.param_groups[0]["lr"]
        sched.step()
        rec = {"impl": "pytorch", "model": args.model, "epoch": epoch, "epoch_seconds": round(secs, 3), "lr": lr_used,
               "samples_per_s": round(seen / secs, 1), "train_loss": round(total / seen, 4),
               "threads": torch.get_num_threads(), "torch": torch.__version__}
        if test is not None:
            rec["test_loss"] = round(test_loss(model, test, batch), 4)
        if todo < full_batches:
            rec.update(batches=todo, full_epoch_batches=full_batches,
                       extrapolated_epoch_seconds=round(secs * full_batches / todo, 2))
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
