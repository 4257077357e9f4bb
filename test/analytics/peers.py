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


def main(argv):
    if len(argv) >= 3 and argv[1] == "iforest":
        out = iforest(argv[2], int(argv[3]) if len(argv) > 3 else 0)
    elif len(argv) == 6 and argv[1] == "kmeans":
        out = kmeans(argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
    else:
        sys.exit(__doc__)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
