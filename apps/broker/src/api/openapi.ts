import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { PROTOCOL_VERSION } from '@claudemesh/core';
import { z } from 'zod';
import { API_SCHEMAS } from './api.schemas.js';
import { ApiModule } from './api.module.js';
import { BEARER_SCHEME, SIGNED_SCHEME } from './route.decorators.js';

export const OPENAPI_JSON_PATH = 'api/openapi.json';
export const OPENAPI_UI_PATH = 'api/docs';

const DESCRIPTION = [
  'The REST surface of a claudemesh broker: topics, history, posting, read marks, members and presence,',
  'notifications, search and API keys, for browsers, scripts and bots (docs/topics.md).',
  'Every `/api/v1` route but the signed member routes takes `Authorization: Bearer cmk_…`.',
  'Errors are `{ "error": { "code": "E_…", "message": "…" } }` with the codes of docs/protocol.md §10.',
  'Topic messages of body_version 1 are plaintext to the broker; DMs and group messages are not served here.',
  'The signed member routes for meshes and invites (docs/protocol.md §4.5, §9) are not part of this document.',
].join(' ');

/**
 * Request and response schemas come from zod (api.schemas.ts), converted here; named schemas become
 * components. Everything is described as it travels (zod `input`): defaults are optional, request
 * objects are closed, response objects stay open.
 */
function fromZod(schema: unknown): { schema: unknown; components: Record<string, unknown> } | undefined {
  if (!(schema instanceof z.ZodType)) return undefined;
  const { definitions, ...converted } = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', metadata: API_SCHEMAS }) as Record<string, unknown> & { definitions?: Record<string, unknown> };
  return { schema: converted, components: definitions ?? {} };
}

/** The OpenAPI document of ApiModule's routes (served live, committed as docs/openapi.json). */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('claudemesh broker API')
    .setDescription(DESCRIPTION)
    .setVersion(String(PROTOCOL_VERSION))
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'cmk_<id>_<secret>', description: 'An API key (claudemesh apikey create, or POST /api/v1/apikeys)' }, BEARER_SCHEME)
    .addSecurity(SIGNED_SCHEME, {
      type: 'apiKey',
      in: 'header',
      name: 'Authorization',
      description: '`Claudemesh-Sig pubkey=…,ts=…,sig=…`: the member key signs method, path, mesh id, timestamp and the body hash (docs/protocol.md §4.5)',
    })
    .build();
  return SwaggerModule.createDocument(app, config, {
    include: [ApiModule],
    operationIdFactory: (controller, method) => `${controller.replace(/Controller$/, '')}_${method}`,
    standardSchemaConverter: fromZod,
  });
}

/** `GET /api/openapi.json` and the browsable `GET /api/docs`; the document is built on first request. */
export function mountOpenApi(app: INestApplication): void {
  let document: OpenAPIObject | undefined;
  SwaggerModule.setup(OPENAPI_UI_PATH, app, () => (document ??= buildOpenApiDocument(app)), {
    jsonDocumentUrl: OPENAPI_JSON_PATH,
    raw: ['json'],
    customSiteTitle: 'claudemesh broker API',
  });
}
