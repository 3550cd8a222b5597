"""Reliability checks: crash consistency, fsync order, cut connections, authorization."""
