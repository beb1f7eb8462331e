"""Blueprints: each view parses input, calls one service function, renders."""
