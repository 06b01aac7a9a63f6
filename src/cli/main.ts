/**
 * The `medrobust` command. `medrobust demo` runs the whole experiment on generated data;
 * `medrobust run --config cfg.json` runs a configured one; `train`, `attack`, `analyze` and `defend`
 * run the clean training plus that stage; `reproduce` runs one of the paper's experiments.
 *
 * Mistakes in the call (unknown options, a missing or malformed config, bad values) print one line,
 * without a stack trace, and exit with code 2; a failed run exits 1; Ctrl-C saves what is finished
 * and exits 130 (a second Ctrl-C exits at once); rerunning resumes.
 * @internal
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AbortError, InvalidArgumentError, MedrobustError } from '../errors.js';
import { closest, commandHelp, COMMANDS, mainHelp, type CommandSpec } from './commands.js';
import { BACKENDS, DEMO_CONFIG, QUICK_DEMO_CONFIG, resolveConfig, type ExperimentConfig } from './config.js';
import { locate, readConfigFile, type ConfigFile } from './configFile.js';
import { runExperiment } from './experiment.js';
import { PAPER_EXPERIMENTS, runPaperExperiment } from './paper/index.js';
import type { ChangedConfigPolicy } from './runState.js';
import { UsageError } from './usageError.js';

/** The version in package.json (two folders up from both src/cli/main.ts and dist/cli/bin.js). */
export function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** parseArgs with the command's options; its errors become one-line UsageErrors with a suggestion. */
function parse(command: string, spec: CommandSpec, args: readonly string[]) {
  const options = Object.fromEntries(Object.entries(spec.options).map(([name, o]) => [name, { type: o.type, ...(o.short ? { short: o.short } : {}) }]));
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw parseError(command, spec, err);
  }
}

function parseError(command: string, spec: CommandSpec, err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  if (!(e instanceof TypeError) || !e.code?.startsWith('ERR_PARSE_ARGS')) return err;
  const unknown = /Unknown option '(-{1,2})([^']+)'/.exec(e.message);
  if (unknown) {
    const suggestion = closest(unknown[2]!, Object.keys(spec.options));
    return new UsageError(`unknown option '${unknown[1]}${unknown[2]}'${suggestion ? `; did you mean '--${suggestion}'?` : ''} (medrobust ${command} --help lists the options)`);
  }
  const missing = /Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(e.message);
  if (missing) return new UsageError(`option '${missing[1]}' needs a value`);
  const flag = /Option '(?:-\w, )?(--[\w-]+)' does not take an argument/.exec(e.message);
  if (flag) return new UsageError(`option '${flag[1]}' takes no value`);
  return new UsageError(e.message.split('. ')[0]!.replace(/\.$/, ''));
}

/** A config error as a one-line UsageError with the file, line and column of the value when known. */
function configError(err: unknown, file: ConfigFile | undefined): unknown {
  if (!(err instanceof InvalidArgumentError) || err.fn !== 'config') return err;
  const path = err.argument.replace(/^config\.?/, '');
  const where = file ? `${locate(file, path)}: ` : '';
  return new UsageError(`${where}${path || 'the config'} must be ${err.expected}, received ${err.received}`);
}

