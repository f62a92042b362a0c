#!/usr/bin/env node
// The `tessera` command. The library ships as TypeScript source, so load it through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
