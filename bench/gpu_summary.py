"""Gathers what bench/gpu-run.sh wrote into one results.json and a Markdown summary.

Usage: python3 bench/gpu_summary.py <raw dir> <out dir>
Reads adapter.json, steps.jsonl, webgpu-*.json (bench/gpu.ts), torch-*.json (bench/gpu_torch.py),
ref-*.json (bench/gpu.ts --reference on cpu) and smi.jsonl (bench/gpu_smi.py). Adds, per step, the peak of
the device's used memory above the level just before it started, and, per network, the largest difference
between the WebGPU logits of the first two images and the cpu backend's.
"""
import glob
import json
import os
import sys

raw, out = sys.argv[1], sys.argv[2]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except Exception as exc:  # a step that timed out or crashed leaves no file, or half a file
        return {'error': f'{os.path.basename(path)}: {exc}'}


def lines(path):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    return rows


steps = lines(os.path.join(raw, 'steps.jsonl'))
smi = lines(os.path.join(raw, 'smi.jsonl'))
for s in steps:
    if 'start' not in s or not smi:
        continue
    before = [r['usedMiB'] for r in smi if s['start'] - 2 <= r['t'] <= s['start']]
    during = [r for r in smi if s['start'] <= r['t'] <= s['end']]
    if during:
        base = min(before) if before else during[0]['usedMiB']
        s['smiBaseMiB'] = base
        s['smiPeakMiB'] = max(r['usedMiB'] for r in during)
        s['smiPeakAboveBaseMiB'] = s['smiPeakMiB'] - base
        utils = [r['util'] for r in during if r.get('util') is not None]
        s['smiMeanUtil'] = round(sum(utils) / len(utils), 1) if utils else None
        s['smiSamples'] = len(during)

results = {'facts': open(os.path.join(raw, 'facts.txt')).read() if os.path.exists(os.path.join(raw, 'facts.txt')) else None,
           'adapter': load(os.path.join(raw, 'adapter.json')), 'steps': steps, 'webgpu': {}, 'torch': {}, 'reference': {}, 'logitsCheck': {}}
for path in sorted(glob.glob(os.path.join(raw, 'webgpu-*.json'))):
    results['webgpu'][os.path.basename(path)[7:-5]] = load(path)
for path in sorted(glob.glob(os.path.join(raw, 'torch-*.json'))):
    results['torch'][os.path.basename(path)[6:-5]] = load(path)
for path in sorted(glob.glob(os.path.join(raw, 'ref-*.json'))):
    results['reference'][os.path.basename(path)[4:-5]] = load(path)

refs = {row['key']: row for r in results['reference'].values() for row in r.get('rows', [])}
for name, run in results['webgpu'].items():
    for row in run.get('rows', []):
        ref = refs.get(row['key'])
        if not ref or not row.get('logitsHead') or ref.get('side') != row.get('side') or ref.get('width') != row.get('width'):
            continue
        diffs, scale = [], 0.0
        for a, b in zip(row['logitsHead'], ref['logitsHead']):
            for x, y in zip(a, b):
                diffs.append(abs(x - y))
                scale = max(scale, abs(y))
        results['logitsCheck'][f'{name}'] = {'images': min(len(row['logitsHead']), len(ref['logitsHead'])), 'maxAbsDiff': max(diffs),
                                            'maxAbsReference': scale, 'relative': max(diffs) / max(scale, 1e-12),
                                            'ok': max(diffs) <= 1e-3 * max(1.0, scale)}

step_by = {s['step']: s for s in steps}
md = ['| network | batch | side | forward | PGD-10 | training step | peak memory | first runs (fwd/PGD/train) | PGD check |',
      '|---|---:|---|---:|---:|---:|---:|---|---|']
for side, group in (('webgpu', results['webgpu']), ('torch', results['torch'])):
    for name, run in group.items():
        if 'rows' not in run:
            md.append(f'| {name} | | {side} | {run.get("error", "no result")} | | | | | |')
            continue
        smi_step = step_by.get(f'{side}-{name}', {})
        for row in run['rows']:
            if side == 'webgpu':
                mem = f'{row["peakMiB"]:.0f} MiB tensors, {row.get("gpuPoolEndMiB") or 0:.0f} MiB pool'
            else:
                peaks = [row[k]['maxAllocatedMiB'] for k in ('forward', 'pgd10', 'trainStep') if 'maxAllocatedMiB' in row[k]]
                mem = f'{max(peaks):.0f} MiB allocated' if peaks else '(cpu)'
            if 'smiPeakAboveBaseMiB' in smi_step:
                mem += f', smi +{smi_step["smiPeakAboveBaseMiB"]} MiB'
            first = '/'.join(f'{row[k]["firstMs"] / 1000:.1f}' for k in ('forward', 'pgd10', 'trainStep')) + ' s'
            if row.get('shaderPipelines'):
                first += f', {row["shaderPipelines"]} pipelines'
            c = row['pgdCheck']
            check = f'{"ok" if c["ok"] else "FAILED"} (‖δ‖∞ {c["linfDelta"]:.5f}, loss {c["cleanLoss"]:.4g}→{c["advLoss"]:.4g})'
            md.append(f'| {row["model"]} | {row["batch"]} | {side} | {row["forwardMs"]:.1f} ms | {row["pgd10Ms"]:.0f} ms | {row["trainStepMs"]:.0f} ms | {mem} | {first} | {check} |')
md.append('')
for name, c in results['logitsCheck'].items():
    md.append(f'- logits {name} vs cpu backend: max |Δ| {c["maxAbsDiff"]:.3g} (largest |logit| {c["maxAbsReference"]:.3g}): {"ok" if c["ok"] else "FAILED"}')
for s in steps:
    if s.get('skipped'):
        md.append(f'- step {s["step"]}: skipped (budget spent)')
        continue
    md.append(f'- step {s["step"]}: rc {s.get("rc")}, {s.get("seconds", 0):.1f} s (timeout {s.get("timeout")} s)'
              + (f', GPU memory {s["smiBaseMiB"]} → peak {s["smiPeakMiB"]} MiB, mean util {s["smiMeanUtil"]} %' if 'smiPeakMiB' in s else ''))
results['summary'] = md
with open(os.path.join(out, 'results.json'), 'w') as f:
    json.dump(results, f, indent=2)
with open(os.path.join(out, 'summary.md'), 'w') as f:
    f.write('\n'.join(md) + '\n')
print('\n'.join(md))
