"""Parallel work on Ray: the session helper and the multi-network oracle batch."""
