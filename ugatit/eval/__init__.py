"""Scores of generated images: FID/KID metrics and the Inception features they use."""
