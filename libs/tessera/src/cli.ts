/**
 * `npx tessera codegen --backend js --op sigmoid --dtype float32 [--rank 2] [--inner-rank 1]`
 * prints the kernel a backend's emitter generates from the op specs.
 */
import { parseArgs } from 'node:util';
import { type DType, codegen, emitterNames, ops } from './index.js';

const USAGE = `usage: tessera codegen --backend <${emitterNames().join('|')}> --op <name> --dtype <dtype> [--rank N] [--inner-rank N]`;

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  if (command !== 'codegen') {
    console.error(USAGE);
    return command === undefined || command === '--help' ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: { backend: { type: 'string', default: 'js' }, op: { type: 'string' }, dtype: { type: 'string', default: 'float32' }, rank: { type: 'string' }, 'inner-rank': { type: 'string' } },
  });
  if (!values.op || !ops.isDType(values.dtype)) {
    console.error(`${USAGE}\ndtypes: ${ops.ALL_DTYPES.join(', ')}`);
    return 2;
  }
  try {
    const src = codegen({ backend: values.backend!, op: values.op, dtype: values.dtype as DType, rank: Number(values.rank ?? 1), innerRank: Number(values['inner-rank'] ?? 1) });
    console.log(`// ${values.op} (${values.dtype}) for backend ${values.backend}, generated from the op spec\n${src}`);
    return 0;
  } catch (e) {
    console.error(String(e));
    return 2;
  }
}

process.exitCode = main(process.argv.slice(2));
