import { Injectable, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import { ProtocolError } from '@claudemesh/core';
import { z } from 'zod';

/**
 * Validates every `@Body`, `@Query` and `@Param` of the API controllers with the zod schema given
 * in the decorator (`@Body({ schema })`), the same schema the OpenAPI document shows. A violation
 * is E_SCHEMA with the first issues; a parameter declared without a schema fails closed.
 */
@Injectable()
export class WireSchemaPipe implements PipeTransform {
  transform(value: unknown, meta: ArgumentMetadata): unknown {
    if (meta.type === 'custom') return value;
    const schema = meta.schema;
    if (!(schema instanceof z.ZodType)) throw new ProtocolError('E_INTERNAL', `the ${meta.type} ${meta.data ?? ''} of this route has no schema`);
    // A POST without a body (curl -X POST) means "no fields", not "not an object".
    const input = meta.type === 'body' && value === undefined ? {} : value;
    const parsed = schema.safeParse(input);
    if (parsed.success) return parsed.data;
    // Issues name the field: `name: …` for a path parameter, `limit: …` in a query, `text: …` in a body.
    const detail = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${[meta.data, ...i.path].filter((p) => p !== undefined).join('.') || `(${meta.type})`}: ${i.message}`)
      .join('; ');
    throw new ProtocolError('E_SCHEMA', detail);
  }
}
