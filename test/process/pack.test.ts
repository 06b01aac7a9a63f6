/**
 * The published package: `npm pack` from a fresh clone (the tracked files only, no dist/) builds
 * through `prepack` and ships the bundles, the type declarations and the `medrobust` command; and the
 * committed package-lock.json matches package.json, so `npm install` leaves it unchanged.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repo } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'medrobust-pack-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));

describe('npm pack', () => {
  it('from a fresh clone, prepack builds dist/ and the tarball holds the bundles, the d.ts files and the command', (ctx) => {
    const git = spawnSync('git', ['ls-files', '-z'], { cwd: repo, encoding: 'utf8' });
    if (git.status !== 0) ctx.skip('not a git checkout');
    const clone = join(root, 'clone');
    for (const file of git.stdout.split('\0').filter(Boolean)) {
      mkdirSync(join(clone, dirname(file)), { recursive: true });
      cpSync(join(repo, file), join(clone, file));
    }
    symlinkSync(join(repo, 'node_modules'), join(clone, 'node_modules'));
    const pack = spawnSync('npm', ['pack', '--dry-run', '--json'], { cwd: clone, encoding: 'utf8', timeout: 300_000 });
    expect(pack.status, pack.stderr).toBe(0);
    expect(pack.stderr).toMatch(/prepack/);
    const files: string[] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')))[0].files.map((f: { path: string }) => f.path);
    for (const f of ['package.json', 'README.md', 'docs/guides/cli.md', 'dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts',
      'dist/backend/index.js', 'dist/backend/index.d.ts', 'dist/node/index.js', 'dist/node/index.d.ts', 'dist/cli/bin.js']) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('node_modules/'))).toEqual([]);
    // Every export and the bin point into the tarball.
    const targets = [pkg.main, pkg.module, pkg.types, pkg.bin.medrobust, ...Object.values(pkg.exports as Record<string, unknown>).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e as Record<string, Record<string, string>>).flatMap((v) => Object.values(v))))];
    for (const t of targets) if (t !== './package.json') expect(files, t).toContain(t.replace(/^\.\//, ''));
    // The command runs from the built file: a shebang, and the version read from package.json.
    const binFile = join(clone, 'dist', 'cli', 'bin.js');
    expect(readFileSync(binFile, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const version = spawnSync(process.execPath, [binFile, '--version'], { encoding: 'utf8' });
    expect(version.stdout).toBe(`${pkg.version}\n`);
  }, 300_000);
});

describe('package-lock.json', () => {
  it('records exactly the dependencies, bin and engines of package.json (npm install would rewrite it otherwise)', () => {
    const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8'));
    const rootEntry = lock.packages[''];
    expect(lock.name).toBe(pkg.name);
    expect(rootEntry.version).toBe(pkg.version);
    for (const field of ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies', 'peerDependenciesMeta', 'engines']) {
      expect(rootEntry[field], field).toEqual(pkg[field]);
    }
    const bin = Object.fromEntries(Object.entries(pkg.bin as Record<string, string>).map(([k, v]) => [k, v.replace(/^\.\//, '')]));
    expect(rootEntry.bin).toEqual(bin);
    // Every dependency of package.json is locked.
    for (const name of Object.keys({ ...pkg.dependencies, ...pkg.devDependencies, ...pkg.optionalDependencies })) expect(lock.packages[`node_modules/${name}`], name).toBeDefined();
  });
});
