"""Measures of what a trained model holds: likelihoods, capacity, memorization, membership, extraction."""
