"""Allocation rules and their versioned configuration."""
