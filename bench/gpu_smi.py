"""GPU memory sampler for bench/gpu-run.sh: every 100 ms, the device's used memory (and, where NVML lists
them, each process's) as JSON lines with a wall-clock time, until killed. NVML through nvidia-ml-py
(pynvml); without it, nvidia-smi every 250 ms. Usage: python3 bench/gpu_smi.py out.jsonl
"""
import json
import subprocess
import sys
import time

out = open(sys.argv[1], 'a', buffering=1)
try:
    import pynvml
    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    nvml = True
except Exception as exc:  # no nvidia-ml-py, or NVML refuses: nvidia-smi instead
    print(f'gpu_smi: NVML unavailable ({exc}); sampling nvidia-smi', file=sys.stderr)
    nvml = False
if nvml:

    def procs():
        seen = {}
        for fn in ('nvmlDeviceGetComputeRunningProcesses', 'nvmlDeviceGetGraphicsRunningProcesses'):
            try:
                for p in getattr(pynvml, fn)(h):
                    seen[p.pid] = max(seen.get(p.pid, 0), (p.usedGpuMemory or 0) // 2 ** 20)
            except Exception:
                pass
        return seen
    while True:
        m = pynvml.nvmlDeviceGetMemoryInfo(h)
        try:
            util = pynvml.nvmlDeviceGetUtilizationRates(h).gpu
        except Exception:
            util = None
        out.write(json.dumps({'t': time.time(), 'usedMiB': m.used // 2 ** 20, 'util': util, 'procs': procs()}) + '\n')
        time.sleep(0.1)
else:
    while True:
        r = subprocess.run(['nvidia-smi', '--query-gpu=memory.used,utilization.gpu', '--format=csv,noheader,nounits'],
                           capture_output=True, text=True)
        try:
            used, util = [int(v) for v in r.stdout.strip().split(',')[:2]]
            out.write(json.dumps({'t': time.time(), 'usedMiB': used, 'util': util, 'procs': {}}) + '\n')
        except ValueError:
            pass
        time.sleep(0.25)
