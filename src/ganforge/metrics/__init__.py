"""Evaluation metrics (FID, KID, precision/recall, IS, PPL and the digits metrics) over detector features."""
