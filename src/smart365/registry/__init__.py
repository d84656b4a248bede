"""Company registry: firms and their ISA-95 hierarchy (site → line → equipment → tag).

Owns companies, sites, lines, equipment and tags, their import/export and pages. Imports ``core`` and the
web seam (``web.deps``, ``web.templating``) only.
"""
