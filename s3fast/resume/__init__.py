"""Durable transfers: journals that let an interrupted transfer continue where it stopped."""