/** The run's config: the demo's (or the quick demo's), the config file's fields, then --name and --backend. */
function loadConfig(values: Record<string, unknown>, command: string): { config: ExperimentConfig; file: ConfigFile | undefined } {
  const base = command === 'demo' && values.quick ? QUICK_DEMO_CONFIG : DEMO_CONFIG;
  const file: ConfigFile | undefined = typeof values.config === 'string' ? readConfigFile(values.config) : undefined;
  let config: ExperimentConfig;
  try {
    config = resolveConfig(file ? file.value : {}, base);
  } catch (err) {
    throw configError(err, file);
  }
  if (values.name !== undefined) {
    const name = String(values.name);
    if (!/^[\w.-]+$/.test(name) || /^\.+$/.test(name)) throw new UsageError(`--name must be a folder-safe name (letters, digits, . _ -), received '${name}'`);
    config.name = name;
  }
  if (values.backend !== undefined) {
    const backend = String(values.backend);
    if (!(BACKENDS as readonly string[]).includes(backend)) {
      const suggestion = closest(backend, BACKENDS);
      throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, received '${backend}'${suggestion ? `; did you mean '${suggestion}'?` : ''}`);
    }
    config.backend = backend as ExperimentConfig['backend'];
  }
  return { config, file };
}

async function runCommand(command: string, spec: CommandSpec, args: readonly string[]): Promise<number> {
  const { values, positionals } = parse(command, spec, args);
  if (values.help) {
    process.stdout.write(`${commandHelp(command)}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (medrobust ${command} --help lists the options)`);
  if (values.fresh && values['redo-changed']) throw new UsageError('--fresh and --redo-changed exclude each other');
  const { config, file } = loadConfig(values, command);
  const policy: ChangedConfigPolicy = values.fresh ? 'fresh' : values['redo-changed'] ? 'redo-changed' : 'refuse';
  return withInterrupt(async (signal) => {
    try {
      const report = await runExperiment(config, { out: String(values.out ?? 'runs'), signal, quiet: Boolean(values.quiet), stages: spec.stages, onChangedConfig: policy });
      process.stdout.write(`report: ${report}\n`);
      return 0;
    } catch (err) {
      throw configError(err, file);
    }
  });
}

/**
 * Runs `body` with the run's AbortSignal: the first Ctrl-C aborts it (attacks stop between two steps,
 * training between two batches, with a checkpoint), a second one exits at once with code 130.
 */
async function withInterrupt(body: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) {
      process.stderr.write('\nmedrobust: interrupted again: exiting now; the last saved checkpoint is kept.\n');
      process.exit(130);
    }
    process.stderr.write('\nmedrobust: interrupted: saving a checkpoint at the next batch (Ctrl-C again to exit at once); rerun the same command to resume.\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await body(controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

async function dispatch(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    process.stderr.write(`${mainHelp()}\n`);
    return 2;
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (first === '--help' || first === '-h') {
    process.stdout.write(`${mainHelp()}\n`);
    return 0;
  }
  if (first.startsWith('-')) throw new UsageError(`the command comes first (${Object.keys(COMMANDS).join(', ')}), received '${first}'; see medrobust --help`);
  const spec = COMMANDS[first];
  if (!spec) {
    const suggestion = closest(first, Object.keys(COMMANDS));
    throw new UsageError(`unknown command '${first}'${suggestion ? `; did you mean '${suggestion}'?` : ''} (medrobust --help lists the commands)`);
  }
  if (first === 'help') {
    const topic = rest[0];
    if (topic === '--help' || topic === '-h') process.stdout.write(`${commandHelp(first)}\n`);
    else if (topic === undefined) process.stdout.write(`${mainHelp()}\n`);
    else if (COMMANDS[topic]) process.stdout.write(`${commandHelp(topic)}\n`);
    else throw new UsageError(`unknown command '${topic}' (medrobust --help lists the commands)`);
    return 0;
  }
  if (first === 'benchmark') {
    const { values, positionals } = parse(first, spec, rest);
    if (values.help) process.stdout.write(`${commandHelp(first)}\n`);
    else if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    else process.stdout.write('Benchmarks are timed apart from the library: run `npm run bench` in a clone of medrobust; figures go to BENCHMARKS.md.\n');
    return 0;
  }
  if (first === 'reproduce') {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`${commandHelp(first)}\n`);
      return 0;
    }
    const experiment = PAPER_EXPERIMENTS[rest[0] ?? ''];
    if (!experiment) {
      const suggestion = rest[0] ? closest(rest[0], Object.keys(PAPER_EXPERIMENTS)) : undefined;
      throw new UsageError(`experiment must be one of ${Object.keys(PAPER_EXPERIMENTS).join(', ')}, received ${rest[0] ?? 'nothing'}${suggestion ? `; did you mean '${suggestion}'?` : ''}`);
    }
    try {
      return await withInterrupt((signal) => runPaperExperiment(experiment, rest.slice(1), signal));
    } catch (err) {
      throw parseError(first, spec, err);
    }
  }
  return runCommand(first, spec, rest);
}

/**
 * Runs the command line `argv` (without `node` and the script); returns the exit code. Errors are
 * printed here as one line (`medrobust <command>: message`); set MEDROBUST_DEBUG=1 for stack traces.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const command = argv[0] && COMMANDS[argv[0]] ? argv[0] : undefined;
  const prefix = `medrobust${command ? ` ${command}` : ''}`;
  try {
    return await dispatch(argv);
  } catch (err) {
    if (err instanceof AbortError) {
      process.stderr.write(`${prefix}: stopped; finished stages and the checkpoint are saved: rerun the same command to resume.\n`);
      return 130;
    }
    const debug = process.env.MEDROBUST_DEBUG ? `\n${(err as Error).stack ?? ''}` : '';
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    if (err instanceof UsageError) {
      process.stderr.write(`${prefix}: ${message}${debug}\n`);
      return 2;
    }
    if (err instanceof MedrobustError) {
      process.stderr.write(`${prefix}: ${message}${debug}\n`);
      return 1;
    }
    process.stderr.write(`${prefix}: unexpected error: ${message}${debug || ' (set MEDROBUST_DEBUG=1 for the stack trace)'}\n`);
    return 1;
  }
}
