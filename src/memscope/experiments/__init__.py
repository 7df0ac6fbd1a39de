"""Experiment recipes: build many RunConfigs, hand them to the sweep runner, read the runs back."""
