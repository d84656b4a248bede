"""Thousands of plants, one centre: each plant forwards what leaves it over NATS JetStream, the centre writes it.

A plant (the embedded shape) publishes 1-minute and 1-hour rollups, its tag catalogue and its alarm events into
a JetStream stream on its own NATS server, a leaf node of the centre's hub (:mod:`.uplink`); a forwarder moves
them to the hub's stream once the link is up, so a plant cut off for hours keeps everything. Centre workers
(``smart365 worker --role centre``) pull from the hub's stream and write PostgreSQL idempotently, acknowledging
after commit (:mod:`.centre`). Subjects carry the firm (:mod:`.wire`), and the hub lets a firm's credentials
publish only on its own (:mod:`.nats_config`).
"""
