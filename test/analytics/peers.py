#!/usr/bin/python3
"""The peers of meter_etl's analytics, on the data meter_etl computed them on.

Run by Debian's python3 (python3-sklearn 1.2, python3-statsmodels 0.13,
installed by test/install_deps.sh); used by the analytics quality check
(test/e2e/e2e_analytics_peers.sh) and the benchmark (test/bench/), never by
the extension.  Each mode reads a CSV meter_etl exported, runs the peer on
exactly the same numbers, and prints one JSON object.

  peers.py iforest FILE SEED   FILE: label,our_score,f1..f7 (one meter-day a row)
      scikit-learn's IsolationForest (100 trees, max_samples 256, the seed),
      ROC AUC of its scores and of ours against the labels, its fit + score
      time (median of 3, seconds).
  peers.py forecast HIST ORIGINS OURS
      HIST: series,epoch,kw (the readings); ORIGINS: series,origin_epoch,
      step_s,history_s; OURS: series,epoch,forecast_kw (meter_etl's
      day-ahead forecast from each origin).  For every origin statsmodels'
      ExponentialSmoothing (additive, seasonal period one day, no trend) is
      fitted on the same history and forecasts the same day; the seasonal
      naive forecast is the same slot a week before.  MAE, RMSE, MASE (MAE /
      the in-sample MAE of the weekly seasonal naive before the first
      origin) and MAPE (actuals >= 10 % of the series' mean) per series and
      pooled (mean MASE over the series), and statsmodels' fit + forecast
      time per fit.
  peers.py fcspeed HIST STEP_S   HIST: series,epoch,kw
      statsmodels' fit + one-day forecast of each series, timed: the total
      and the median per series (seconds).
  peers.py kmeans FILE K RESTARTS SEED   FILE: truth,our_label,p1..pd
      scikit-learn's KMeans (k-means++, n_init RESTARTS, Lloyd), its inertia
      and time (median of 3; again on one thread), and the adjusted Rand index of its labels and
      of ours against the truth.
"""
import csv
import json
import sys
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.ensemble import IsolationForest
from sklearn.metrics import adjusted_rand_score, roc_auc_score
from threadpoolctl import threadpool_limits


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        sys.exit(f"peers.py: {path} is empty")
    return rows


def timed(fn, runs=3):
    """The median wall time of fn() over runs, and its last result."""
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], times[0], times[-1], out


def iforest(path, seed):
    rows = read(path)
    y = np.array([int(r[0]) for r in rows])
    ours = np.array([float(r[1]) for r in rows])
    x = np.array([[float(v) for v in r[2:]] for r in rows])
    if y.min() == y.max():
        sys.exit("peers.py: the labels need both classes")

    def fit_score():
        model = IsolationForest(n_estimators=100, max_samples=256, random_state=seed)
        model.fit(x)
        return -model.score_samples(x)   # higher = more anomalous, as ours

    med, lo, hi, theirs = timed(fit_score)
    return {"points": len(rows), "features": x.shape[1], "positives": int(y.sum()),
            "auc_ours": roc_auc_score(y, ours), "auc_sklearn": roc_auc_score(y, theirs),
            "sklearn_s": med, "sklearn_s_min": lo, "sklearn_s_max": hi}


def kmeans(path, k, restarts, seed):
    rows = read(path)
    truth = [r[0] for r in rows]
    ours = [int(r[1]) for r in rows]
    x = np.array([[float(v) for v in r[2:]] for r in rows])

    def fit():
        return KMeans(n_clusters=k, init="k-means++", n_init=restarts, algorithm="lloyd",
                      random_state=seed).fit(x)

    med, lo, hi, model = timed(fit)
    # per core too: meter_etl's k-means runs on one
    with threadpool_limits(limits=1):
        med1, _, _, _ = timed(fit)
    return {"points": len(rows), "dims": x.shape[1], "k": k, "sklearn_1thread_s": med1,
            "inertia_sklearn": float(model.inertia_),
            "ari_ours": adjusted_rand_score(truth, ours),
            "ari_sklearn": adjusted_rand_score(truth, model.labels_),
            "sklearn_s": med, "sklearn_s_min": lo, "sklearn_s_max": hi}


def series_grid(rows, step):
    """A regular grid from (epoch, kw) pairs: times, values (gaps linear), and which were read."""
    t0, t1 = rows[0][0], rows[-1][0]
    n = int(round((t1 - t0) / step)) + 1
    y = np.full(n, np.nan)
    for t, v in rows:
        y[int(round((t - t0) / step))] = v
    read = ~np.isnan(y)
    idx = np.arange(n)
    y[~read] = np.interp(idx[~read], idx[read], y[read])
    return t0, y, read


