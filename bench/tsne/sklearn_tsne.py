"""scikit-learn reference for bench/tsne: embeds a JSON matrix with sklearn's Barnes-Hut TSNE
(its defaults: perplexity 30, PCA init, learning_rate 'auto') and prints wall time, KL and
trustworthiness (k = 5) as JSON. Usage: /usr/bin/python3 sklearn_tsne.py in.json seed [emb_in.json]"""
import json, sys, time
import numpy as np
from sklearn.manifold import TSNE, trustworthiness

inp = json.load(open(sys.argv[1]))
X = np.asarray(inp["data"], dtype=np.float64).reshape(inp["shape"])
seed = int(sys.argv[2])
out = {}
if len(sys.argv) > 3:
    # score an embedding produced elsewhere with sklearn's trustworthiness
    E = np.asarray(json.load(open(sys.argv[3])), dtype=np.float64)
    out["trustworthiness_other"] = float(trustworthiness(X, E, n_neighbors=5))
t0 = time.perf_counter()
c0 = time.process_time()
tsne = TSNE(n_components=2, init="pca", learning_rate="auto", random_state=seed, method="barnes_hut", angle=0.5)
E = tsne.fit_transform(X)
out["seconds"] = time.perf_counter() - t0
out["cpu_seconds"] = time.process_time() - c0
out["kl"] = float(tsne.kl_divergence_)
out["iterations"] = int(tsne.n_iter_)
out["trustworthiness"] = float(trustworthiness(X, E, n_neighbors=5))
print(json.dumps(out))
