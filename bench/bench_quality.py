"""Quality prediction on UCI SECOM: our LightGBM model vs a logistic-regression baseline vs UCI.

1. UCI protocol: stratified 10-fold CV, balanced error rate per fold (mean ± sd), TPR / TNR pooled.
   UCI's baseline table (kernel ridge on 40 selected features): BER 33.5–40.1 %; target here ≤ 30 %.
2. Chronological split on the label timestamps: the first 70 % of rows train, the last 30 % test;
   ROC-AUC, PR-AUC (prior = fail rate of the test part), BER at the model's own threshold, fail recall
   at a 10 % false-alarm rate.

Everything the models learn (columns kept, trees, calibration, threshold, imputation, scaling) comes from
the training rows of each split. Hyper-parameters were fixed before these runs, except that the top-40
candidate (chosen per training split by out-of-fold BER, never by test rows) was added after the first
run, which used all columns only; both are printed. "Ours" is now the equal-weight average of LightGBM
and an L1 logistic regression (``ensemble_fit_predict``; every choice inside the training rows), added
after five single-model variants had been run under the UCI protocol, each with its own choices nested in
the training folds: LightGBM all | top-40 33.8 %, L2 logistic with C in {0.001, 0.01, 0.1} 38.0 %, L2
logistic on the top 20/40/80 columns 36.2 %, L1 logistic with C in {0.01, 0.05, 0.2} 33.1 %, RBF SVM on
the top 20/40/80 columns 33.0 % (a random forest run was stopped unfinished). Being the best of six looks
at the same folds, its figure (32.4 %) is slightly optimistic.

A second round (``bench/secom_variants.py``, log in ``bench/output/secom_variants.txt``) ran 16 more
nested variants: missing-value indicators, clipping and rank-normal scaling, balanced bags
(EasyEnsemble) of L1 logistic and of LightGBM, Gaussian NB and kNN on the top columns, their averages,
and the variant itself chosen by inner CV (31.7 %). The lowest, balanced bags of LightGBM + L1 logistic
averaged (``bagged_fit_predict``), reached 29.2 % on these folds but 27.4–34.5 % when the ten folds are
re-drawn (mean of five draws 30.8 %; "ours" 30.1–32.4 %, mean 31.0 %). No variant beats "ours" by more
than the fold-to-fold noise, so "ours" is unchanged.

Usage::

    .venv/bin/python bench/bench_quality.py

Data come from ``$SMART365_DATASETS`` (default: ``../shared/datasets``); nothing is downloaded.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from smart365.analytics.datasets import load_secom
from smart365.analytics.quality import (
    QualityConfig,
    data_quality,
    quality_fit_predict,
    run_secom,
    secom_cv,
    secom_time_split,
)


def data_check() -> None:
    data = load_secom()
    frame = pd.concat([data.features, pd.Series(data.fail, name="fail")], axis=1)
    found = Counter(f.kind for f in data_quality(frame, "fail"))
    print("SECOM data check (data_quality):", ", ".join(f"{k} {v}" for k, v in sorted(found.items())) or "nothing")
    print()


def main() -> int:
    data_check()
    cv_ours, cv_lr, ts_ours, ts_lr = run_secom()
    data, all_columns = load_secom(), quality_fit_predict([QualityConfig()])
    cv_all = secom_cv(data, all_columns, "quality.lightgbm (all columns)")
    ts_all = secom_time_split(data, all_columns, "quality.lightgbm (all columns)")
    print("SECOM, UCI protocol: stratified 10-fold CV, balanced error rate per fold")
    print(f"{'model':<44} {'BER %':>7} {'± sd':>6} {'TPR':>6} {'TNR':>6} {'fit_s/fold':>10} {'rows/s':>9}")
    for r in (cv_ours, cv_all, cv_lr):
        m = r.metrics
        print(f"{r.model:<44} {100 * m['ber']:>7.1f} {100 * m['ber_sd']:>6.1f} {m['tpr']:>6.3f} {m['tnr']:>6.3f} "
              f"{r.fit_seconds:>10.2f} {r.rows_per_second:>9,.0f}")
    print(f"{'UCI reference':<44} {'33.5–40.1':>7}  (best: F-test + kernel ridge 33.5 ± 2.2, TPR 0.591, TNR 0.738)")
    print()
    print(f"SECOM, {ts_ours.protocol} ({ts_ours.extra['train_rows']} / {ts_ours.extra['test_rows']} rows, "
          f"{ts_ours.extra['test_fails']} fails in the test part)")
    print(f"{'model':<44} {'ROC-AUC':>8} {'PR-AUC':>7} {'prior':>6} {'BER %':>6} {'rec@FAR10':>9} "
          f"{'Brier':>7} {'fit_s':>6} {'rows/s':>9}")
    for r in (ts_ours, ts_all, ts_lr):
        m = r.metrics
        print(f"{r.model:<44} {m['roc_auc']:>8.3f} {m['pr_auc']:>7.3f} {m['fail_rate_test']:>6.3f} "
              f"{100 * m['ber']:>6.1f} {m['recall_at_far10']:>9.3f} {m['brier']:>7.4f} {r.fit_seconds:>6.2f} "
              f"{r.rows_per_second:>9,.0f}")
    print(f"Brier of the training fail rate as a constant forecast: {ts_ours.metrics['brier_prior']:.4f}")
    print("No published reference for the time split (SOURCE.md recommends it; UCI reports only CV BER).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
