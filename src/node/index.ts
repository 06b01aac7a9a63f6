/**
 * Node-only parts of medrobust (file IO, image decoding, dataset loaders, checkpoints on disk).
 * @packageDocumentation
 */
export {};
