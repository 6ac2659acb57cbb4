import { PeerTag } from '@claudemesh/core';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gitConfigOf, originUrl, repoNameOf, repoTagDisabledByEnv, repoTagFor } from './repo-tag.js';

describe('repoNameOf', () => {
  it.each([
    ['git@github.com:acme/billing.git', 'billing'],
    ['git@github.com:acme/Billing-Service.git', 'billing-service'],
    ['https://github.com/acme/billing', 'billing'],
    ['https://github.com/acme/billing.git', 'billing'],
    ['https://github.com/acme/billing.git/', 'billing'],
    ['https://gitlab.example.com/group/sub/Billing/', 'billing'],
    ['ssh://git@host.example:2222/acme/billing.git', 'billing'],
    ['file:///srv/git/billing.git', 'billing'],
    ['/srv/git/billing', 'billing'],
    ['C:\\repos\\Billing.GIT', 'billing'],
    ['git@host:my_repo.v2.git', 'my_repo.v2'],
    ['https://host/acme/My Repo (old)', 'my-repo-old'],
    ['https://host/acme/c++', 'c++'],
    ['https://host/acme/.dotfiles.git', 'dotfiles'],
    ['https://host/acme/über-tool', 'ber-tool'],
  ])('%s → %s', (url, name) => {
    expect(repoNameOf(url)).toBe(name);
    expect(PeerTag.safeParse(`repo:${name}`).success).toBe(true);
  });

  it('gives null when nothing usable is left, and at most 128 characters', () => {
    expect(repoNameOf('https://host/acme/___')).toBeNull();
    expect(repoNameOf('')).toBeNull();
    const long = repoNameOf(`https://host/acme/${'a'.repeat(300)}.git`)!;
    expect(long).toHaveLength(128);
    expect(PeerTag.safeParse(`repo:${long}`).success).toBe(true);
  });
});

describe('originUrl', () => {
  it('reads the first url of [remote "origin"], not of other remotes', () => {
    const config = [
      '[core]',
      '\trepositoryformatversion = 0',
      '[remote "upstream"]',
      '\turl = git@github.com:upstream/other.git',
      '[remote "origin"]',
      '\tfetch = +refs/heads/*:refs/remotes/origin/*',
      '\turl = git@github.com:acme/billing.git',
      '\turl = git@mirror:acme/billing-mirror.git',
      '[branch "main"]',
      '\tremote = origin',
    ].join('\n');
    expect(originUrl(config)).toBe('git@github.com:acme/billing.git');
  });

  it('handles case, quotes, comments, CRLF, the old [remote.origin] spelling and a key on the header line', () => {
    expect(originUrl('[Remote "origin"]\r\n  URL = "https://host/a/b.git" # the main one\r\n')).toBe('https://host/a/b.git');
    expect(originUrl('[remote "origin"]\n  url = https://host/a/b.git ; note\n')).toBe('https://host/a/b.git');
    expect(originUrl('[remote.origin]\nurl=https://host/a/old.git\n')).toBe('https://host/a/old.git');
    expect(originUrl('[remote "origin"] url = https://host/a/inline.git\n')).toBe('https://host/a/inline.git');
    // The remote's name is case-sensitive.
    expect(originUrl('[remote "Origin"]\nurl = https://host/a/b.git\n')).toBeNull();
    expect(originUrl('[core]\nbare = false\n')).toBeNull();
    expect(originUrl('')).toBeNull();
  });
});

describe('gitConfigOf / repoTagFor (real folders, no git binary)', () => {
  const root = mkdtempSync(join(tmpdir(), 'cmh-repo-tag-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const write = (path: string, text: string): void => {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
  };

  it('finds .git in the folder or above it', () => {
    const repo = join(root, 'billing');
    write(join(repo, '.git', 'config'), '[remote "origin"]\n\turl = git@github.com:acme/Billing.git\n');
    mkdirSync(join(repo, 'src', 'deep'), { recursive: true });
    expect(gitConfigOf(join(repo, 'src', 'deep'))).toEqual({ root: repo, config: join(repo, '.git', 'config') });
    expect(repoTagFor(join(repo, 'src', 'deep'))).toEqual({ tag: 'repo:billing', from: repo });
  });

  it('follows a .git file to a linked worktree and reads the config of its common dir', () => {
    const main = join(root, 'main');
    write(join(main, '.git', 'config'), '[remote "origin"]\n\turl = https://github.com/acme/payments\n');
    write(join(main, '.git', 'worktrees', 'feature', 'commondir'), '../..\n');
    const wt = join(root, 'wt', 'feature');
    write(join(wt, '.git'), `gitdir: ${join(main, '.git', 'worktrees', 'feature')}\n`);
    expect(gitConfigOf(wt)).toEqual({ root: wt, config: join(main, '.git', 'config') });
    expect(repoTagFor(wt)).toEqual({ tag: 'repo:payments', from: wt });
  });

  it('follows a relative gitdir (a submodule) to its own config', () => {
    const parent = join(root, 'parent');
    write(join(parent, '.git', 'modules', 'lib', 'config'), '[remote "origin"]\n\turl = ../shared-lib.git\n');
    write(join(parent, 'lib', '.git'), 'gitdir: ../.git/modules/lib\n');
    expect(repoTagFor(join(parent, 'lib'))).toEqual({ tag: 'repo:shared-lib', from: join(parent, 'lib') });
  });

  it('gives null without an origin, or when the .git file points nowhere', () => {
    const noOrigin = join(root, 'no-origin');
    write(join(noOrigin, '.git', 'config'), '[remote "upstream"]\n\turl = https://host/a/b\n');
    expect(repoTagFor(noOrigin)).toBeNull();
    const dangling = join(root, 'dangling');
    write(join(dangling, '.git'), 'gitdir: /nonexistent/claudemesh/worktree\n');
    expect(gitConfigOf(dangling)?.root).not.toBe(dangling);
  });

  it('is turned off by CLAUDEMESH_REPO_TAG=off (0, false, no)', () => {
    for (const v of ['off', 'OFF', '0', 'false', 'no']) expect(repoTagDisabledByEnv({ CLAUDEMESH_REPO_TAG: v })).toBe(true);
    for (const v of [undefined, 'on', '1', '']) expect(repoTagDisabledByEnv(v === undefined ? {} : { CLAUDEMESH_REPO_TAG: v })).toBe(false);
  });
});
