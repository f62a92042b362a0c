/** Seeded generator (xoshiro128**, seeded by splitmix32): reproducible rand/randn/randint. */
export class Generator {
  private s = new Uint32Array(4);
  private spare: number | undefined;

  /** A generator seeded with `seed` (a fixed default, so unseeded runs are reproducible too). */
  constructor(seed = 0x2545f491) { this.manualSeed(seed); }

  /** Resets the state from `seed` (its low 32 bits), as torch's `Generator.manual_seed`; returns this for chaining. */
  manualSeed(seed: number): this {
    let z = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
      this.s[i] = (t ^ (t >>> 16)) >>> 0;
    }
    this.spare = undefined;
    return this;
  }

  /** The next raw 32-bit output, an integer in `[0, 2^32)`; advances the state. */
  nextUint32(): number {
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!; s[3]! ^= s[1]!; s[1]! ^= s[2]!; s[0]! ^= s[3]!;
    s[2]! ^= t; s[3] = rotl(s[3]!, 11);
    return r;
  }

  /**
   * Fills `out` with the values repeated uniform() calls would give, with the state in locals: a
   * per-element method call on the Uint32Array state costs 5x the arithmetic (dropout masks are drawn
   * every training step).
   */
  fillUniform(out: { readonly length: number; [i: number]: number }): void {
    const st = this.s;
    let s0 = st[0]!, s1 = st[1]!, s2 = st[2]!, s3 = st[3]!;
    for (let i = 0; i < out.length; i++) {
      // Two xoshiro128** steps, as nextUint32(); bitwise ops keep the same 32 bits whatever their sign.
      const hi = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
      let t = s1 << 9;
      s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 11);
      const lo = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
      t = s1 << 9;
      s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 11);
      out[i] = ((hi >>> 5) * 67108864 + (lo >>> 6)) / 9007199254740992;
    }
    st[0] = s0; st[1] = s1; st[2] = s2; st[3] = s3;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    return ((this.nextUint32() >>> 5) * 67108864 + (this.nextUint32() >>> 6)) / 9007199254740992;
  }

  /** Standard normal (Box-Muller, both values used). */
  normal(): number {
    if (this.spare !== undefined) { const v = this.spare; this.spare = undefined; return v; }
    let u = 0;
    while (u === 0) u = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u)), th = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(th);
    return r * Math.cos(th);
  }
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;

/** The generator rand, randn, randint and multinomial draw from when given none; manualSeed() reseeds it. */
export const defaultGenerator = new Generator();
/** Seeds the default generator, as torch.manual_seed. */
export const manualSeed = (seed: number): Generator => defaultGenerator.manualSeed(seed);
