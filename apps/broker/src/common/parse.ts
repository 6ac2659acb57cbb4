import { ProtocolError } from '@claudemesh/core';
import type { z } from 'zod';

/** Validates a REST body with its libs/core schema; violations become E_SCHEMA. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const detail = parsed.error.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
    .join('; ');
  throw new ProtocolError('E_SCHEMA', detail);
}

export const epochMs = (d: Date | null): number | null => (d ? d.getTime() : null);
