"""Training: the loop every trainer shares, the Trainer (eq. 9), the flattening module (eq. 11), resume,
evaluation (MSE, VoR, MCN) and epoch-time estimates."""
