"""Abuse limits for customer endpoints: token buckets per address and per session
(``buckets``: in process; ``redis_window``: shared by workers), the HTTP guard that answers
429 with Retry-After (``guard``), and the largest legal websocket message (``ws_size``)."""
