"""Training: augmentation, optimisers and schedules, the training loop, and the model cache that keeps every
finished model. Never imports evaluation.
"""
