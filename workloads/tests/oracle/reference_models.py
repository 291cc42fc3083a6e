"""The reference models baedal's are compared with, on the same inputs.

    python reference_models.py input.json > reference.json

input.json (written by tests/models_oracle.rs or benches/models.rs):
  series     hourly order counts (KST hours, whole days)
  weeks      holdout weeks: a one-week forecast from each of the last `weeks`
             week starts
  purchases  (optional) {customer: [[epoch seconds, amount KRW], ...]}
  reference  (optional) the reference time, epoch seconds
  clv        (optional) [[x, t_x days, T days, mean repeat value KRW], ...]
  clv_params (optional) baedal's fitted parameters, {"bgnbd": {...},
             "gamma_gamma": {...}}: `lifetimes` predicts with them

Output (JSON):
  holt_winters  per variant (additive_trend, damped_trend, no_trend): daily
                MAPE, hourly MAPE (hours with orders) and MASE of
                statsmodels' additive Holt-Winters, period 168 h
  holt_winters_best  each of the three measures, the best variant's
  seasonal_naive_mase  the same holdouts' seasonal naive, to check that the
                two sides cut the same holdouts
  churn_auc     scikit-learn logistic regression on log recency, frequency,
                spend and tenure, trained at the three cutoffs 30, 60 and 90
                days before the validation cutoff (reference - 30 days),
                AUC at the validation cutoff
  churn_auc_boosted  the same split with scikit-learn's gradient-boosted
                trees on baedal's seven features (those four, orders in the
                last 30 and 90 days, and recency over the mean gap): how far
                a flexible model gets on the same history
  bgnbd, gamma_gamma  the parameters `lifetimes` fits (money in thousands)
  predictions   with baedal's parameters, per customer of `clv`: expected
                orders in 30 and in 360 days, and the 12-month CLV in KRW
                (1% a month, months of 30 days)
"""
import contextlib
import json
import sys
import warnings

import numpy as np

WEEK, DAY = 168, 24
DAY_S = 86400.0
WINDOW_DAYS = 30
TRAINING_CUTOFFS = 3
MONEY_UNIT_KRW = 1000.0


# statsmodels' additive Holt-Winters (seasonal period 168 h), three ways:
# with an additive trend, with that trend damped, and with none. Over a
# week's horizon a fitted trend can run off; the comparison is with the best.
HOLT_WINTERS_VARIANTS = {
    "additive_trend": {"trend": "add"},
    "damped_trend": {"trend": "add", "damped_trend": True},
    "no_trend": {"trend": None},
}


def holt_winters_variants(y, weeks):
    fitted = {name: holt_winters(y, weeks, **kwargs) for name, kwargs in HOLT_WINTERS_VARIANTS.items()}
    variants = {name: errors for name, (errors, _) in fitted.items()}
    best = {k: min(v[k] for v in variants.values()) for k in ["daily_mape", "hourly_mape", "mase"]}
    # Seasonal naive is the same in every variant's run.
    return variants, best, fitted["no_trend"][1]


