"""The CPU defaults of a run where its config leaves a field open: the regularization weight per model family
(in the paper's units) and the number of epochs.
"""

from __future__ import annotations

from irvae_core.config.schema import canonical_reg_kind

# Default weights alpha per (model family, regularizer), in the paper's units: for ir the weight
# on the official code's E[Tr G^2] / E[Tr G]^2 = (F + m) / m^2, for fmvae on E||G - cI||_F^2
# (Appendix C), for iso on E sum (lambda - k)^2 (Appendix E.6), for geomae on Var log det G (Nazari et
# al. 2023, ``geomae_distortion``). The VAE's loss is a summed Gaussian NLL (large), the AE family's a
# per-pixel MSE (small): their weights differ by orders of magnitude. The ir defaults are for m = 2 and
# grow with m (``default_alpha``). geomae: the AE family's is Nazari et al.'s MNIST lam = 0.1, on the same
# per-pixel MSE; the VAE's is that lam carried onto the NLL, which is D / (2 sigma^2) times the per-pixel
# MSE: 0.1 * 784 / (2 * 0.26^2) ~ 600 at MNIST's D and the sigma a 2-D VAE learns on mnist5k (the shipped
# example's 0.26). A scale match, not a measured optimum.
DEFAULT_ALPHA = {
    ("vae", "ir"): 1500.0,  # measured on mnist5k, m = 2, the CPU schedule: README "Choosing alpha"
    ("vae", "fmvae"): 1.0,
    ("vae", "iso"): 1e-2,
    ("ae", "ir"): 0.04,
    ("ae", "fmvae"): 1e-4,
    ("ae", "iso"): 1e-5,
    ("vae", "geomae"): 600.0,
    ("ae", "geomae"): 0.1,  # Nazari et al.'s MNIST lam (official code's best_runs/MNIST/GeomReg.json)
}

IR_DEFAULT_DIM = 2  # the latent size the ir defaults above were measured at


def default_alpha(model_kind: str, reg_kind: str, latent_dim: int = IR_DEFAULT_DIM) -> float:
    """The default alpha (paper's units) for a model family and regularizer at latent size m.

    For ir it is DEFAULT_ALPHA * (m / 2)^2: a fixed weight on F (eq. 10), whose official scale
    (F + m) / m^2 shrinks like 1/m^2 (README: "Choosing alpha").
    """
    reg_kind = canonical_reg_kind(reg_kind)
    if reg_kind == "none":
        return 0.0
    family = "vae" if model_kind == "vae" else "ae"
    alpha = DEFAULT_ALPHA[(family, reg_kind)]
    return alpha * (latent_dim / IR_DEFAULT_DIM) ** 2 if reg_kind == "ir" else alpha


# Without a preset, training uses the CPU schedule of mnist-fc: 240 epochs, lr 1e-3 with cosine decay.
DEFAULT_EPOCHS = 240
