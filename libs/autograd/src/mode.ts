/** Grad mode: whether ops record onto the tape (torch.no_grad / enable_grad). */
let enabled = true;

export const isGradEnabled = (): boolean => enabled;

function withMode<T>(mode: boolean, fn: () => T): T {
  const prev = enabled;
  enabled = mode;
  try {
    return fn();
  } finally {
    enabled = prev;
  }
}

/** Runs fn without recording gradients (inference, optimizer updates). */
export const noGrad = <T>(fn: () => T): T => withMode(false, fn);
/** Runs fn with recording on, e.g. inside a noGrad region. */
export const enableGrad = <T>(fn: () => T): T => withMode(true, fn);
