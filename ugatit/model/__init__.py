"""The U-GAT-IT graph: generators, discriminators, losses, DiffAugment and checkpoints."""