def holt_winters(y, weeks, **kwargs):
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    daily, hourly, scaled, naive_scaled = [], [], [], []
    for w in range(weeks, 0, -1):
        origin = len(y) - w * WEEK
        train, actual = y[:origin], y[origin:origin + WEEK]
        scale = np.mean(np.abs(train[WEEK:] - train[:-WEEK]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = ExponentialSmoothing(train, seasonal="add", seasonal_periods=WEEK, **kwargs).fit()
        predicted = np.maximum(fit.forecast(WEEK), 0.0)
        nz = actual > 0
        hourly += list(np.abs(predicted[nz] - actual[nz]) / actual[nz])
        scaled += list(np.abs(predicted - actual) / scale)
        naive_scaled += list(np.abs(train[-WEEK:] - actual) / scale)
        pd_, ad_ = predicted.reshape(-1, DAY).sum(1), actual.reshape(-1, DAY).sum(1)
        daily += list(np.abs(pd_ - ad_) / ad_)
    return (
        {"daily_mape": float(np.mean(daily)), "hourly_mape": float(np.mean(hourly)), "mase": float(np.mean(scaled))},
        float(np.mean(naive_scaled)),
    )


def churn_rows(purchases, cutoff, extended=False):
    features, labels = [], []
    for orders in purchases.values():
        times = np.array([t for t, _ in orders], dtype=float)
        amounts = np.array([a for _, a in orders], dtype=float)
        before = times < cutoff
        if not before.any():
            continue
        recency = (cutoff - times[before].max()) / DAY_S
        tenure = (cutoff - times[before].min()) / DAY_S
        row = [np.log1p(recency), np.log1p(before.sum()), np.log1p(amounts[before].sum()), np.log1p(tenure)]
        if extended:
            ago = (cutoff - times[before]) / DAY_S
            gap = tenure / max(before.sum() - 1, 1)
            row += [np.log1p((ago < 30).sum()), np.log1p((ago < 90).sum()), recency / max(gap, 1.0)]
        features.append(row)
        after = (times >= cutoff) & (times < cutoff + WINDOW_DAYS * DAY_S)
        labels.append(0 if after.any() else 1)
    return np.array(features), np.array(labels)


def churn_split(purchases, reference, extended=False):
    validation = reference - WINDOW_DAYS * DAY_S
    train = [churn_rows(purchases, validation - k * WINDOW_DAYS * DAY_S, extended) for k in range(1, TRAINING_CUTOFFS + 1)]
    x_train = np.vstack([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    x_valid, y_valid = churn_rows(purchases, validation, extended)
    return x_train, y_train, x_valid, y_valid


def churn_auc(purchases, reference):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    x_train, y_train, x_valid, y_valid = churn_split(purchases, reference)
    scaler = StandardScaler().fit(x_train)
    model = LogisticRegression(max_iter=1000).fit(scaler.transform(x_train), y_train)
    return float(roc_auc_score(y_valid, model.predict_proba(scaler.transform(x_valid))[:, 1]))


def churn_auc_boosted(purchases, reference):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    x_train, y_train, x_valid, y_valid = churn_split(purchases, reference, extended=True)
    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=0)
    model.fit(x_train, y_train)
    return float(roc_auc_score(y_valid, model.predict_proba(x_valid)[:, 1]))


def clv(customers):
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import ConvergenceError

    c = np.array(customers, dtype=float)
    x, t_x, t, m = c[:, 0], c[:, 1], c[:, 2], c[:, 3] / MONEY_UNIT_KRW
    bg = BetaGeoFitter().fit(x, t_x, t)
    repeat = (x > 0) & (m > 0)
    # lifetimes prints the optimiser's report to stdout when it gives up.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            gg = GammaGammaFitter().fit(x[repeat], m[repeat])
        except ConvergenceError:
            # The Gamma-Gamma likelihood is flat along q and v together (only
            # about v / (q - 1), the mean spend, is sharp): at lifetimes'
            # default tolerance, 1e-7, BFGS can stop at the optimum with
            # "precision loss" and lifetimes refuses the result. One retry at
            # 1e-6.
            gg = GammaGammaFitter().fit(x[repeat], m[repeat], tol=1e-6)
    return (
        {k: float(bg.params_[k]) for k in ["r", "alpha", "a", "b"]},
        {k: float(gg.params_[k]) for k in ["p", "q", "v"]},
    )


def predictions(customers, params):
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    c = np.array(customers, dtype=float)
    x, t_x, t, m = c[:, 0], c[:, 1], c[:, 2], c[:, 3] / MONEY_UNIT_KRW
    bg, gg = BetaGeoFitter(), GammaGammaFitter()
    bg.params_ = pd.Series(params["bgnbd"])
    gg.params_ = pd.Series(params["gamma_gamma"])
    bg.predict = bg.conditional_expected_number_of_purchases_up_to_time  # what fit() sets
    value = gg.customer_lifetime_value(
        bg, pd.Series(x), pd.Series(t_x), pd.Series(t), pd.Series(m), time=12, discount_rate=0.01, freq="D"
    )
    return {
        "orders_30": [float(v) for v in bg.predict(30, x, t_x, t)],
        "orders_360": [float(v) for v in bg.predict(360, x, t_x, t)],
        "clv": [float(v) * MONEY_UNIT_KRW for v in value],
    }


def main():
    given = json.load(open(sys.argv[1]))
    out = {}
    variants, best, naive = holt_winters_variants(np.array(given["series"], dtype=float), given["weeks"])
    out["holt_winters"], out["holt_winters_best"], out["seasonal_naive_mase"] = variants, best, naive
    if "purchases" in given:
        out["churn_auc"] = churn_auc(given["purchases"], given["reference"])
        out["churn_auc_boosted"] = churn_auc_boosted(given["purchases"], given["reference"])
    if "clv" in given:
        out["bgnbd"], out["gamma_gamma"] = clv(given["clv"])
    if "clv_params" in given:
        out["predictions"] = predictions(given["clv"], given["clv_params"])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
