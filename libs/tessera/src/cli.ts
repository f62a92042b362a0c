/**
 * `npx tessera codegen --backend js --op sigmoid --dtype float32 [--rank 2] [--inner-rank 1]`
 * prints the kernel a backend's emitter generates from the op specs;
 * `npx tessera codegen --compile <module>:<export> [--backend B]` runs the exported function (no
 * arguments: a training step, say) compiled once and prints the kernels it runs as, with each fused
 * kernel's source for every backend (or backend B).
 * `npx tessera serve [--port N] [--export dir/]` runs the dashboard and its API, which live in the
 * optional package @tessera/bench-dashboard (loaded only for this command).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type CompiledKernel, type DType, codegen, compiledKernels, emitterNames, ops } from './index.js';

const USAGE = `usage: tessera codegen --backend <${emitterNames().join('|')}> --op <name> --dtype <dtype> [--rank N] [--inner-rank N]
       tessera codegen --compile <module>:<export> [--backend <name>]
       tessera serve [--port N] [--host H] [--export DIR]   (the dashboard and its kernel API; --help for more)`;

/** The server is an app of its own; a tessera installed without it says what to install. */
const SERVER_PACKAGE = '@tessera/bench-dashboard';

async function serve(argv: string[]): Promise<number> {
  let server: { main(argv: readonly string[]): Promise<number> };
  try {
    server = (await import(`${SERVER_PACKAGE}/server`)) as typeof server;
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND' || !String((e as Error).message).includes(SERVER_PACKAGE)) throw e;
    console.error(`tessera serve needs the package ${SERVER_PACKAGE} (apps/bench-dashboard in the Tessera repository), which is not installed here: ${(e as Error).message}`);
    return 2;
  }
  return server.main(argv);
}

/** Prints what `spec` (module:export, the export a function of no arguments) compiles to. */
async function compiled(spec: string, backend: string | undefined): Promise<number> {
  const at = spec.lastIndexOf(':');
  if (at <= 0) { console.error(`--compile takes <module>:<export>, got '${spec}'\n${USAGE}`); return 2; }
  const mod = (await import(pathToFileURL(path.resolve(spec.slice(0, at))).href)) as Record<string, unknown>;
  const fn = mod[spec.slice(at + 1)];
  if (typeof fn !== 'function') { console.error(`${spec}: not a function (exports: ${Object.keys(mod).join(', ')})`); return 2; }
  const programs = compiledKernels(fn as () => unknown);
  programs.forEach((kernels, p) => {
    console.log(`// program ${p + 1} of ${programs.length}: ${kernels.length} kernels${p < programs.length - 1 ? ' (a graph break follows)' : ''}`);
    const print = (k: CompiledKernel, title: string) => {
      console.log(`// ${title}: ${k.kind} ${k.name}${k.shape ? ` over [${k.shape.join(', ')}], ${k.ops} ops` : ''}`);
      for (const [name, src] of Object.entries(k.source ?? {})) if (!backend || name === backend) console.log(`// -- ${name}\n${src}`);
    };
    kernels.forEach((k, i) => {
      print(k, `kernel ${i + 1}`);
      if (k.epilogue) print(k.epilogue, `kernel ${i + 1}'s epilogue (run by the ${k.name} over its result, in its launch)`);
    });
  });
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'serve') return serve(rest);
  if (command !== 'codegen') {
    console.error(USAGE);
    return command === undefined || command === '--help' ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: { backend: { type: 'string' }, op: { type: 'string' }, dtype: { type: 'string', default: 'float32' }, rank: { type: 'string' }, 'inner-rank': { type: 'string' }, compile: { type: 'string' } },
  });
  if (values.compile) return compiled(values.compile, values.backend);
  if (!values.op || !ops.isDType(values.dtype)) {
    console.error(`${USAGE}\ndtypes: ${ops.ALL_DTYPES.join(', ')}`);
    return 2;
  }
  try {
    const src = codegen({ backend: values.backend ?? 'js', op: values.op, dtype: values.dtype as DType, rank: Number(values.rank ?? 1), innerRank: Number(values['inner-rank'] ?? 1) });
    console.log(`// ${values.op} (${values.dtype}) for backend ${values.backend ?? 'js'}, generated from the op spec\n${src}`);
    return 0;
  } catch (e) {
    console.error(String(e));
    return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
