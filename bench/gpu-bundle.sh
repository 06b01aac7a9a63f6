#!/usr/bin/env bash
# Packs the GPU benchmark for the device machine (one NVIDIA GPU, x86-64, glibc >= 2.35, python3 with torch,
# no Node, no network) into DEST (default <repo>/.gpu, which .git/info/exclude must ignore):
#   run.sh        bench/gpu-run.sh: unpacks under /tmp, runs everything, writes $OUT (see there)
#   node.xz       this machine's Node 20 (x86-64, needs glibc >= 2.28 and libstdc++ only), xz-compressed
#   app.tar.xz    app/gpu.mjs (bench/gpu.ts and medrobust's src bundled by esbuild into one ESM file),
#                 app/gpu_adapter.mjs, app/node_modules/ (tfjs-core, -layers, -backend-cpu, -backend-webgpu:
#                 package.json + their Node build; seedrandom and node-fetch bundled into one file each; webgpu:
#                 index.js, package.json, dist/linux-x64/dawn.node), app/lib/vulkan/libvulkan.so.1 (from Debian's
#                 libvulkan1 .deb, apt-get download), app/lib/stdcxx/libstdc++.so.6 (dawn.node needs GLIBCXX_3.4.30)
#   py/           bench/gpu_torch.py, torch_memory.py (its AttnVGG), gpu_smi.py, gpu_summary.py
#   MANIFEST.txt  versions and sizes
# Usage: bash bench/gpu-bundle.sh [DEST]; then, here: OUT=$(mktemp -d) bash DEST/run.sh --dry
# Device call: carry ['.gpu'], command 'bash .gpu/run.sh' (about 7 minutes; GPU_BUDGET_S bounds it).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=${1:-$ROOT/.gpu}
NODE_BIN=${NODE_BIN:-$(command -v node)}
cd "$ROOT"
[ "$(uname -m)" = x86_64 ] || { echo "gpu-bundle: needs an x86-64 machine (the device is x86-64)"; exit 1; }
case "$("$NODE_BIN" --version)" in v20.*|v22.*) ;; *) echo "gpu-bundle: $NODE_BIN is not Node 20/22"; exit 1;; esac
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
APP=$TMP/app; NM=$APP/node_modules
mkdir -p "$NM/@tensorflow" "$APP/lib/vulkan" "$APP/lib/stdcxx"

echo "gpu-bundle: esbuild bench/gpu.ts"
npx esbuild bench/gpu.ts --bundle --platform=node --format=esm --target=node20 \
  --external:@tensorflow/* --external:webgpu --outfile="$APP/gpu.mjs" --log-level=warning
cp bench/gpu_adapter.mjs "$APP/"

# tfjs packages as Node loads them (package.json "main": the CommonJS Node build; ESM imports of them see
# its named exports), so medrobust's dynamic imports of the backends resolve to the same tfjs-core.
for p in tfjs-core tfjs-layers tfjs-backend-cpu tfjs-backend-webgpu; do
  src=node_modules/@tensorflow/$p
  main=$(node -p "require('./$src/package.json').main")
  mkdir -p "$NM/@tensorflow/$p/$(dirname "$main")"
  cp "$src/$main" "$NM/@tensorflow/$p/$main"
  node -e "const p=require('./$src/package.json'); console.log(JSON.stringify({name:p.name, version:p.version, main:p.main, license:p.license}))" >"$NM/@tensorflow/$p/package.json"
done
for d in seedrandom node-fetch; do   # the only require()s of those builds besides node built-ins
  mkdir -p "$NM/$d"
  npx esbuild "$(node -p "require.resolve('$d')")" --bundle --platform=node --format=cjs --target=node20 \
    --outfile="$NM/$d/index.js" --log-level=error
  echo "{\"name\":\"$d\",\"version\":\"$(node -p "require('$d/package.json').version")\",\"main\":\"index.js\"}" >"$NM/$d/package.json"
done
mkdir -p "$NM/webgpu/dist/linux-x64"
cp node_modules/webgpu/index.js node_modules/webgpu/package.json "$NM/webgpu/"
cp node_modules/webgpu/dist/linux-x64/dawn.node "$NM/webgpu/dist/linux-x64/"

echo "gpu-bundle: Vulkan loader (Debian libvulkan1, amd64) and libstdc++"
( cd "$TMP" && apt-get download libvulkan1:amd64 >/dev/null )
dpkg -x "$TMP"/libvulkan1_*.deb "$TMP/deb"
cp -L "$TMP"/deb/usr/lib/x86_64-linux-gnu/libvulkan.so.1 "$APP/lib/vulkan/libvulkan.so.1"
cp -L "$(ldconfig -p | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')" "$APP/lib/stdcxx/libstdc++.so.6"

echo "gpu-bundle: checking the bundle with this Node (no GPU needed: it must load and parse)"
"$NODE_BIN" --check "$APP/gpu.mjs"
(cd "$APP" && "$NODE_BIN" --input-type=module -e "
  const tf = await import('@tensorflow/tfjs-core'); await import('@tensorflow/tfjs-layers');
  await import('@tensorflow/tfjs-backend-cpu'); const w = await import('webgpu');
  if (typeof tf.tidy !== 'function' || typeof w.create !== 'function') throw new Error('named exports missing');
  console.log('gpu-bundle: tfjs', tf.version_core, 'and webgpu load from the bundle')")

echo "gpu-bundle: compressing into $DEST"
rm -rf "$DEST.new"; mkdir -p "$DEST.new/py"
tar -C "$TMP" -cf - app | xz -T1 -6 >"$DEST.new/app.tar.xz"
xz -T1 -6 -c "$NODE_BIN" >"$DEST.new/node.xz"
cp bench/gpu-run.sh "$DEST.new/run.sh"
cp bench/gpu_torch.py bench/torch_memory.py bench/gpu_smi.py bench/gpu_summary.py "$DEST.new/py/"
{
  echo "medrobust GPU bundle, made $(date -u +%FT%TZ) from $(git rev-parse --short HEAD) ($(git status --porcelain | wc -l) uncommitted changes)"
  echo "node $("$NODE_BIN" --version); webgpu $(node -p "require('webgpu/package.json').version"); tfjs $(node -p "require('@tensorflow/tfjs-core/package.json').version"); libvulkan1 $(basename "$TMP"/libvulkan1_*.deb)"
  (cd "$DEST.new" && du -ab . | sort -k2)
} >"$DEST.new/MANIFEST.txt"
rm -rf "$DEST"; mv "$DEST.new" "$DEST"
du -sh "$DEST"; cat "$DEST/MANIFEST.txt"
