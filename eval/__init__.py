"""Offline evaluation: datasets, metrics, runner and reports."""
