/**
 * The command line itself: --version, help for every command, and user errors that print ONE line
 * (no stack trace) with exit code 2 before any work starts: unknown commands and options (with a
 * suggestion), a missing or malformed config (file:line:column), bad values (file:line:column and the
 * JSON path), bad --backend/--name values.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands.js';
import { main } from '../../src/cli/main.js';
import { captureOutput, clearOutput } from '../helpers/captureOutput.js';

const root = mkdtempSync(join(tmpdir(), 'medrobust-main-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const output = captureOutput();
const { out, err } = output;

function file(name: string, text: string): string {
  const path = join(root, name);
  writeFileSync(path, text);
  return path;
}

/** Runs the command; expects exit code 2 and exactly one line on stderr, which it returns. */
async function usageError(argv: string[]): Promise<string> {
  clearOutput(output);
  const code = await main(argv);
  const text = err.join('');
  expect(code, text).toBe(2);
  expect(text.endsWith('\n')).toBe(true);
  expect(text.trimEnd().split('\n'), text).toHaveLength(1);
  expect(text).not.toMatch(/\n\s+at |Error:|TypeError/);
  expect(out.join('')).toBe('');
  return text.trimEnd();
}

describe('medrobust --version and --help', () => {
  it('prints the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await main(['--version'])).toBe(0);
    expect(await main(['-v'])).toBe(0);
    expect(out).toEqual([`${version}\n`, `${version}\n`]);
  });

  it('lists every command; every command has its own --help with its options', async () => {
    expect(await main(['--help'])).toBe(0);
    const help = out.join('');
    for (const command of Object.keys(COMMANDS)) expect(help).toMatch(new RegExp(`^  ${command} `, 'm'));
    for (const command of Object.keys(COMMANDS)) {
      out.length = 0;
      expect(await main([command, '--help']), command).toBe(0);
      const text = out.join('');
      expect(text.startsWith(`usage: medrobust ${command}`), text).toBe(true);
      for (const option of Object.keys(COMMANDS[command]!.options)) expect(text, `${command} --${option}`).toContain(`--${option}`);
      out.length = 0;
      expect(await main(['help', command])).toBe(0);
      expect(out.join('')).toBe(text);
    }
    expect(err).toEqual([]);
  });

  it('without a command prints the help on stderr and exits 2', async () => {
    expect(await main([])).toBe(2);
    expect(err.join('')).toMatch(/^usage: medrobust <command>/);
  });
});

