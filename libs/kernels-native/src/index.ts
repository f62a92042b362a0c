/**
 * Importing this package makes the native addon the implementation of device 'cpu' when it is built;
 * otherwise the pure-JS backend keeps serving and the reason is printed once.
 */
import { registerBackend } from '@tessera/tensor';
import { createNativeBackend } from './backend.js';

export { createNativeBackend, NATIVE_MIN_ELEMENTS } from './backend.js';

const native = createNativeBackend();
/** Why the native backend is not in use, or undefined when it is. */
export const nativeUnavailable: string | undefined = typeof native === 'string' ? native : undefined;
if (typeof native === 'string') {
  if (process.env['TESSERA_NATIVE'] !== '0') console.warn(`tessera: native CPU backend unavailable (${native}); using the pure-JS backend`);
} else {
  registerBackend(native);
}
