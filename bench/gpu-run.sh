#!/usr/bin/env bash
# Device half of bench/gpu-bundle.sh, copied to .gpu/run.sh: on the GPU machine (x86-64, glibc >= 2.35,
# python3 with torch, NVIDIA driver under /usr/local/nvidia, no Node, no network) it unpacks Node 20, the
# bundled bench/gpu.ts and Dawn under /tmp, points the Vulkan loader at NVIDIA's ICD, and runs, each part
# under `timeout` inside one wall-time budget (GPU_BUDGET_S, default 420 s):
#   facts (nvidia-smi, driver, loader, ICD) and Dawn's adapter (bench/gpu_adapter.mjs: info, limits, one compute pass);
#   bench/gpu_torch.py on CUDA, batch 8; bench/gpu.ts on webgpu, the same steps and batch, one process per
#   network; DenseNet-121 at batch 32 on both when time is left; cpu-backend reference logits in the background;
#   a GPU memory sampler (bench/gpu_smi.py) throughout; then bench/gpu_summary.py.
# Writes to $OUT: run.log, results.json, summary.md, raw.tar.gz.
#   bash .gpu/run.sh          on the device (OUT set by the device tool)
#   OUT=$(mktemp -d) GPU_BUDGET_S=900 bash .gpu/run.sh --dry    here: SwiftShader's Vulkan ICD (Chromium's), a tiny
#   AttnVGG (GPU_MODELS to change), torch on cpu, step limits x4 (GPU_CAP_SCALE)
set -u -o pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DRY=0; [ "${1:-}" = "--dry" ] && DRY=1
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
BUDGET=${GPU_BUDGET_S:-420}
RESERVE=25                              # seconds kept for the summary and the archive
CAP_SCALE=${GPU_CAP_SCALE:-$([ "$DRY" = 1 ] && echo 4 || echo 1)}   # each step's own limit, times this (a software adapter is slow)
W=${GPU_WORK:-/tmp/medrobust-gpu}
START=$(date +%s)
rm -rf "$W"; mkdir -p "$W/raw" "$W/xdg"; chmod 700 "$W/xdg"
exec > >(tee -a "$OUT/run.log") 2>&1
log() { echo "[run.sh +$(( $(date +%s) - START )) s] $*"; }
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
now() { date +%s.%N; }

# step NAME CAP CMD...: runs CMD under timeout min(CAP, budget left - RESERVE), output to the log and raw/NAME.log
step() {
  local name=$1 cap=$(( $2 * CAP_SCALE )); shift 2
  local l=$(( $(left) - RESERVE )); local t=$(( cap < l ? cap : l ))
  if [ "$t" -lt 20 ]; then log "SKIP $name: $(left) s of the budget left"; echo "{\"step\":\"$name\",\"skipped\":true}" >>"$W/raw/steps.jsonl"; return 0; fi
  log "START $name (timeout ${t} s): $*"
  local s; s=$(now)
  timeout -k 5 "$t" "$@" 2>&1 | tee "$W/raw/$name.log"
  local rc=${PIPESTATUS[0]}
  local e; e=$(now)
  log "END $name rc=$rc$([ "$rc" = 124 ] && echo ' (TIMED OUT)')"
  echo "{\"step\":\"$name\",\"rc\":$rc,\"start\":$s,\"end\":$e,\"seconds\":$(echo "$e - $s" | awk '{print $1-$3}'),\"timeout\":$t}" >>"$W/raw/steps.jsonl"
}

PY=${GPU_PYTHON:-python3}
if ! "$PY" -c 'import torch' 2>/dev/null; then [ -x /usr/bin/python3 ] && PY=/usr/bin/python3; fi
log "unpacking under $W (dry=$DRY, budget ${BUDGET} s, python $PY)"
"$PY" - "$HERE" "$W" <<'PYEOF' || { log "unpack failed"; exit 1; }
import lzma, os, shutil, sys, tarfile
here, w = sys.argv[1:]
with lzma.open(os.path.join(here, 'node.xz')) as src, open(os.path.join(w, 'node'), 'wb') as dst:
    shutil.copyfileobj(src, dst, 1 << 22)
