"""Training data order: samplers (windows, aligned, epochs), task mixtures and exposure counts."""
