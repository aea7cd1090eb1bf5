"""Every result number quoted from the paper (Lee, Yoon, Son & Park, ICLR 2022), once: the tables our
reproductions, retrieval reports and README stand beside.
"""

from __future__ import annotations

KS = (1, 5, 10, 20)  # the K of P@K in Table 1

# Table 1 (CelebA, m = 128): P@1, P@5, P@10, P@20 in percent, averaged over attributes (SAR) or pairs (DAR).
TABLE1: dict[str, dict[str, tuple[float, float, float, float]]] = {
    "VAE": {"SAR": (60.0, 60.5, 61.0, 58.4), "DAR": (39.8, 38.7, 37.0, 34.7)},
    "FMVAE": {"SAR": (67.5, 66.0, 64.0, 62.6), "DAR": (41.5, 39.1, 38.8, 36.8)},
    "IRVAE": {"SAR": (82.5, 72.0, 71.5, 69.0), "DAR": (56.1, 50.8, 47.2, 44.2)},
    "IRVAE+FM": {"SAR": (75.0, 79.0, 75.3, 74.1), "DAR": (57.3, 54.0, 51.4, 49.4)},
    "ResNet-50 (ImageNet)": {"SAR": (35.0, 28.5, 23.5, 23.9), "DAR": (18.3, 11.0, 8.7, 9.2)},
    "supervised BR": {"SAR": (87.5, 82.5, 80.3, 80.8), "DAR": (66.9, 65.2, 63.7, 62.6)},
}
# Section 5.2: the DAR pairs held by more than 1% and less than 50% of CelebA's test images.
DAR_PAIRS_KEPT, DAR_PAIRS_POSSIBLE = 487, 780

# Table 3 (Appendix E.8, MNIST, encoded test data): condition numbers, mean and standard deviation, per latent size.
TABLE3: dict[int, dict[str, tuple[float, float]]] = {
    2: {"VAE": (5.39, 4.72), "IRVAE": (1.41, 0.55)},
    8: {"VAE": (85.55, 85.69), "IRVAE": (1.87, 0.25)},
    16: {"VAE": (1635018.88, 1789834.25), "IRVAE": (37.28, 42.12)},
}

# Section 5.1.2: the VAE on CMU motion capture.
CMU_VAE = {"mse": 1.72e-4, "vor": 4.86, "mcn": 20.3}


def table1_row(method: str) -> tuple[float, ...] | None:
    """Table 1's row for ``method`` as SAR P@1..P@20 then DAR P@1..P@20; None for a method not in it."""
    row = TABLE1.get(method)
    return None if row is None else (*row["SAR"], *row["DAR"])
