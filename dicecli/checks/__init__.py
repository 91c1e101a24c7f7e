"""Checks on scores: CI gates, baselines, paired comparisons and their statistics."""
