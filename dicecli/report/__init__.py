"""Reporters: turn an Evaluation into text for people (table) and scripts (JSON, CSV).

Reporters never recompute scores; they read the Evaluation's tables.
"""
