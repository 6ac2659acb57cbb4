import { applyDecorators, HttpCode, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiSecurity } from '@nestjs/swagger';
import type { ApiKeyCapability } from '@claudemesh/core';
import type { z } from 'zod';
import { ErrorBody } from './api.schemas.js';
import { NEEDS_CAPABILITY } from './bearer.guard.js';

/** Security scheme names in the OpenAPI document. */
export const BEARER_SCHEME = 'bearer';
export const SIGNED_SCHEME = 'claudemesh-sig';

const ERRORS: Record<number, string> = {
  400: 'E_SCHEMA: the body, the query or a path parameter does not validate',
  401: 'E_UNAUTHORIZED: no credentials, or a malformed, unknown, revoked or expired one',
  403: 'E_FORBIDDEN: not allowed (capability, topic scope, role, private topic); E_REVOKED: the member was revoked; E_NOT_MEMBER',
  404: 'E_NOT_FOUND: no such topic or key; E_UNKNOWN_TARGET: no such member; E_UNKNOWN_MESH',
  409: 'E_CONFLICT: it exists already, or the client_id was used for another message; E_NAME_TAKEN',
  429: 'E_RATE_LIMITED: over a limit of this route; `retry_after_ms` and `Retry-After` say when to retry',
};

interface RouteSpec {
  summary: string;
  /** The success body's schema (a name registered in api.schemas.ts, or an array of one). */
  ok: z.ZodType;
  /** Success status; also what the handler answers (default 200, POSTs included). */
  status?: 200 | 201;
  /** Failures beyond 401/403 that this route can answer. */
  errors?: Array<400 | 404 | 409 | 429>;
  description?: string;
}

function common(spec: RouteSpec, extra: string): MethodDecorator {
  const status = spec.status ?? 200;
  return applyDecorators(
    HttpCode(status),
    ApiOperation({ summary: spec.summary, description: [extra, spec.description].filter(Boolean).join(' ') }),
    ApiResponse({ status, description: status === 201 ? 'created' : 'ok', standardSchema: spec.ok }),
    ...[...new Set([...(spec.errors ?? []), 401, 403])].sort((a, b) => a - b).map((code) => ApiResponse({ status: code, description: ERRORS[code]!, standardSchema: ErrorBody })),
  );
}

/**
 * A bearer route: needs `need` (enforced by BearerGuard from this metadata), and documents it, the
 * status it answers and its responses — one declaration for both.
 */
export function BearerRoute(need: ApiKeyCapability, spec: RouteSpec): MethodDecorator {
  return applyDecorators(SetMetadata(NEEDS_CAPABILITY, need), ApiBearerAuth(BEARER_SCHEME), common(spec, `Needs an API key with the \`${need}\` capability.`));
}

/** A member route signed with the member key (docs/protocol.md §4.5), for the CLI. */
export function SignedRoute(spec: RouteSpec): MethodDecorator {
  return applyDecorators(ApiSecurity(SIGNED_SCHEME), common(spec, 'Signed by a member key (`Authorization: Claudemesh-Sig …`, docs/protocol.md §4.5).'));
}