describe('user errors: one line, exit code 2, before any work', () => {
  it('unknown commands and options, with a suggestion', async () => {
    expect(await usageError(['rn'])).toBe("medrobust: unknown command 'rn'; did you mean 'run'? (medrobust --help lists the commands)");
    expect(await usageError(['run', '--bakend', 'cpu'])).toBe("medrobust run: unknown option '--bakend'; did you mean '--backend'? (medrobust run --help lists the options)");
    expect(await usageError(['demo', '--quik'])).toMatch(/did you mean '--quick'\?/);
    expect(await usageError(['run', '--frobnicate'])).toBe("medrobust run: unknown option '--frobnicate' (medrobust run --help lists the options)");
    expect(await usageError(['run', '--quick'])).toMatch(/unknown option '--quick'/); // only the demo has it
    expect(await usageError(['reproduce', 'isic2016', '/data', '--gpa'])).toMatch(/^medrobust reproduce: unknown option '--gpa'; did you mean '--gap'\?/);
    expect(await usageError(['reproduce', 'isic'])).toMatch(/experiment must be one of isic2016, messidor, chestxray14, received isic; did you mean 'isic2016'\?/);
    // Every numeric flag of reproduce is checked before any work (no NaN reaches the run, no data are read).
    const noData = join(root, 'no-such-data');
    expect(await usageError(['reproduce', 'isic2016', noData, '--limit', 'abc'])).toBe("medrobust reproduce: --limit must be a whole number >= 1, received 'abc'");
    expect(await usageError(['reproduce', 'isic2016', noData, '--limit', '0'])).toMatch(/--limit must be a whole number >= 1, received '0'/);
    expect(await usageError(['reproduce', 'messidor', noData, '--train-epochs=-1'])).toMatch(/--train-epochs must be a whole number >= 0, received '-1'/);
    expect(await usageError(['reproduce', 'chestxray14', noData, '--defend-epochs', '1.5'])).toMatch(/--defend-epochs must be a whole number >= 1, received '1.5'/);
    expect(await usageError(['reproduce', 'isic2016', noData, '--defend', 'trades'])).toMatch(/--defend must be pgd-at, mpadvt or maadvt, received 'trades'/);
    expect(await usageError(['--config', 'x.json'])).toMatch(/the command comes first/);
    expect(await usageError(['run', 'extra'])).toMatch(/unexpected argument 'extra'/);
    expect(await usageError(['run', '--config'])).toBe("medrobust run: option '--config' needs a value");
    expect(await usageError(['run', '--quiet=yes'])).toBe("medrobust run: option '--quiet' takes no value");
    expect(await usageError(['run', '--fresh', '--redo-changed'])).toMatch(/exclude each other/);
  });

  it('a missing or malformed config names the file and the line and column', async () => {
    const missing = join(root, 'missing.json');
    expect(await usageError(['run', '--config', missing])).toBe(`medrobust run: config file ${missing} not found`);
    const bad = file('bad.json', '{\n  "model": { "epochs": }\n}\n');
    expect(await usageError(['run', '--config', bad])).toBe(`medrobust run: ${bad}:2:24: invalid JSON: expected a value (an object, array, string, number, true, false or null), found '}'`);
  });

  it('bad values name the file, line and column and the JSON path', async () => {
    const cfg = file('values.json', '{\n  "model": { "epochs": 2.5 }\n}\n');
    expect(await usageError(['run', '--config', cfg])).toBe(`medrobust run: ${cfg}:2:24: model.epochs must be a finite integer >= 1, received 2.5`);
    const gap = file('gap.json', '{ "attacks": { "gapMagnitudes": [8, 300] } }');
    expect(await usageError(['run', '--config', gap])).toBe(`medrobust run: ${gap}:1:37: attacks.gapMagnitudes[1] must be a finite number > 0 and <= 255, received 300`);
    const typo = file('typo.json', '{ "atacks": {} }');
    expect(await usageError(['run', '--config', typo])).toMatch(new RegExp(`^medrobust run: ${typo}:1:13: atacks must be one of the known options .*did you mean 'attacks'\\?`));
    const backend = file('backend.json', '{ "backend": "gpu" }');
    const line = await usageError(['run', '--config', backend]);
    expect(line).toBe(`medrobust run: ${backend}:1:14: backend must be one of 'auto', 'wasm', 'cpu', 'node', 'node-gpu', received "gpu"`);
    expect(line).not.toMatch(/array/);
    const arr = file('array.json', '[1, 2]');
    expect(await usageError(['run', '--config', arr])).toBe(`medrobust run: ${arr}:1:1: the config must be a JSON object, received an array of length 2 [1, 2]`);
  });

  it('bad --backend and --name values', async () => {
    expect(await usageError(['demo', '--backend', 'wsam'])).toBe("medrobust demo: --backend must be one of auto, wasm, cpu, node, node-gpu, received 'wsam'; did you mean 'wasm'?");
    expect(await usageError(['demo', '--name', '../up'])).toMatch(/--name must be a folder-safe name/);
  });

  it('a MedMNIST file that does not exist is reported before training', async () => {
    const cfg = file('medmnist.json', '{ "tasks": ["lesion"], "data": { "medmnist": { "lesion": "nowhere/derma.npz" } } }');
    const start = Date.now();
    expect(await usageError(['run', '--config', cfg, '--out', root])).toBe(`medrobust run: ${cfg}:1:58: data.medmnist.lesion must be the path of an existing MedMNIST .npz file, received "nowhere/derma.npz", which does not exist`);
    expect(Date.now() - start).toBeLessThan(5000);
  });
});
