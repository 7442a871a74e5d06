"""Transfers: part planning (pure), upload and download strategies, bounded scheduling."""
