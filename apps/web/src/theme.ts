import { signal } from '@preact/signals';
import { getSetting, setSetting } from './idb.js';

/** `auto` follows prefers-color-scheme; the others pin a theme (html[data-theme]). */
export type Theme = 'auto' | 'light' | 'dark';
const ORDER: Theme[] = ['auto', 'dark', 'light'];

export const theme = signal<Theme>('auto');

function apply(t: Theme): void {
  if (t === 'auto') delete document.documentElement.dataset['theme'];
  else document.documentElement.dataset['theme'] = t;
}

export async function loadTheme(): Promise<void> {
  const saved = await getSetting<Theme>('theme');
  if (saved && ORDER.includes(saved)) theme.value = saved;
  apply(theme.value);
}

export function cycleTheme(): void {
  theme.value = ORDER[(ORDER.indexOf(theme.value) + 1) % ORDER.length]!;
  apply(theme.value);
  void setSetting('theme', theme.value);
}
