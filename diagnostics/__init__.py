"""Diagnostics: which workers are alive, service health, and `manage.py doctor`."""
