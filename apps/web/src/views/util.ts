import type { PeerType } from '../types.js';

export const peerLabel = (p: PeerType): string => (p === 'human' ? 'human' : p === 'ai' ? 'agent' : 'connector');

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** Today's times as hh:mm, older ones with their date. */
export function shortTime(ms: number): string {
  const d = new Date(ms);
  return d.toDateString() === new Date().toDateString() ? timeFmt.format(d) : dateFmt.format(d);
}

export const fullTime = (ms: number): string => dateFmt.format(new Date(ms));
