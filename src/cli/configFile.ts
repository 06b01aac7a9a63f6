/**
 * Reading a config file for the CLI: a strict JSON parser that remembers where every value starts, so
 * that a syntax error names the line and column, and a bad value names the file, its line and column and
 * its JSON path (`my.json:5:15: model.epochs must be ...`).
 * @internal
 */
import { readFileSync, statSync } from 'node:fs';
import { UsageError } from './usageError.js';

/** Line and column (both 1-based) of a value in the file. */
export interface Position {
  line: number;
  column: number;
}

/** A parsed config file: the value and the position of every JSON path (`model.epochs`, `attacks.epsilons[1]`). */
export interface ConfigFile {
  file: string;
  value: unknown;
  positions: Map<string, Position>;
}

class JsonSyntaxError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

function positionOf(text: string, offset: number): Position {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') { line++; lineStart = i + 1; }
  }
  return { line, column: offset - lineStart + 1 };
}

const describeChar = (text: string, i: number): string => (i >= text.length ? 'the end of the file' : `'${text[i]}'`);

/** Parses strict JSON (RFC 8259), recording the start offset of every value by its path. */
export function parseJsonWithPositions(text: string): { value: unknown; offsets: Map<string, number> } {
  const offsets = new Map<string, number>();
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++; };
  const expect = (what: string): never => { throw new JsonSyntaxError(`expected ${what}, found ${describeChar(text, i)}`, i); };
  const str = (): string => {
    const start = i;
    i++; // opening quote
    let out = '';
    for (;;) {
      if (i >= text.length) throw new JsonSyntaxError('unterminated string', start);
      const ch = text[i]!;
      if (ch === '"') { i++; return out; }
      if (ch < ' ') throw new JsonSyntaxError('a control character inside a string (newlines must be written \\n)', i);
      if (ch === '\\') {
        const esc = text[i + 1];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (esc !== undefined && esc in simple) { out += simple[esc]; i += 2; continue; }
        if (esc === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) { out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16)); i += 6; continue; }
        throw new JsonSyntaxError('an invalid escape in a string', i);
      }
      out += ch;
      i++;
    }
  };
  const value = (path: string): unknown => {
    ws();
    offsets.set(path, i);
    const ch = text[i];
    if (ch === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') { i++; return obj; }
      for (;;) {
        ws();
        if (text[i] !== '"') expect(text[i] === '}' ? 'a key after the comma (JSON allows no trailing comma)' : 'a key in double quotes');
        const keyAt = i;
        const key = str();
        if (Object.prototype.hasOwnProperty.call(obj, key)) throw new JsonSyntaxError(`the key "${key}" appears twice`, keyAt);
        ws();
        if (text[i] !== ':') expect(`':' after the key "${key}"`);
        i++;
        obj[key] = value(path ? `${path}.${key}` : key);
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return obj; }
        expect(`',' or '}' after the value of "${key}"`);
      }
    }
    if (ch === '[') {
      i++;
      const arr: unknown[] = [];
      ws();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        arr.push(value(`${path}[${arr.length}]`));
        ws();
        if (text[i] === ',') {
          i++;
          ws();
          if (text[i] === ']') expect('a value after the comma (JSON allows no trailing comma)');
          continue;
        }
        if (text[i] === ']') { i++; return arr; }
        expect("',' or ']' in the array");
      }
    }
    if (ch === '"') return str();
    const num = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (num && num[0].length > 0) { i += num[0].length; return Number(num[0]); }
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, i)) { i += word.length; return v; }
    }
    return expect('a value (an object, array, string, number, true, false or null)');
  };
  const v = value('');
  ws();
  if (i < text.length) throw new JsonSyntaxError(`unexpected ${describeChar(text, i)} after the end of the JSON value`, i);
  return { value: v, offsets };
}

/**
 * Reads and parses a config file. Throws a {@link UsageError} that names the file (and, for a syntax
 * error, the line and column) when it is missing, unreadable or not valid JSON.
 */
export function readConfigFile(file: string): ConfigFile {
  let text: string;
  try {
    if (statSync(file).isDirectory()) throw new UsageError(`config file ${file} is a folder, not a JSON file`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `config file ${file} not found` : `cannot read config file ${file}: ${code ?? (err as Error).message}`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    const { value, offsets } = parseJsonWithPositions(text);
    const positions = new Map([...offsets].map(([k, o]) => [k, positionOf(text, o)]));
    return { file, value, positions };
  } catch (err) {
    if (!(err instanceof JsonSyntaxError)) throw err;
    const at = positionOf(text, err.offset);
    throw new UsageError(`${file}:${at.line}:${at.column}: invalid JSON: ${err.message}`);
  }
}

/** `file:line:column` of the closest recorded ancestor of a JSON path (or just `file`). */
export function locate(config: ConfigFile, path: string): string {
  let p = path;
  for (;;) {
    const at = config.positions.get(p);
    if (at) return `${config.file}:${at.line}:${at.column}`;
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    if (cut <= 0) return config.file;
    p = p.slice(0, cut);
  }
}
