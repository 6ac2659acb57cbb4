#!/usr/bin/env node
// The plugin host (docs/plugins.md §2), run by `claudemesh plugin run <plugins.yaml>`.
import { fileURLToPath } from 'node:url';
import { hostMain } from '../dist/host-main.js';

await hostMain(process.argv.slice(2), fileURLToPath(new URL('../../../', import.meta.url)));
