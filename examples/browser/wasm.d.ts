/** The wasm binary the audit page embeds (esbuild's binary loader gives its bytes). */
declare module '*.wasm' {
  const bytes: Uint8Array<ArrayBuffer>;
  export default bytes;
}
