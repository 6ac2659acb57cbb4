/**
 * The app icon: a rounded square in the theme colour with a lighter mesh mark (three linked
 * nodes). Drawn per pixel with 4×4 supersampling and encoded as an RGBA PNG.
 */
const BG = [31, 58, 138];
const FG = [191, 219, 254];

// The mark in unit coordinates: three nodes and the links between them.
const NODES = [
  [0.5, 0.3],
  [0.3, 0.66],
  [0.7, 0.66],
];
const LINKS = [
  [0, 1],
  [1, 2],
  [2, 0],
];

function distToSegment(px, py, [ax, ay], [bx, by]) {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

function insideRoundedSquare(x, y, r) {
  const cx = Math.min(Math.max(x, r), 1 - r);
  const cy = Math.min(Math.max(y, r), 1 - r);
  return Math.hypot(x - cx, y - cy) <= r;
}

function onMark(x, y) {
  if (NODES.some(([nx, ny]) => Math.hypot(x - nx, y - ny) <= 0.085)) return true;
  return LINKS.some(([a, b]) => distToSegment(x, y, NODES[a], NODES[b]) <= 0.025);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** A size×size PNG of the icon; `deflate` is node:zlib's deflateSync. */
export function pngIcon(size, deflate) {
  const SS = 4;
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    const row = y * (size * 4 + 1);
    raw[row] = 0; // filter: none
    for (let x = 0; x < size; x++) {
      let cover = 0;
      let mark = 0;
      for (let sy = 0; sy < SS; sy++) {
        for (let sx = 0; sx < SS; sx++) {
          const u = (x + (sx + 0.5) / SS) / size;
          const v = (y + (sy + 0.5) / SS) / size;
          if (!insideRoundedSquare(u, v, 0.22)) continue;
          cover++;
          if (onMark(u, v)) mark++;
        }
      }
      const n = SS * SS;
      const f = cover ? mark / cover : 0;
      const o = row + 1 + x * 4;
      for (let i = 0; i < 3; i++) raw[o + i] = Math.round(BG[i] * (1 - f) + FG[i] * f);
      raw[o + 3] = Math.round((255 * cover) / n);
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // colour type: RGBA
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header), chunk('IDAT', deflate(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

export function iconSvg() {
  const rgb = (c) => `rgb(${c.join(',')})`;
  const p = (v) => +(v * 512).toFixed(1);
  const links = LINKS.map(([a, b]) => `<line x1="${p(NODES[a][0])}" y1="${p(NODES[a][1])}" x2="${p(NODES[b][0])}" y2="${p(NODES[b][1])}"/>`).join('');
  const nodes = NODES.map(([x, y]) => `<circle cx="${p(x)}" cy="${p(y)}" r="${p(0.085)}"/>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512"><rect width="512" height="512" rx="${p(0.22)}" fill="${rgb(BG)}"/><g stroke="${rgb(FG)}" stroke-width="${p(0.05)}">${links}</g><g fill="${rgb(FG)}">${nodes}</g></svg>\n`;
}
