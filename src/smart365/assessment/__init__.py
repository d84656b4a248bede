"""Maturity assessment (수준진단): the survey instrument, its scoring and the gap analysis.

Owns the versioned survey instrument (items, weights, thresholds and roadmap steps, all as data in
``data/instrument-*.yaml``), the vectorised scoring of survey responses (전수조사) into scores and levels,
the per-response explanation, gap and priority analysis with a roadmap, the response file reader and the
``smart365 assess`` command line. The instrument and scoring import only ``smart365.core``; the pages and
the measured evidence import ``registry``, ``telemetry`` (the firm's own data) and the web seam.
"""
