"""Smart365: the smart-factory advancement platform (스마트공장 고도화) for Korean SMEs.

Layout (arrows point down only)::

    cli/  web/                                   entry points: compose, hold no domain logic
    registry/                                    companies, sites, lines, equipment, tags
    core/                                        settings, database, auth & tenancy, i18n, errors
    sim/                                         synthetic population and simulators (demo, tests, bench)
"""

__version__ = "0.1.0"
