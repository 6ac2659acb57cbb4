#!/usr/bin/env node
/**
 * `npm start`: builds what is stale, one line per step, then runs the broker in this process.
 *
 * A fresh clone compiles for about half a minute; a line says so before it starts, and each
 * TypeScript project tsc builds gets a line. When every project's output is newer than its sources,
 * tsc is not run at all (a no-op `tsc -b` still costs seconds). The CLI bundle is rebuilt only when
 * tsc wrote after it (the rule bin/claudemesh.js uses). CLAUDEMESH_START_NO_BUILD=1 skips both.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** What `npm start` needs: the broker, and the CLI the README runs next (bench and fuzz are not). */
const PROJECTS = ['libs/crypto', 'libs/core', 'apps/broker', 'apps/cli'];
const say = (line) => process.stdout.write(`${line}\n`);
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

const mtime = (file) => (existsSync(file) ? statSync(file).mtimeMs : 0);

/** The newest mtime of a project's inputs: its sources and tsconfig files. */
function newestInput(project) {
  let newest = 0;
  const visit = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (/\.(ts|mts|json)$/.test(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  visit(join(root, project, 'src'));
  for (const f of ['tsconfig.json', 'tsconfig.build.json', 'package.json']) newest = Math.max(newest, mtime(join(root, project, f)));
  return Math.max(newest, mtime(join(root, 'tsconfig.base.json')));
}

function staleProjects() {
  return PROJECTS.filter((p) => mtime(join(root, p, 'dist', '.tsbuildinfo')) <= newestInput(p));
}

function run(command, args, onLine) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const take = (chunk) => {
      out += chunk;
      const lines = out.split('\n');
      out = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    };
    child.stdout.setEncoding('utf8').on('data', take);
    child.stderr.setEncoding('utf8').on('data', take);
    child.once('error', reject);
    child.once('exit', (code) => {
      if (out) onLine(out);
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}`));
    });
  });
}

async function compile() {
  const stale = staleProjects();
  if (stale.length === 0) {
    say('[1/3] TypeScript: up to date');
    return;
  }
  const started = Date.now();
  say(`[1/3] TypeScript: compiling ${stale.join(', ')} (tsc -b; about 30 s from a fresh clone)…`);
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const errors = [];
  await run(process.execPath, [tsc, '-b', '--verbose', ...['apps/broker', 'apps/cli'].map((p) => `${p}/tsconfig.build.json`)], (line) => {
    const building = /Building project '([^']+)'/.exec(line);
    if (building) say(`      building ${relative(root, dirname(building[1]))}`);
    else if (/error TS\d+/.test(line)) errors.push(line);
  }).catch((error) => {
    for (const line of errors) process.stderr.write(`${line}\n`);
    throw error;
  });
  say(`      done in ${seconds(started)}`);
}

async function bundle() {
  const cli = join(root, 'apps', 'cli');
  const built = mtime(join(cli, 'dist-bundle', 'main.js'));
  const compiled = Math.max(...['apps/cli', 'libs/core', 'libs/crypto'].map((p) => mtime(join(root, p, 'dist', '.tsbuildinfo'))));
  if (built > compiled) {
    say('[2/3] CLI bundle: up to date');
    return;
  }
  const started = Date.now();
  say('[2/3] CLI bundle: building (esbuild)…');
  await run(process.execPath, [join(cli, 'build-bundle.mjs')], (line) => line && say(`      ${line}`));
  say(`      done in ${seconds(started)}`);
}

try {
  if (process.env.CLAUDEMESH_START_NO_BUILD !== '1') {
    await compile();
    await bundle();
  }
  say('[3/3] starting the broker…');
} catch (error) {
  process.stderr.write(`npm start: the build failed (${error.message}); fix the errors above, then run npm start again\n`);
  process.exit(1);
}
await import(pathToFileURL(join(root, 'apps', 'broker', 'dist', 'main.js')).href);