def forecast(hist_path, origins_path, ours_path):
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
    import warnings
    warnings.filterwarnings("ignore")
    hist, ours, origins = {}, {}, {}
    for r in read(hist_path):
        hist.setdefault(r[0], []).append((float(r[1]), float(r[2])))
    for r in read(ours_path):
        ours[(r[0], round(float(r[1])))] = float(r[2])
    for r in read(origins_path):
        origins.setdefault(r[0], []).append((float(r[1]), int(r[2]), int(r[3])))
    out, fit_times = {}, []
    for name, rows in sorted(hist.items()):
        rows.sort()
        step = origins[name][0][1]
        t0, y, was_read = series_grid(rows, step)
        m = int(round(86400 / step))
        week = 7 * m
        first = int(round((min(o[0] for o in origins[name]) - t0) / step))
        pairs = [abs(y[i] - y[i - week]) for i in range(week, first) if was_read[i] and was_read[i - week]]
        scale = float(np.mean(pairs)) if pairs else float("nan")
        mean_level = float(np.mean(y[:first])) if first > 0 else float("nan")
        err = {"meter_etl": [], "statsmodels": [], "seasonal_naive": []}
        acts = []
        for origin, _, hist_s in sorted(origins[name]):
            i0 = int(round((origin - t0) / step))
            lo = max(0, i0 - int(round(hist_s / step)))
            hist_y = y[lo:i0]
            t_start = time.perf_counter()
            fit = ExponentialSmoothing(hist_y, trend=None, seasonal="add", seasonal_periods=m,
                                       initialization_method="estimated").fit()
            sm = fit.forecast(m)
            fit_times.append(time.perf_counter() - t_start)
            for h in range(m):
                i = i0 + h
                if i >= len(y) or not was_read[i]:
                    continue
                key = (name, round(t0 + i * step))
                if key not in ours:
                    continue
                acts.append(y[i])
                err["meter_etl"].append(ours[key] - y[i])
                err["statsmodels"].append(sm[h] - y[i])
                err["seasonal_naive"].append(y[i - week] - y[i])
        a = np.array(acts)
        res = {"n": len(acts), "scale": scale}
        for method, e in err.items():
            e = np.array(e)
            mae = float(np.mean(np.abs(e))) if len(e) else float("nan")
            big = a >= 0.1 * mean_level
            res[method] = {"mae": mae, "rmse": float(np.sqrt(np.mean(e * e))) if len(e) else float("nan"),
                           "mase": mae / scale if scale > 0 else float("nan"),
                           "mape": float(100 * np.mean(np.abs(e[big] / a[big]))) if big.any() else float("nan")}
        out[name] = res
    def pool(keep):
        res = {}
        for method in ("meter_etl", "statsmodels", "seasonal_naive"):
            v = [r[method]["mase"] for name, r in out.items() if keep(name) and np.isfinite(r[method]["mase"])]
            res[method] = float(np.mean(v)) if v else float("nan")
        return res

    # individual meters; a fleet total (a series named fleet...) is reported
    # on its own; generated meters are named G..., the rest are real
    pooled = pool(lambda name: not name.startswith("fleet"))
    real = pool(lambda name: not name.startswith("fleet") and not name.startswith("G"))
    generated = pool(lambda name: name.startswith("G"))
    return {"series": out, "pooled_mase": pooled, "pooled_mase_real": real, "pooled_mase_generated": generated,
            "statsmodels_fit_s": float(np.median(fit_times)),
            "fits": len(fit_times)}


def fcspeed(hist_path, step):
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
    import warnings
    warnings.filterwarnings("ignore")
    hist = {}
    for r in read(hist_path):
        hist.setdefault(r[0], []).append((float(r[1]), float(r[2])))
    m = int(round(86400 / step))
    times = []
    for rows in hist.values():
        rows.sort()
        _, y, _ = series_grid(rows, step)
        t0 = time.perf_counter()
        ExponentialSmoothing(y, trend=None, seasonal="add", seasonal_periods=m,
                             initialization_method="estimated").fit().forecast(m)
        times.append(time.perf_counter() - t0)
    return {"series": len(times), "total_s": float(sum(times)), "median_s": float(np.median(times))}


def main(argv):
    if len(argv) >= 3 and argv[1] == "iforest":
        out = iforest(argv[2], int(argv[3]) if len(argv) > 3 else 0)
    elif len(argv) == 5 and argv[1] == "forecast":
        out = forecast(argv[2], argv[3], argv[4])
    elif len(argv) == 4 and argv[1] == "fcspeed":
        out = fcspeed(argv[2], int(argv[3]))
    elif len(argv) == 6 and argv[1] == "kmeans":
        out = kmeans(argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
    else:
        sys.exit(__doc__)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
