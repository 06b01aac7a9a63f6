/**
 * Kill -9 fault test for every defense (issue 15): a child process trains advTrain, mpAdvTrain,
 * maAdvTrain and trades, each with SGD and with Adam (Adam on micro-batches of 4), saving a file
 * checkpoint after every batch; the test kills it with SIGKILL at random points (a seeded batch of
 * each run, plus a random delay of 0-20 ms, so kills also land inside steps and saves) and starts it
 * again until every run is done. Each run must end with exactly the weights of an uninterrupted run.
 * Default: a tiny MLP, 3 epochs, one kill per run. MEDROBUST_SLOW=1: the small CNN, 5 epochs, three
 * kills per run. MEDROBUST_FAULT_SEED picks other kill points.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../src/internal/random.js';
import { useTestBackend } from '../helpers/backends.js';
import { faultPlan, trainCombo } from './fixtures/faultPlan.js';

const SLOW = process.env.MEDROBUST_SLOW === '1';
const SEED = Number(process.env.MEDROBUST_FAULT_SEED ?? 2024);
const script = fileURLToPath(new URL('./fixtures/faultChild.ts', import.meta.url));
// `node --import tsx`: one process (the tsx CLI would run the script in a grandchild that survives the kill).
const root = fileURLToPath(new URL('../../', import.meta.url));

interface Kill { readonly at: number; readonly delayMs: number }

/** Runs the child until it exits 0, killing it at each planned point; returns what it reported. */
async function runWithKills(dir: string, kills: Map<string, Kill[]>, perEpoch: number): Promise<{ processes: number; killed: string[]; resumed: Map<string, { epoch: number; batch: number }> }> {
  const resumed = new Map<string, { epoch: number; batch: number }>();
  const killed: string[] = [];
  const pending = new Map([...kills].map(([id, list]) => [id, [...list]]));
  for (let processes = 1; processes <= 64; processes++) {
    const child = spawn(process.execPath, ['--import', 'tsx', script, dir, SLOW ? 'slow' : 'fast'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.on('error', () => undefined); // the go-ahead may hit a child that was just killed
    let stderr = '';
    let rest = '';
    let killing = false;
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.stdout.on('data', (chunk: Buffer) => {
      rest += chunk.toString();
      const lines = rest.split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        const [what, id, a, b] = line.split(' ');
        if (what === 'resumed') resumed.set(id!, { epoch: Number(a), batch: Number(b) });
        if (what !== 'batch' || killing) continue;
        child.stdin.write('g'); // the child waits for this after every batch
        const next = pending.get(id!)?.[0];
        const done = Number(a) * perEpoch + Number(b);
        if (next === undefined || done < next.at) continue;
        pending.get(id!)!.shift();
        killing = true;
        killed.push(`${id}@${done}+${next.delayMs}ms`);
        setTimeout(() => child.kill('SIGKILL'), next.delayMs);
      }
    });
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    if (exit.signal === 'SIGKILL') continue;
    if (exit.code !== 0) throw new Error(`the training child failed (exit ${exit.code}): ${stderr.slice(-2000)}`);
    return { processes, killed, resumed };
  }
  throw new Error('the training child did not finish within 64 starts');
}

describe('kill -9 and resume, every defense, SGD and Adam (cpu)', () => {
  const plan = faultPlan(SLOW);
  const total = plan.epochs * plan.batchesPerEpoch;
  let dir: string;
  beforeAll(async () => {
    await useTestBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'medrobust-faults-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ends every run bit for bit with the weights of an uninterrupted run', async () => {
    const rng = createRng(SEED);
    const kills = new Map<string, Kill[]>();
    for (const combo of plan.combos) {
      // Kill points: distinct batches of the run before its last, ascending. The child waits for the
      // test after each batch, so the kill (0-20 ms after the go-ahead) lands in the next step or save.
      const points = new Set<number>();
      while (points.size < Math.min(SLOW ? 3 : 1, total - 1)) points.add(rng.nextInt(1, total - 1));
      kills.set(combo.id, [...points].sort((a, b) => a - b).map((at) => ({ at, delayMs: rng.nextInt(0, 20) })));
    }
    const outcome = await runWithKills(dir, kills, plan.batchesPerEpoch);
    const context = `seed ${SEED}, kills ${outcome.killed.join(', ')}`;
    expect(outcome.killed.length, context).toBeGreaterThanOrEqual(plan.combos.length);
    for (const combo of plan.combos) {
      const reference = await trainCombo(plan, combo);
      const bytes = readFileSync(join(dir, `${combo.id}.weights`));
      const resumed = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      expect(resumed.length, combo.id).toBe(reference.length);
      let differing = 0;
      for (let i = 0; i < reference.length; i++) if (!Object.is(resumed[i], reference[i])) differing++;
      expect(differing, `${combo.id}: weights differing from the uninterrupted run (${context})`).toBe(0);
      // The run that finished it resumed from a checkpoint made after a kill.
      expect(outcome.resumed.get(combo.id), `${combo.id} resumed (${context})`).toBeDefined();
    }
  }, SLOW ? 900_000 : 300_000);
});
