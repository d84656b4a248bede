"""The AI test-bed in the browser (AI 테스트베드): a firm picks a table (an uploaded file or a selection of
its tags from the store), a target and a task; the run goes to a background worker, the page shows its
progress live and then the result in plain Korean, and the winner can be deployed.

- :mod:`~smart365.testbed.models`: the ``testbed_runs`` table (firm-owned).
- :mod:`~smart365.testbed.tables`: staged tables: safe upload storage, tags pivoted to a time grid, previews.
- :mod:`~smart365.testbed.service`: creating runs, the worker and its queue, the restart rule, the summary.
- :mod:`~smart365.testbed.deploy`: the winner refitted on the whole table as a safe model state.
- :mod:`~smart365.testbed.pages`: the pages.

The engine itself is :mod:`smart365.analytics.testbed`. May import core, registry, telemetry and analytics.
"""

from smart365.analytics.contract import home

home("testbed", "smart365.testbed.deploy")  # the test-bed winners' kinds, for contract.load
