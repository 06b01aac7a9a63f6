// What Dawn (the `webgpu` package, as medrobust's useBackend('webgpu') loads it in Node) reports as its
// WebGPU adapters: info, fallback flag, features and the limits that bound tfjs-backend-webgpu's buffers.
// Usage: node bench/gpu_adapter.mjs [out.json]   (bench/gpu-bundle.sh's run script calls it first)
import { writeFileSync } from 'node:fs';
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const gpu = create([]);
const LIMITS = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage'];
const report = { adapters: {} };
for (const powerPreference of ['high-performance', 'low-power']) {
  const adapter = await gpu.requestAdapter({ powerPreference });
  if (!adapter) { report.adapters[powerPreference] = null; continue; }
  const info = adapter.info ?? {};
  const limits = Object.fromEntries(LIMITS.map((k) => [k, adapter.limits?.[k]]));
  const entry = {
    vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description,
    isFallbackAdapter: Boolean(adapter.isFallbackAdapter || info.isFallbackAdapter),
    features: [...(adapter.features ?? [])].sort(), limits,
  };
  // A device and one tiny compute pass: the adapter works, not only lists.
  try {
    const device = await adapter.requestDevice();
    const module = device.createShaderModule({ code: '@group(0) @binding(0) var<storage, read_write> v: array<f32>; @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) i: vec3u) { v[i.x] = f32(i.x) * 2.0; }' });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const n = 256;
    const buf = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] }));
    pass.dispatchWorkgroups(n / 64);
    pass.end();
    enc.copyBufferToBuffer(buf, 0, read, 0, n * 4);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const v = new Float32Array(read.getMappedRange().slice(0));
    read.unmap();
    entry.computeCheck = v.every((x, i) => x === 2 * i) ? 'ok' : `wrong values: ${Array.from(v.slice(0, 4))}`;
    device.destroy();
  } catch (err) {
    entry.computeCheck = `failed: ${err?.message ?? err}`;
  }
  report.adapters[powerPreference] = entry;
  console.log(`${powerPreference}: ${[entry.vendor, entry.architecture, entry.device, entry.description].filter(Boolean).join(' | ')}` +
    `${entry.isFallbackAdapter ? ' (fallback)' : ''}; maxBufferSize ${limits.maxBufferSize}, maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}; compute ${entry.computeCheck}`);
}
if (process.argv[2]) writeFileSync(process.argv[2], JSON.stringify(report, null, 2));
process.exit(0);
