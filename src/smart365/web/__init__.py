"""Web entry point: the FastAPI app factory, page shell, auth routes and static assets.

Composes the features' routers and pages; holds no domain logic.
"""
