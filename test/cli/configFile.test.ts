/** The config file reader: strict JSON with the position of every value, and errors that name the file, line and column. */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { locate, parseJsonWithPositions, readConfigFile } from '../../src/cli/configFile.js';
import { UsageError } from '../../src/cli/usageError.js';

const root = mkdtempSync(join(tmpdir(), 'medrobust-configfile-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(root, name);
  writeFileSync(file, text);
  return file;
}

describe('parseJsonWithPositions', () => {
  it('parses what JSON.parse parses, to the same value', () => {
    for (const text of ['{}', '[]', '0', '-1.5e-3', '"a\\u00e9\\n\\"b"', 'true', 'null', '{"a":[1,{"b":[]}],"c":"x"}', ' \n{ "k" : [ 1 , 2 ] }\n']) {
      expect(parseJsonWithPositions(text).value).toEqual(JSON.parse(text));
    }
  });

  it('rejects what JSON rejects', () => {
    for (const text of ['{', '{"a":}', '{"a":1,}', '[1,]', "{'a':1}", '{a:1}', '01', 'NaN', '1 2', '"a\nb"', '"\\x"', '{"a":1 "b":2}', '']) {
      expect(() => JSON.parse(text), text).toThrow();
      expect(() => parseJsonWithPositions(text), text).toThrow();
    }
  });

  it('records the start of every value by its path', () => {
    const { offsets } = parseJsonWithPositions('{"model": {"epochs": 2.5}, "attacks": {"epsilons": [1, 300]}}');
    expect(offsets.get('model.epochs')).toBe(21);
    expect(offsets.get('attacks.epsilons[1]')).toBe(55);
  });
});

describe('readConfigFile', () => {
  it('names the line and column of a syntax error', () => {
    const file = write('trailing.json', '{\n  "model": {\n    "epochs": 3,\n  }\n}\n');
    expect(() => readConfigFile(file)).toThrow(new UsageError(`${file}:4:3: invalid JSON: expected a key after the comma (JSON allows no trailing comma), found '}'`));
    const missing = write('missing.json', '{"epochs": }');
    expect(() => readConfigFile(missing)).toThrow(`${missing}:1:12: invalid JSON: expected a value`);
    const twice = write('twice.json', '{"seed": 1, "seed": 2}');
    expect(() => readConfigFile(twice)).toThrow(`${twice}:1:13: invalid JSON: the key "seed" appears twice`);
  });

  it('says when the file is missing or a folder, in one line', () => {
    expect(() => readConfigFile(join(root, 'nope.json'))).toThrow(new UsageError(`config file ${join(root, 'nope.json')} not found`));
    mkdirSync(join(root, 'dir.json'));
    expect(() => readConfigFile(join(root, 'dir.json'))).toThrow(/is a folder, not a JSON file/);
  });

  it('locates a JSON path, or its closest recorded parent', () => {
    const file = write('ok.json', '\uFEFF{\n  "model": { "epochs": 2.5 },\n  "attacks": { "epsilons": [1, 300] }\n}');
    const config = readConfigFile(file);
    expect(config.value).toEqual({ model: { epochs: 2.5 }, attacks: { epsilons: [1, 300] } });
    expect(locate(config, 'model.epochs')).toBe(`${file}:2:24`);
    expect(locate(config, 'attacks.epsilons[1]')).toBe(`${file}:3:32`);
    expect(locate(config, 'attacks.pgdSteps')).toBe(`${file}:3:14`);
    expect(locate(config, 'defenses.tasks')).toBe(file);
  });
});
