"""scikit-learn reference for bench/tsne.

Usage:
  /usr/bin/python3 sklearn_tsne.py in.json seed [emb_in.json]
      embeds a JSON matrix with sklearn's Barnes-Hut TSNE (its defaults: perplexity 30, PCA init,
      learning_rate 'auto') and prints wall time, KL and trustworthiness (k = 5) as JSON; with
      emb_in.json, also scores that embedding with sklearn's trustworthiness.
  /usr/bin/python3 sklearn_tsne.py --raw data.f64 n d seed out.f64
      the same on a raw little-endian float64 matrix (large inputs); writes the embedding as raw
      float64 to out.f64 and prints wall/CPU time and KL (no trustworthiness: the caller scores it).
"""
import json, sys, time
import numpy as np
from sklearn.manifold import TSNE, trustworthiness


def fit(X, seed):
    t0 = time.perf_counter()
    c0 = time.process_time()
    tsne = TSNE(n_components=2, init="pca", learning_rate="auto", random_state=seed, method="barnes_hut", angle=0.5)
    E = tsne.fit_transform(X)
    return E, {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
               "kl": float(tsne.kl_divergence_), "iterations": int(tsne.n_iter_)}


if sys.argv[1] == "--raw":
    n, d, seed = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    X = np.fromfile(sys.argv[2], dtype="<f8").reshape(n, d)
    E, out = fit(X, seed)
    E.astype("<f8").tofile(sys.argv[6])
    print(json.dumps(out))
else:
    inp = json.load(open(sys.argv[1]))
    X = np.asarray(inp["data"], dtype=np.float64).reshape(inp["shape"])
    seed = int(sys.argv[2])
    out = {}
    if len(sys.argv) > 3:
        E = np.asarray(json.load(open(sys.argv[3])), dtype=np.float64)
        out["trustworthiness_other"] = float(trustworthiness(X, E, n_neighbors=5))
    E, res = fit(X, seed)
    out.update(res)
    out["trustworthiness"] = float(trustworthiness(X, E, n_neighbors=5))
    print(json.dumps(out))