os.chmod(os.path.join(w, 'node'), 0o755)
with tarfile.open(os.path.join(here, 'app.tar.xz')) as t:
    t.extractall(w, **({'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}))
PYEOF
APP=$W/app
export XDG_RUNTIME_DIR=$W/xdg

# Vulkan: NVIDIA's ICD; the loader (libvulkan.so.1, from Debian's libvulkan1) and libstdc++ (GLIBCXX_3.4.30,
# which dawn.node needs) from the bundle only where the system lacks them (always in a dry run, to try them).
ICD=""
if [ "$DRY" = 1 ]; then
  ICD=${GPU_ICD:-/usr/lib/chromium/vk_swiftshader_icd.json}
else
  for f in ${GPU_ICD:-} /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$f" ] && { ICD=$f; break; }
  done
fi
[ -n "$ICD" ] && export VK_DRIVER_FILES=$ICD VK_ICD_FILENAMES=$ICD
LIBS=""
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do [ -d "$d" ] && LIBS=$LIBS:$d; done
if [ "$DRY" = 1 ] || ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1 '; then LIBS=$APP/lib/vulkan$LIBS; log "using the bundled Vulkan loader"; fi
SYSSTD=$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')
if [ "$DRY" = 1 ] || [ -z "$SYSSTD" ] || ! grep -qa GLIBCXX_3.4.30 "$SYSSTD"; then LIBS=$APP/lib/stdcxx:$LIBS; log "using the bundled libstdc++"; fi
# Only Node sees these libraries (python3 and torch keep the system's): a wrapper sets them.
NODE_LIBS=${LIBS#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$NODE_LIBS" "$W/node" >"$W/nodew"; chmod +x "$W/nodew"
NODE=$W/nodew
log "ICD $ICD; Node's LD_LIBRARY_PATH $NODE_LIBS"

{
  echo "== date"; date -u
  echo "== uname"; uname -a
  echo "== glibc"; ldd --version 2>&1 | head -1
  echo "== node"; "$NODE" --version
  echo "== cpus / memory"; nproc; free -m 2>/dev/null | head -2
  echo "== ICD $ICD"; [ -n "$ICD" ] && cat "$ICD"
  echo "== loader"; ldconfig -p 2>/dev/null | grep -E 'libvulkan|libGLX_nvidia|libnvidia-glcore' | head
  echo "== Node's LD_LIBRARY_PATH $NODE_LIBS"; LD_LIBRARY_PATH=$NODE_LIBS ldd "$APP/node_modules/webgpu/dist/linux-x64/dawn.node" 2>&1 | grep -E 'libstdc|not found'
  if command -v nvidia-smi >/dev/null; then
    echo "== nvidia-smi"; nvidia-smi
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.max.sm,clocks.max.mem,power.limit,pstate --format=csv
  else echo "== no nvidia-smi"; fi
  echo "== torch"; timeout 60 "$PY" -c 'import torch, torchvision; print(torch.__version__, torchvision.__version__, torch.version.cuda, torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")' 2>&1
} >"$W/raw/facts.txt" 2>&1
cat "$W/raw/facts.txt"

step adapter 60 "$NODE" "$APP/gpu_adapter.mjs" "$W/raw/adapter.json"
# A software adapter (SwiftShader, lavapipe) or none at all would make the full-size runs time out for nothing:
# then say why (the Vulkan loader's own messages) and run the PyTorch half only.
ADAPTER=$("$PY" -c 'import json,re,sys; a=json.load(open(sys.argv[1]))["adapters"]["high-performance"]; d=" ".join(str(a.get(k) or "") for k in ("vendor","architecture","device","description")); print(("software: " if a["isFallbackAdapter"] or re.search("swiftshader|llvmpipe|lavapipe|software", d, re.I) else "gpu: ") + d.strip() + ("" if str(a.get("computeCheck")) == "ok" else " (compute " + str(a.get("computeCheck")) + ")"))' "$W/raw/adapter.json" 2>/dev/null || echo "none")
log "Dawn's adapter: $ADAPTER"
WEBGPU=1
if [ "$DRY" = 0 ] && [ "${ADAPTER#gpu: }" = "$ADAPTER" ]; then
  WEBGPU=0
  log "no GPU adapter for Dawn: the loader's messages follow, and the webgpu runs are skipped"
  VK_LOADER_DEBUG=error,warn,driver timeout 60 "$NODE" "$APP/gpu_adapter.mjs" 2>&1 | tail -n 60 | tee "$W/raw/adapter-debug.log"
fi

SMI=""
if command -v nvidia-smi >/dev/null; then "$PY" "$HERE/py/gpu_smi.py" "$W/raw/smi.jsonl" & SMI=$!; fi

if [ "$DRY" = 1 ]; then
  MODELS=${GPU_MODELS:-attnvgg}
  size_of() { case $1 in inceptionv3) echo "--size 75 --width 0.0625";; *) echo "--size 32 --width 0.125";; esac; }
  B=2; B_BIG=1; REPS=1; TORCH_DEV="--device cpu --size 96 --threads 2"; TORCH_BIG_MODEL=$(echo "$MODELS" | cut -d, -f1)
else
  MODELS=${GPU_MODELS:-densenet121,inceptionv3,attnvgg}
  size_of() { echo ""; }
  B=8; B_BIG=32; REPS=3; TORCH_DEV="--device cuda"; TORCH_BIG_MODEL=densenet121
fi

# cpu-backend reference logits (first two images), in the background on the CPU cores
REFS=()
for m in ${MODELS//,/ }; do
  [ "$WEBGPU" = 1 ] && [ "${GPU_SKIP_REF:-0}" != 1 ] || continue
  t=$(( $(left) - RESERVE - 10 )); [ "$t" -gt 300 ] && t=300
  ( s=$(now); timeout -k 5 "$t" nice -n 10 "$NODE" "$APP/gpu.mjs" --backend cpu --models "$m" --batch "$B" $(size_of "$m") --reference 2 \
      --json "$W/raw/ref-$m.json" >"$W/raw/ref-$m.log" 2>&1; rc=$?; e=$(now)
    echo "{\"step\":\"ref-$m\",\"rc\":$rc,\"start\":$s,\"end\":$e,\"seconds\":$(echo "$e - $s" | awk '{print $1-$3}'),\"timeout\":$t}" >>"$W/raw/steps.jsonl" ) &
  REFS+=($!)
done

# PyTorch first: predictable (about a minute), so the webgpu runs cannot squeeze it out of the budget
[ "${GPU_SKIP_TORCH:-0}" = 1 ] || step "torch-b$B" 150 "$PY" "$HERE/py/gpu_torch.py" $TORCH_DEV --models "$MODELS" --batch "$B" --reps "$REPS" --json "$W/raw/torch-b$B.json"
for m in ${MODELS//,/ }; do
  [ "$WEBGPU" = 1 ] || continue
  case $m in densenet121) cap=120;; inceptionv3) cap=120;; *) cap=90;; esac
  step "webgpu-$m-b$B" "$cap" "$NODE" "$APP/gpu.mjs" --backend webgpu --models "$m" --batch "$B" --reps "$REPS" ${GPU_WEBGPU_ARGS:-} $(size_of "$m") --json "$W/raw/webgpu-$m-b$B.json"
done
[ "$WEBGPU" = 1 ] && step "webgpu-$TORCH_BIG_MODEL-b$B_BIG" 90 "$NODE" "$APP/gpu.mjs" --backend webgpu --models "$TORCH_BIG_MODEL" --batch "$B_BIG" --reps "$REPS" ${GPU_WEBGPU_ARGS:-} $(size_of "$TORCH_BIG_MODEL") --json "$W/raw/webgpu-$TORCH_BIG_MODEL-b$B_BIG.json"
[ "${GPU_SKIP_TORCH:-0}" = 1 ] || step "torch-$TORCH_BIG_MODEL-b$B_BIG" 60 "$PY" "$HERE/py/gpu_torch.py" $TORCH_DEV --models "$TORCH_BIG_MODEL" --batch "$B_BIG" --reps "$REPS" --json "$W/raw/torch-$TORCH_BIG_MODEL-b$B_BIG.json"

log "waiting for the reference logits"
for p in ${REFS[@]+"${REFS[@]}"}; do wait "$p"; done
[ -n "$SMI" ] && kill "$SMI" 2>/dev/null
cat "$W"/raw/ref-*.log 2>/dev/null | grep -v '^\s*$' | tail -n 12
"$PY" "$HERE/py/gpu_summary.py" "$W/raw" "$OUT" || log "summary failed"
tar -C "$W" -czf "$OUT/raw.tar.gz" raw
log "done in $(( $(date +%s) - START )) s; \$OUT holds: $(ls "$OUT" | tr '\n' ' ')"
exec 1>&- 2>&-   # let tee write the end of run.log before the script ends
sleep 1
