"""How well can any churn model do on data made the way `baedal datagen`
makes it? A simulation of the generator's customer process, not of its files:

- customer c (of N) is picked with density proportional to the interval
  [(c/N)^(1/3.15), ((c+1)/N)^(1/3.15)) of a uniform draw (datagen's
  `pick_customer`), so each has a fixed order rate, heavy-tailed;
- 18% of customers stop ordering on a day drawn uniformly from 30 to 172
  (of 182); a pick that lands on a stopped customer is drawn again;
- orders fall uniformly over the period (no daily or weekly cycle).

It prints the validation AUC, at the cutoff 30 days before the end, of:
- a logistic regression on baedal's own-history features (all but spend,
  which the simulation has not), trained at
  the three cutoffs before (as `workloads/src/churn.rs` does);
- the Bayes posterior from the order history with the true prior (the true
  rate distribution and stopping process): the best any model can do with
  what a customer's orders show;
- the same with each customer's true rate and stopping day, which no model
  can see.

    python churn_ceiling.py [customers] [orders] [seed]   (default 20000 150000 1)
"""

import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

DAYS = 182
WINDOW = 30
STOP_SHARE = 0.18


def simulate(n, orders, rng):
    stop = np.where(rng.random(n) < STOP_SHARE, rng.integers(30, DAYS - 10, n), 10**9)
    days = np.sort(rng.random(orders) * DAYS)
    who = np.empty(orders, dtype=np.int64)
    for i, d in enumerate(days):
        for _ in range(8):
            c = min(int(n * rng.random() ** 3.15), n - 1)
            if int(d) <= stop[c]:
                break
        who[i] = c
    c = np.arange(n)
    rate = (((c + 1) / n) ** (1 / 3.15) - (c / n) ** (1 / 3.15)) * orders / DAYS
    by_customer = np.split(days[np.argsort(who, kind="stable")], np.cumsum(np.bincount(who, minlength=n))[:-1])
    return by_customer, rate, stop


def own_features(before, cut):
    n = len(before)
    since, tenure = cut - before.max(), cut - before.min()
    gap = (before.max() - before.min()) / (n - 1) if n > 1 else max(tenure, 1)
    ago = cut - before
    return [np.log1p(since), np.log1p(n), np.log1p(tenure), np.log1p((ago < 30).sum()),
            np.log1p((ago < 90).sum()), min(since / max(gap, 1), 20)]


def rows(by_customer, cut):
    x, y, seen = [], [], []
    for c, t in enumerate(by_customer):
        before = t[t < cut]
        if len(before) == 0:
            continue
        x.append(own_features(before, cut))
        y.append(not ((t >= cut) & (t < cut + WINDOW)).any())
        seen.append(c)
    return np.array(x), np.array(y), np.array(seen)


def bayes(by_customer, seen, rate, cut):
    """P(no order in the window | the orders before `cut`), with the true prior."""
    stop_days = np.arange(30, DAYS - 10)
    p_stop = STOP_SHARE / len(stop_days)
    out = []
    for c in seen:
        before = by_customer[c][by_customer[c] < cut]
        k, last = len(before), before.max()
        log_l = k * np.log(rate)
        shift = (log_l - rate * cut).max()
        log_l = log_l - shift
        alive = np.exp(log_l - rate * cut)  # not stopped before the cutoff
        quiet = np.exp(-rate * WINDOW)
        d_before = stop_days[(stop_days >= np.floor(last)) & (stop_days < cut)]
        d_window = stop_days[(stop_days >= cut) & (stop_days < cut + WINDOW)]
        d_after = stop_days[stop_days >= cut + WINDOW]
        stopped = p_stop * np.exp(log_l[:, None] - rate[:, None] * (d_before[None, :] + 1)).sum(1)
        in_window = p_stop * len(d_window) * alive
        quiet_in_window = (np.mean([np.exp(-rate * (d - cut + 1)) for d in d_window], axis=0)
                           if len(d_window) else 0.0)
        never = ((1 - STOP_SHARE) + p_stop * len(d_after)) * alive
        num = (stopped + in_window * quiet_in_window + never * quiet).sum()
        out.append(num / (stopped + in_window + never).sum())
    return np.array(out)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    orders = int(sys.argv[2]) if len(sys.argv) > 2 else 150_000
    rng = np.random.default_rng(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    by_customer, rate, stop = simulate(n, orders, rng)
    validation = DAYS - WINDOW
    train = [rows(by_customer, validation - k * WINDOW) for k in (1, 2, 3)]
    x, y = np.vstack([r[0] for r in train]), np.concatenate([r[1] for r in train])
    xv, yv, seen = rows(by_customer, validation)
    scale = StandardScaler().fit(x)
    model = LogisticRegression(max_iter=2000).fit(scale.transform(x), y)
    truth = np.where(stop[seen] < validation, 1.0,
                     np.exp(-rate[seen] * np.clip(stop[seen] - validation + 1, 0, WINDOW)))
    print(f"{n} customers, {orders} orders; {len(yv)} at the validation cutoff, {yv.mean():.1%} churned")
    print(f"logistic regression, own history:        AUC {roc_auc_score(yv, model.predict_proba(scale.transform(xv))[:, 1]):.3f}")
    print(f"Bayes posterior with the true prior:      AUC {roc_auc_score(yv, bayes(by_customer, seen, rate, validation)):.3f}")
    print(f"true rates and stopping days (unseeable): AUC {roc_auc_score(yv, truth):.3f}")


if __name__ == "__main__":
    main()
