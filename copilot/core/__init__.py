"""The floor: settings, errors, the clock and the locale detector. Imports nothing of ours."""
