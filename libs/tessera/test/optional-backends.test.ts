/**
 * The opt-in backends as the umbrella sees them inside the monorepo, where both packages are
 * installed: imported on load (their emitters registered, as before they became optional), their
 * options restated in tessera identical to the packages' own (a type error here otherwise).
 */
import type { WebGPUOptions as WgslOptions } from '@tessera/kernels-wgsl';
import type { GpuJsOptions as GpuJsPackageOptions } from '@tessera/kernels-gpujs';
import * as tsr from 'tessera';
import { expect, it } from 'vitest';

// Compile-time checks (npm test's tsc): a mismatch fails the type check of this file.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Holds<T extends true> = T;
export type OptionsRestatedExactly = [
  Holds<Same<tsr.WebGPUOptions, WgslOptions>>,
  Holds<Same<tsr.GpuJsOptions, GpuJsPackageOptions>>,
];

it('imports the installed opt-in packages on load, so their emitters are there without a device', () => {
  expect(tsr.emitterNames()).toEqual(expect.arrayContaining(['webgpu', 'gpujs']));
});
