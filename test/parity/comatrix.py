"""The authors' label co-occurrence matrix (libadver examples/ChestXNet/coMatrix.py, computeCoccurrenceMatrix),
ported to take the label matrix directly instead of reading label-list files: C[i, i] counts images whose
only label is i, C[i, j] images with both i and j. Their loops run over 14 labels (ChestX-ray14).

in.npz: labels [N, 14] of 0/1. out.npz: matrix [14, 14].
"""
import numpy as np

from parity_io import load, save

folder, a, args = load()
gt = a["labels"].astype(np.int64)
labelNum = gt.shape[1]
coMatrix = np.zeros([labelNum, labelNum])
for i in range(14):
    sourGt = gt[:, i]
    coMatrix[i, i] = (gt[gt[:, i] == 1, :].sum(axis=1) == 1).sum()
    for j in range(i + 1, 14):
        desGt = gt[:, j]
        coMatrix[i, j] = ((sourGt + desGt) == 2).sum()
        coMatrix[j, i] = coMatrix[i, j]
save(folder, {"matrix": coMatrix})
