"""Analytics: SPC, anomaly detection, quality prediction, predictive maintenance and the AI test-bed.

Every model follows one small contract (:mod:`smart365.analytics.contract`): ``fit(history)``,
``score(batch)`` or ``predict(batch)``, ``state()`` / ``from_state()``, and an evaluation routine that runs
it the way its benchmark's standard protocol says.

- :mod:`~smart365.analytics.spc`: control charts (I-MR, X̄-R, X̄-S, EWMA, CUSUM), Western Electric and
  Nelson rules, process capability (Cp, Cpk, Pp, Ppk with confidence intervals).
- :mod:`~smart365.analytics.metrics`: the benchmarks' standard metrics (NASA C-MAPSS score, SKAB F1/FAR/MAR
  and NAB, SECOM balanced error rate).
- :mod:`~smart365.analytics.datasets`: loaders for the public benchmarks in ``../shared/datasets``.
- :mod:`~smart365.analytics.rul`: remaining-useful-life model (C-MAPSS protocol).
- :mod:`~smart365.analytics.anomaly`: streaming EWMA detector, PCA T²+SPE, isolation forest, autoencoder;
  threshold calibration, alarm events with explanations (SKAB protocol).
- :mod:`~smart365.analytics.quality`: data-quality findings (leaks included) and the defect-probability
  model (SECOM protocols, logistic baseline).
- :mod:`~smart365.analytics.testbed`: the AI test-bed (any table, time-ordered folds, models vs baselines);
  :mod:`~smart365.analytics.benchmarks` and :mod:`~smart365.analytics.cli` (``smart365 testbed``).
- :mod:`~smart365.analytics.registry` and :mod:`~smart365.analytics.models`: the model registry (numbered
  versions per machine, deploy, roll back; the fitted state stored without pickle). Online scoring and the
  pages that use it live in :mod:`smart365.monitoring`.

May import :mod:`smart365.core` only.
"""
