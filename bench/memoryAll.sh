#!/bin/sh
# Peak memory of one input gradient of the paper's networks: tfjs wasm before (stock) and after (medrobust)
# and PyTorch CPU, batch 1-4, one fresh process per measurement. Prints JSON lines.
set -e
cd "$(dirname "$0")/.."
for model in densenet121 inceptionv3 attnvgg; do
  for batch in 1 2 4; do
    for mode in stock medrobust; do npx tsx bench/memory.ts --model $model --batch $batch --mode $mode 2>/dev/null | tail -1; done
    /usr/bin/python3 bench/torch_memory.py $model $batch
  done
done
