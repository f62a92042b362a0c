/**
 * The coverage table of the torch names a PyTorch user porting a script reaches for: those the four
 * ports' upstream scripts call (nanoGPT's model.py and train.py, pytorch/examples' mnist, vae and
 * word_language_model) and the list of issue 21. Each is looked up in Tessera as the porting
 * convention spells it (torch -> tsr, snake_case -> camelCase); the table says whether it is there.
 * `npx tsx examples/ports/coverage.ts` writes examples/ports/COVERAGE.md; a test checks the file is
 * what this generates.
 */
import { writeFileSync } from 'node:fs';
import * as tsr from 'tessera';

type Where = 'torch' | 'Tensor' | 'F' | 'nn' | 'optim' | 'init';
/** [torch spelling, where Tessera has it, Tessera name, scripts that use it ('' = the issue's list)] */
type Row = readonly [string, Where, string, string];

const NANOGPT = 'nanoGPT', MNIST = 'mnist', VAE = 'vae', WLM = 'word_language_model';
const ROWS: readonly Row[] = [
  // tensor functions
  ['torch.arange', 'torch', 'arange', NANOGPT], ['torch.cat', 'torch', 'cat', `${NANOGPT} ${VAE}`], ['torch.stack', 'torch', 'stack', NANOGPT],
  ['torch.tril', 'torch', 'tril', NANOGPT], ['torch.ones', 'torch', 'ones', NANOGPT], ['torch.zeros', 'torch', 'zeros', `${NANOGPT} ${WLM}`],
  ['torch.randint', 'torch', 'randint', NANOGPT], ['torch.randn', 'torch', 'randn', VAE], ['torch.randn_like', 'torch', 'randnLike', VAE],
  ['torch.topk', 'torch', 'topk', NANOGPT], ['torch.multinomial', 'torch', 'multinomial', NANOGPT], ['torch.flatten', 'torch', 'flatten', MNIST],
  ['torch.exp', 'torch', 'exp', VAE], ['torch.sigmoid', 'torch', 'sigmoid', VAE], ['torch.sum', 'torch', 'sum', VAE],
  ['torch.manual_seed', 'torch', 'manualSeed', `${NANOGPT} ${MNIST} ${VAE} ${WLM}`], ['torch.no_grad', 'torch', 'noGrad', `${NANOGPT} ${MNIST} ${VAE} ${WLM}`],
  ['torch.save', 'torch', 'save', `${NANOGPT} ${MNIST} ${WLM}`], ['torch.load', 'torch', 'load', `${NANOGPT} ${WLM}`], ['torch.compile', 'torch', 'compile', NANOGPT],
  ['torch.mm', 'torch', 'mm', ''], ['torch.bmm', 'torch', 'bmm', ''], ['torch.addmm', 'torch', 'addmm', ''], ['torch.einsum', 'torch', 'einsum', ''],
  ['torch.sort', 'torch', 'sort', ''], ['torch.argsort', 'torch', 'argsort', ''], ['torch.split', 'torch', 'split', ''], ['torch.chunk', 'torch', 'chunk', ''],
  ['torch.unbind', 'torch', 'unbind', ''], ['torch.roll', 'torch', 'roll', ''], ['torch.clamp', 'torch', 'clamp', ''], ['torch.nan_to_num', 'torch', 'nanToNum', ''],
  ['torch.isfinite', 'torch', 'isfinite', ''], ['torch.isinf', 'torch', 'isinf', ''], ['torch.any', 'torch', 'any', ''], ['torch.all', 'torch', 'all', ''],
  ['torch.outer', 'torch', 'outer', ''], ['torch.cumprod', 'torch', 'cumprod', ''], ['torch.repeat_interleave', 'torch', 'repeatInterleave', ''],
  // Tensor methods
  ['Tensor.view', 'Tensor', 'view', `${NANOGPT} ${VAE} ${WLM}`], ['Tensor.transpose', 'Tensor', 'transpose', NANOGPT], ['Tensor.contiguous', 'Tensor', 'contiguous', `${NANOGPT} ${WLM}`],
  ['Tensor.split', 'Tensor', 'split', NANOGPT], ['Tensor.size', 'Tensor', 'size', `${NANOGPT} ${VAE} ${WLM}`], ['Tensor.masked_fill', 'Tensor', 'maskedFill', NANOGPT],
  ['Tensor.__getitem__', 'Tensor', 'index', `${NANOGPT} ${VAE} ${WLM}`], ['Tensor.__setitem__', 'Tensor', 'indexPut_', NANOGPT], ['Tensor.dim', 'Tensor', 'dim', NANOGPT],
  ['Tensor.numel', 'Tensor', 'numel', NANOGPT], ['Tensor.item', 'Tensor', 'item', `${NANOGPT} ${MNIST} ${VAE} ${WLM}`], ['Tensor.to', 'Tensor', 'to', `${NANOGPT} ${MNIST} ${VAE} ${WLM}`],
  ['Tensor.backward', 'Tensor', 'backward', `${NANOGPT} ${MNIST} ${VAE} ${WLM}`], ['Tensor.argmax', 'Tensor', 'argmax', MNIST], ['Tensor.eq', 'Tensor', 'eq', MNIST],
  ['Tensor.view_as', 'Tensor', 'viewAs', MNIST], ['Tensor.pow', 'Tensor', 'pow', VAE], ['Tensor.exp', 'Tensor', 'exp', VAE], ['Tensor.detach', 'Tensor', 'detach', WLM],
  ['Tensor.narrow', 'Tensor', 'narrow', WLM], ['Tensor.t', 'Tensor', 't', WLM], ['Tensor.new_zeros', 'Tensor', 'newZeros', WLM], ['Tensor.add_', 'Tensor', 'add_', WLM],
  ['Tensor.mean', 'Tensor', 'mean', NANOGPT], ['Tensor.zero_', 'Tensor', 'zero_', ''], ['Tensor.expand_as', 'Tensor', 'expandAs', ''], ['Tensor.repeat', 'Tensor', 'repeat', ''],
  ['Tensor.addcmul_', 'Tensor', 'addcmul_', ''], ['Tensor.addcdiv_', 'Tensor', 'addcdiv_', ''], ['Tensor.max', 'Tensor', 'max', ''], ['Tensor.min', 'Tensor', 'min', ''],
  ['Tensor.sort', 'Tensor', 'sort', ''], ['Tensor.topk', 'Tensor', 'topk', ''], ['Tensor.unflatten', 'Tensor', 'unflatten', ''],
  // torch.nn.functional
  ['F.layer_norm', 'F', 'layerNorm', NANOGPT], ['F.scaled_dot_product_attention', 'F', 'scaledDotProductAttention', NANOGPT], ['F.softmax', 'F', 'softmax', NANOGPT],
  ['F.cross_entropy', 'F', 'crossEntropy', NANOGPT], ['F.relu', 'F', 'relu', `${MNIST} ${VAE}`], ['F.max_pool2d', 'F', 'maxPool2d', MNIST], ['F.log_softmax', 'F', 'logSoftmax', `${MNIST} ${WLM}`],
  ['F.nll_loss', 'F', 'nllLoss', MNIST], ['F.binary_cross_entropy', 'F', 'binaryCrossEntropy', VAE], ['F.gelu', 'F', 'gelu', ''], ['F.silu', 'F', 'silu', ''],
  ['F.linear', 'F', 'linear', ''], ['F.conv1d', 'F', 'conv1d', ''], ['F.conv2d', 'F', 'conv2d', ''], ['F.conv_transpose2d', 'F', 'convTranspose2d', ''], ['F.pad', 'F', 'pad', ''],
  ['F.interpolate', 'F', 'interpolate', ''], ['F.one_hot', 'F', 'oneHot', ''], ['F.normalize', 'F', 'normalize', ''], ['F.cosine_similarity', 'F', 'cosineSimilarity', ''],
  ['F.group_norm', 'F', 'groupNorm', ''], ['F.batch_norm', 'F', 'batchNorm', ''], ['F.smooth_l1_loss', 'F', 'smoothL1Loss', ''], ['F.kl_div', 'F', 'klDiv', ''],
  ['F.embedding', 'F', 'embedding', ''], ['F.dropout', 'F', 'dropout', ''], ['F.adaptive_avg_pool2d', 'F', 'adaptiveAvgPool2d', ''], ['F.leaky_relu', 'F', 'leakyRelu', ''],
  // torch.nn modules and utilities
  ['nn.Module', 'nn', 'Module', `${NANOGPT} ${MNIST} ${VAE} ${WLM}`], ['nn.Parameter', 'nn', 'parameter', NANOGPT], ['nn.Linear', 'nn', 'Linear', `${NANOGPT} ${MNIST} ${VAE} ${WLM}`],
  ['nn.Embedding', 'nn', 'Embedding', `${NANOGPT} ${WLM}`], ['nn.Dropout', 'nn', 'Dropout', `${NANOGPT} ${MNIST} ${WLM}`], ['nn.GELU', 'nn', 'GELU', NANOGPT],
  ['nn.ModuleDict', 'nn', 'ModuleDict', NANOGPT], ['nn.ModuleList', 'nn', 'ModuleList', NANOGPT], ['nn.Conv2d', 'nn', 'Conv2d', MNIST], ['nn.LSTM', 'nn', 'LSTM', WLM],
  ['nn.GRU', 'nn', 'GRU', WLM], ['nn.RNN', 'nn', 'RNN', WLM], ['nn.NLLLoss', 'nn', 'NLLLoss', WLM], ['nn.CrossEntropyLoss', 'nn', 'CrossEntropyLoss', ''],
  ['nn.utils.clip_grad_norm_', 'nn', 'clipGradNorm_', `${NANOGPT} ${WLM}`], ['nn.ParameterList', 'nn', 'ParameterList', ''], ['nn.ParameterDict', 'nn', 'ParameterDict', ''],
  ['nn.LSTMCell', 'nn', 'LSTMCell', ''], ['nn.GRUCell', 'nn', 'GRUCell', ''], ['nn.RNNCell', 'nn', 'RNNCell', ''], ['nn.Conv1d', 'nn', 'Conv1d', ''],
  ['nn.ConvTranspose2d', 'nn', 'ConvTranspose2d', ''], ['nn.GroupNorm', 'nn', 'GroupNorm', ''], ['nn.RMSNorm', 'nn', 'RMSNorm', ''], ['nn.AdaptiveAvgPool2d', 'nn', 'AdaptiveAvgPool2d', ''],
  ['nn.Upsample', 'nn', 'Upsample', ''], ['nn.TransformerEncoderLayer', 'nn', 'TransformerEncoderLayer', ''], ['nn.TransformerDecoderLayer', 'nn', 'TransformerDecoderLayer', ''],
  ['nn.Identity', 'nn', 'Identity', ''], ['nn.Unflatten', 'nn', 'Unflatten', ''], ['nn.DataLoader', 'nn', 'DataLoader', `${MNIST} ${VAE}`],
  ['Module.apply', 'nn', 'Module.prototype.apply', NANOGPT], ['Module.named_parameters', 'nn', 'Module.prototype.namedParameters', NANOGPT],
  ['Module.register_buffer', 'nn', 'Module.prototype.registerBuffer', NANOGPT], ['Module.state_dict', 'nn', 'Module.prototype.stateDict', `${NANOGPT} ${MNIST} ${WLM}`],
  ['Module.load_state_dict', 'nn', 'Module.prototype.loadStateDict', `${NANOGPT} ${WLM}`], ['Module.register_forward_hook', 'nn', 'Module.prototype.registerForwardHook', ''],
  ['Module.register_forward_pre_hook', 'nn', 'Module.prototype.registerForwardPreHook', ''], ['Module.named_modules', 'nn', 'Module.prototype.namedModules', ''],
  ['Module.named_buffers', 'nn', 'Module.prototype.namedBuffers', ''], ['Module.register_parameter', 'nn', 'Module.prototype.registerParameter', ''],
  ['nn.Transformer', 'nn', 'Transformer', WLM], ['nn.TransformerEncoder', 'nn', 'TransformerEncoder', WLM], ['nn.TransformerDecoder', 'nn', 'TransformerDecoder', ''],
  ['nn.MultiheadAttention', 'nn', 'MultiheadAttention', WLM], ['nn.RNNBase', 'nn', 'RNNBase', WLM], ['copy.deepcopy (a module)', 'nn', 'deepcopy', WLM],
  ['torch.triu', 'torch', 'triu', WLM], ['torch.sin', 'torch', 'sin', WLM], ['torch.cos', 'torch', 'cos', WLM], ['Tensor.masked_fill (float masks)', 'Tensor', 'maskedFill', WLM],
  // optimizers and schedulers
  ['optim.AdamW', 'optim', 'AdamW', NANOGPT], ['optim.Adadelta', 'optim', 'Adadelta', MNIST], ['optim.Adam', 'optim', 'Adam', VAE], ['optim.lr_scheduler.StepLR', 'optim', 'StepLR', MNIST],
  ['optim.Adagrad', 'optim', 'Adagrad', ''], ['optim.RMSprop', 'optim', 'RMSprop', ''], ['optim.Adamax', 'optim', 'Adamax', ''], ['optim.NAdam', 'optim', 'NAdam', ''], ['optim.RAdam', 'optim', 'RAdam', ''],
  ['Optimizer.add_param_group', 'optim', 'Optimizer.prototype.addParamGroup', ''], ['lr_scheduler.LambdaLR', 'optim', 'LambdaLR', ''], ['lr_scheduler.MultiStepLR', 'optim', 'MultiStepLR', ''],
  ['lr_scheduler.ExponentialLR', 'optim', 'ExponentialLR', ''], ['lr_scheduler.OneCycleLR', 'optim', 'OneCycleLR', ''], ['lr_scheduler.ReduceLROnPlateau', 'optim', 'ReduceLROnPlateau', ''],
  ['nn.init.normal_', 'init', 'normal_', NANOGPT], ['nn.init.zeros_', 'init', 'zeros_', `${NANOGPT} ${WLM}`], ['nn.init.uniform_', 'init', 'uniform_', WLM],
];

