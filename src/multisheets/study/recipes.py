"""Training recipes (the hyperparameter `recipe`), and the fast recipe's constants in one table.

`standard` is plain training with the run's optimizer and schedule. `fast` is our implementation of airbench94's
ideas (K. Jordan, 2024), so a study can afford hundreds of models: the constants below are its choices, translated
where our training differs (a mean, not summed, loss; torch's coupled weight decay). The `fastnet` architecture and
the rest of the preset are hyperparameters (config/cifar10-fast.yaml); these are what a hyperparameter does not
set. Where each is used: `train.optim` (groups, Lookahead), `train.loop` (whitening images), `models.zoo`.
"""

from __future__ import annotations

RECIPES = ("standard", "fast")

# --- optimisation (train.optim) ---------------------------------------------------------------------------------
NORM_BIAS_LR_SCALE = 64.0  # batch-norm shifts learn 64x faster than the other weights, with the same decay per step
WHITENING_BIAS_EPOCHS = 3  # the whitening stem's bias trains for the first 3 epochs, then stays
LOOKAHEAD_EVERY = 5  # every 5 steps the weights are pulled onto their running average ...
LOOKAHEAD_DECAY = 0.95**5  # ... which keeps this much of itself, scaled by (step / total steps)^3: harder at the end

# --- the whitening stem (train.loop, models.zoo) -----------------------------------------------------------------
WHITENING_IMAGES = 5000  # training images its filters are fitted to: ~5 M 2x2 patches, a stable 12x12 moment matrix
WHITENING_EPS = 5e-4  # added to each eigenvalue before the filters are scaled by 1 / sqrt(eigenvalue)

# --- fastnet's layers (models.zoo) ---------------------------------------------------------------------------------
BATCH_NORM_MOMENTUM = 0.4  # torch's weight of the new batch: airbench94's 0.6 decay of the running statistics
BATCH_NORM_EPS = 1e-12
HEAD_SCALE = 1 / 9  # the bias-free linear head's logits are scaled down so early training is not overconfident
