"""Bench: one flattening-module training step vs one VAE training step (issue bar: <= 8x).

The paper's setting: MNIST FC VAE (784-256x4-2), RealNVP depth 8 width 512, batch 100, CPU.
Both steps run in this process, interleaved, and the ratio of medians is printed.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from irvae_core.regularizers import relaxed_distortion, resolve_estimator  # noqa: E402
from models import FlattenedAE, RealNVP, build_autoencoder  # noqa: E402


def main(reps: int = 5, steps: int = 20) -> None:
    torch.manual_seed(0)
    x = torch.rand(100, 1, 28, 28)
    vae = build_autoencoder("vae", "fc", (1, 28, 28), latent_dim=2)
    vae_opt = torch.optim.Adam(vae.parameters(), lr=1e-4)

    base = build_autoencoder("vae", "fc", (1, 28, 28), latent_dim=2)
    for p in base.parameters():
        p.requires_grad_(False)
    flat = FlattenedAE(base, RealNVP(2, depth=8, width=512))
    fm_opt = torch.optim.Adam(flat.fm.parameters(), lr=1e-4)
    with torch.no_grad():
        z = base.encode(x)  # the encoder is frozen: the trainer encodes the data once
    est = resolve_estimator("auto", 2)

    def vae_step() -> None:
        vae_opt.zero_grad()
        vae.loss(x).loss.backward()
        vae_opt.step()

    def fm_step() -> None:
        fm_opt.zero_grad()
        w = flat.fm(z)
        relaxed_distortion(flat.decode, w, eta=0.2, estimator=est).backward()
        fm_opt.step()

    def timed(step) -> float:
        t = time.perf_counter()
        for _ in range(steps):
            step()
        return (time.perf_counter() - t) / steps * 1000

    for step in (vae_step, fm_step):
        for _ in range(3):
            step()
    times: dict[str, list[float]] = {"vae": [], "fm": []}
    for _ in range(reps):
        times["vae"].append(timed(vae_step))
        times["fm"].append(timed(fm_step))
    vae_ms, fm_ms = statistics.median(times["vae"]), statistics.median(times["fm"])
    print(f"threads {torch.get_num_threads()}, batch 100, RealNVP 8 x 512, estimator {est}")
    print(f"VAE step  {vae_ms:8.2f} ms")
    print(f"FM step   {fm_ms:8.2f} ms")
    print(f"ratio FM / VAE = {fm_ms / vae_ms:.2f}  (bar <= 8)")


if __name__ == "__main__":
    main()
