import { h } from 'preact';
import htm from 'htm';

/** Tagged templates to Preact vnodes: no JSX step, no runtime compiler (htm builds vnodes directly). */
export const html = htm.bind(h);
