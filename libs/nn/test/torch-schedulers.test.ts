/**
 * Learning-rate schedulers against Debian's torch (python3-torch): the rate (and, for OneCycleLR,
 * the momentum) after each step of an SGD optimizer, for the same arguments.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as tsr from 'tessera';
import { PYTHON, skipWithoutTorch } from './torch.js';

const { nn } = tsr;
const STEPS = 12;
const METRICS = [5, 4, 4.5, 4.2, 4.3, 4.4, 3.0, 3.1, 3.2, 3.3, 3.25, 3.4];

const TORCH = `
import json, math, torch
def run(make, metric=False, adam=False):
    p = [torch.nn.Parameter(torch.ones(1))]
    opt = torch.optim.Adam(p, lr=0.1) if adam else torch.optim.SGD(p, lr=0.1, momentum=0.9)
    s = make(opt)
    out = []
    for i in range(${STEPS}):
        g = opt.param_groups[0]
        out.append([g['lr'], g['betas'][0] if adam else g['momentum']])
        opt.step()
        s.step(${JSON.stringify(METRICS)}[i]) if metric else s.step()
    return out
S = torch.optim.lr_scheduler
print(json.dumps({
  'lambda': run(lambda o: S.LambdaLR(o, lambda e: 1 / (1 + e))),
  'multistep': run(lambda o: S.MultiStepLR(o, [2, 5, 9], 0.5)),
  'exponential': run(lambda o: S.ExponentialLR(o, 0.8)),
  'step': run(lambda o: S.StepLR(o, 3, 0.5)),
  'cosinePastTMax': run(lambda o: S.CosineAnnealingLR(o, 5, eta_min=0.01)),
  'linear': run(lambda o: S.LinearLR(o, 0.25, 1.0, 4)),
  'onecycle': run(lambda o: S.OneCycleLR(o, 1.0, total_steps=${STEPS})),
  'onecycleLinear3': run(lambda o: S.OneCycleLR(o, 0.5, total_steps=${STEPS + 2}, anneal_strategy='linear', three_phase=True, pct_start=0.25)),
  'onecycleAdam': run(lambda o: S.OneCycleLR(o, 1.0, total_steps=${STEPS}, div_factor=10, final_div_factor=100), adam=True),
  'plateau': run(lambda o: S.ReduceLROnPlateau(o, patience=1, factor=0.5, cooldown=1, min_lr=0.02), metric=True),
  'plateauMaxAbs': run(lambda o: S.ReduceLROnPlateau(o, mode='max', threshold=0.05, threshold_mode='abs', patience=0), metric=True),
}))
`;

type Opt = tsr.nn.Optimizer<object>;
function run(make: (o: Opt) => { step(metric?: number): void }, adam = false): number[][] {
  const p = [tsr.ones([1]).requiresGrad_()];
  const opt = (adam ? new nn.Adam(p, { lr: 0.1 }) : new nn.SGD(p, { lr: 0.1, momentum: 0.9 })) as unknown as Opt;
  const s = make(opt);
  const out: number[][] = [];
  for (let i = 0; i < STEPS; i++) {
    const g = opt.paramGroups[0]! as { lr: number; momentum?: number; betas?: number[] };
    out.push([g.lr, adam ? g.betas![0]! : g.momentum!]);
    s.step(METRICS[i]);
  }
  return out;
}

describe.skipIf(skipWithoutTorch())('schedulers match PyTorch (python3-torch)', () => {
  const want = JSON.parse(execFileSync(PYTHON, ['-c', TORCH], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as Record<string, number[][]>;
  const ours: Record<string, number[][]> = {
    lambda: run((o) => new nn.LambdaLR(o, (e) => 1 / (1 + e))),
    multistep: run((o) => new nn.MultiStepLR(o, [2, 5, 9], 0.5)),
    exponential: run((o) => new nn.ExponentialLR(o, 0.8)),
    step: run((o) => new nn.StepLR(o, 3, 0.5)),
    cosinePastTMax: run((o) => new nn.CosineAnnealingLR(o, 5, 0.01)),
    linear: run((o) => new nn.LinearLR(o, 0.25, 1, 4)),
    onecycle: run((o) => new nn.OneCycleLR(o, 1, { totalSteps: STEPS })),
    onecycleLinear3: run((o) => new nn.OneCycleLR(o, 0.5, { totalSteps: STEPS + 2, annealStrategy: 'linear', threePhase: true, pctStart: 0.25 })),
    onecycleAdam: run((o) => new nn.OneCycleLR(o, 1, { totalSteps: STEPS, divFactor: 10, finalDivFactor: 100 }), true),
    plateau: run((o) => new nn.ReduceLROnPlateau(o, { patience: 1, factor: 0.5, cooldown: 1, minLr: 0.02 })),
    plateauMaxAbs: run((o) => new nn.ReduceLROnPlateau(o, { mode: 'max', threshold: 0.05, thresholdMode: 'abs', patience: 0 })),
  };
  for (const [name, got] of Object.entries(ours)) {
    it(`${name}: the rates (and momenta) torch sets, step by step`, () => {
      expect(got.length).toBe(want[name]!.length);
      got.forEach((row, i) => row.forEach((v, j) => {
        const w = want[name]![i]![j]!;
        expect(Math.abs(v - w) <= 1e-12 * Math.max(1, Math.abs(w)), `${name} step ${i} ${j ? 'momentum' : 'lr'}: ${v} vs torch ${w}`).toBe(true);
      }));
    });
  }

  it('OneCycleLR refuses a step past totalSteps and an optimizer with no momentum to cycle, as torch', () => {
    const p = [tsr.ones([1]).requiresGrad_()];
    const s = new nn.OneCycleLR(new nn.SGD(p, { lr: 0.1, momentum: 0.9 }), 1, { totalSteps: 2 });
    s.step(); s.step();
    expect(() => s.step()).toThrow(tsr.ArgumentError);
    expect(() => new nn.OneCycleLR({ paramGroups: [{ lr: 0.1 }] }, 1, { totalSteps: 2 })).toThrow(tsr.ArgumentError);
    expect(() => new nn.ReduceLROnPlateau(new nn.SGD(p, { lr: 0.1 }), { factor: 1 })).toThrow(tsr.ArgumentError);
  });
});
