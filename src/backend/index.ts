/**
 * Backend selection (placeholder until the backend module lands).
 * @packageDocumentation
 */
export {};
