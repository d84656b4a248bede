"""Live monitoring: what a firm's machines do now, how well (OEE) and what needs attention (alarms).

Layout (arrows point down only)::

    pages.py, templates/      plant live, machine live (SSE trends), alarms, CSV import pages
    analytics_pages.py        a machine's analytics page: SPC (spc_view.py), its models (deploy, roll back, train)
    api.py                    alarms, CSV import, a machine's models (list, deploy)
    runtime.py                the alarm monitor on stored points; the collection of the registry's connectors
    scoring.py, training.py   deployed anomaly models scoring stored points into alarm events; training them
    service.py                records: alarm rules/events, OEE settings, live snapshots read from the store
    alarms.py, oee.py         pure logic over columnar batches and state intervals (no database, no I/O)
    models.py                 alarm_rules, alarm_events, oee_settings (firm-owned: tenancy scopes them)

It sits on ``registry`` (the plant hierarchy and tags) and ``telemetry`` (connectors, pipeline, store), and
uses ``analytics`` (detectors, SPC, the model registry), which imports only ``core``: the live-operations
layer above telemetry and analytics. Imports those, ``core`` and the web seam; ``runtime`` is built by the
composition root (:mod:`smart365.bootstrap`).
"""
