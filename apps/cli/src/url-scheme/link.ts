import { CliError, EXIT } from '../context.js';

/** The URL scheme `claudemesh url-handler install` registers with the OS. */
export const URL_SCHEME = 'claudemesh';

const FORMS = 'claudemesh://join/<v1 blob>, claudemesh://i/<code>?broker=<broker url> or claudemesh://<host[:port]>/i/<code>';

/** True for anything that starts like a claudemesh:// link (case-insensitive, as URL schemes are). */
export function isSchemeLink(text: string): boolean {
  return /^claudemesh:\/\//i.test(text.trim());
}

/**
 * Maps a `claudemesh://` link onto the invite forms `claudemesh join` takes:
 *
 * | claudemesh:// link                        | join input                          |
 * |-------------------------------------------|-------------------------------------|
 * | `claudemesh://join/<blob>`                | `ic://join/<blob>` (v1 signed link) |
 * | `claudemesh://i/<code>?broker=<url>`      | `<origin of url>/i/<code>`          |
 * | `claudemesh://i/<code>`                   | the bare code (needs CLAUDEMESH_BROKER) |
 * | `claudemesh://<host[:port]>/i/<code>`     | `https://<host[:port]>/i/<code>`    |
 *
 * A trailing slash (some browsers add one) is ignored. Anything else is a usage error.
 */
export function schemeLinkToInvite(link: string): string {
  const text = link.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw malformed(text, 'not a URL');
  }
  if (url.protocol.toLowerCase() !== `${URL_SCHEME}:`) throw malformed(text, 'not a claudemesh:// link');
  const host = url.host;
  const segments = url.pathname.split('/').filter((s) => s.length > 0);
  if (host.toLowerCase() === 'join') {
    if (segments.length !== 1 || url.search || url.hash) throw malformed(text, 'claudemesh://join/ takes exactly the v1 invite blob');
    return `ic://join/${segments[0]}`;
  }
  if (host.toLowerCase() === 'i' && segments.length === 1) {
    const code = segments[0]!;
    const broker = url.searchParams.get('broker');
    if (broker === null) return decode(code, text);
    let origin: string;
    try {
      const b = new URL(broker);
      if (!/^(https?|wss?):$/.test(b.protocol) || !b.host) throw new Error('scheme');
      origin = `${b.protocol === 'wss:' || b.protocol === 'https:' ? 'https:' : 'http:'}//${b.host}`;
    } catch {
      throw malformed(text, `broker=${broker} is not an http(s) or ws(s) URL`);
    }
    return `${origin}/i/${code}`;
  }
  if (host && segments.length === 2 && segments[0] === 'i') return `https://${host}/i/${segments[1]}`;
  throw malformed(text, 'unknown form');
}

function decode(code: string, link: string): string {
  try {
    return decodeURIComponent(code);
  } catch {
    throw malformed(link, 'the code is not valid percent-encoding');
  }
}

const malformed = (link: string, why: string): CliError => new CliError(`${link} is not a claudemesh link I can open (${why}); the forms are ${FORMS}`, EXIT.usage);
