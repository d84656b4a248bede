"""Web entry point: the FastAPI app factory, page shell, auth routes and static assets.

``app`` composes the features' routers and pages over the system the composition root built (holds no
domain logic); ``deps`` (principal, scoped session, the system's parts) and ``templating`` are the seam
every feature's pages use, and import only ``core`` and ``security`` (the headers and the CSP nonce).
"""