/** Whether Tessera has the name where the row says. */
function present(where: Where, name: string): boolean {
  const roots: Record<Where, unknown> = { torch: tsr, Tensor: tsr.Tensor.prototype, F: tsr.nn.functional, nn: tsr.nn, optim: tsr.nn, init: tsr.nn.init };
  const path = name.split('.');
  const owner = path.slice(0, -1).reduce<unknown>((o, k) => (o === undefined || o === null ? undefined : (o as Record<string, unknown>)[k]), roots[where]);
  // `in`, not a read: Tensor properties (numel) are getters on the prototype.
  return typeof owner === 'object' || typeof owner === 'function' ? owner !== null && path.at(-1)! in owner : false;
}

const spelled = (where: Where, name: string): string =>
  ({ torch: `tsr.${name}`, Tensor: `x.${name}`, F: `F.${name}`, nn: `nn.${name.replace('.prototype.', '#')}`, optim: `nn.${name.replace('.prototype.', '#')}`, init: `nn.init.${name}` })[where];

/** The table as Markdown. */
export function coverageTable(): string {
  const rows = ROWS.map(([t, where, name, used]) => ({ t, tessera: spelled(where, name), ok: present(where, name), used }));
  const have = rows.filter((r) => r.ok).length;
  const missing = rows.filter((r) => !r.ok).map((r) => `\`${r.t}\``);
  return [
    '# Coverage of the torch names ports use',
    '',
    'Generated by `npx tsx examples/ports/coverage.ts` (a test checks this file is current): the torch names that the four ports\' upstream',
    'scripts call, and the list of issue 21, each looked up in Tessera as the porting convention spells it.',
    '',
    'Where they run: every op spec and routine (sort, topk, multinomial and the convolution family included) passes the conformance',
    'suite on js, native, webgpu and gpujs in CI (`conformance/report/matrix.md`), in each dtype the device has, and its CUDA kernels',
    'compile with NVRTC (none has run on a GPU yet); composites run wherever their parts do. On devices whose reads are asynchronous,',
    'what needs values on the host for its result\'s shape (reading `x[mask]`, `oneHot` without `numClasses`, `repeatInterleave` with',
    'a tensor of counts) raises a typed error that names the way out.',
    '',
    `**${have} of ${rows.length} present.**${missing.length ? ` Missing: ${missing.join(', ')}.` : ''}`,
    '',
    '| torch | Tessera | present | used by |',
    '|---|---|---|---|',
    ...rows.map((r) => `| \`${r.t}\` | \`${r.tessera}\` | ${r.ok ? 'yes' : '**no**'} | ${r.used || '(issue 21\'s list)'} |`),
    '',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(new URL('./COVERAGE.md', import.meta.url), coverageTable());
  console.log(coverageTable().split('\n').find((l) => l.startsWith('**')));
}
