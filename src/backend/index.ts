/**
 * Backend selection and the gradient kernels the wasm backend lacks: the only part of medrobust that
 * imports a TensorFlow.js backend, so the core stays backend-agnostic.
 * @packageDocumentation
 */
export { useBackend } from './useBackend.js';
export type { BackendChoice, BackendName, UseBackendOptions } from './useBackend.js';
export { registerCpuGradients, registerWasmGradients, registerWebGpuGradients } from './registerWasmGradients.js';
export type { GradientRegistration } from './registerWasmGradients.js';
