"""Training: the loop, the input pipeline, device placement, locking and evaluation during training."""
