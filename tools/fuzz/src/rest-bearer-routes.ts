/**
 * REST fuzzing of the bearer surface (docs/topics.md), the routes: read from the broker's OpenAPI
 * document (`/api/openapi.json`, committed as docs/openapi.json), so a route added to the broker is
 * fuzzed — or, when the fuzzer has no schema for its body, query or answer, reported — without
 * anyone listing it here. The zod schemas of libs/core (api.ts) are the model of each part.
 */
import {
  AddEpochSealsBody, AddTopicMemberBody, ApiKeyCapability, ApiKeyInfo, EpochAck, EpochDue, EpochParam, EpochSealsAdded, EpochsPage, EpochsQuery, CreateApiKeyBody, CreateTopicBody, CreatedApiKey,
  HistoryQuery, MarkNotificationsReadBody, MarkReadBody, MeInfo, MemberPresence, Notification, NotificationsQuery, PeerTag, PostMessageBody, PostTopicMessageBody, PublishEpochBody, SearchQuery,
  TopicInfo, TopicMember, TopicMessage, TopicMessageId, TopicName, TopicPostBody, CreateWebSignInBody, WebSignInCreated, ClaimIdentityBody,
  PushSubscriptionBody, PushSubscriptionCreated, DeletePushBody, PushRemoved, WebPushInfo, AnalyticsQuery, MeshAnalytics,
} from '@claudemesh/core';
import { z } from 'zod';

// The envelopes and queries api.ts has no name for, as apps/broker/src/api/api.schemas.ts composes them.
const HistoryPage = z.object({ messages: z.array(TopicMessage), has_more: z.boolean() });
const PostedMessage = z.object({ message: TopicMessage, duplicate: z.boolean(), epoch_due: EpochDue.optional() });
const ReadMark = z.object({ topic: TopicName, last_read_id: z.string().regex(/^(0|[1-9][0-9]{0,18})$/), unread: z.number().int().nonnegative() });
const LeftTopic = z.object({ left: z.boolean() });
const MarkedNotifications = z.object({ marked: z.number().int().nonnegative() });
const MessagesQuery = HistoryQuery.extend({ topic: TopicName });
const ActivityQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(200).default(50) });
const StreamQuery = z.strictObject({ last_event_id: TopicMessageId.optional() });
const MembersQuery = z.strictObject({ tag: PeerTag.optional() });
export const ApiKeyId = z.string().regex(/^[a-z0-9]{16}$/);

/** Request bodies by their component name in the document. */
export const BODY_SCHEMAS: Record<string, z.ZodType> = {
  CreateTopicBody,
  PostTopicMessageBody,
  TopicPostBody,
  PostMessageBody,
  PublishEpochBody,
  AddEpochSealsBody,
  MarkReadBody,
  AddTopicMemberBody,
  MarkNotificationsReadBody,
  CreateApiKeyBody,
  CreateWebSignInBody,
  ClaimIdentityBody,
  PushSubscriptionBody,
  DeletePushBody,
};

/** Success bodies by component name. */
const RESPONSE_SCHEMAS: Record<string, z.ZodType> = {
  MeInfo,
  TopicInfo,
  Notification,
  TopicMessage,
  LeftTopic,
  ReadMark,
  HistoryPage,
  PostedMessage,
  MemberPresence,
  TopicMember,
  MarkedNotifications,
  EpochsPage,
  EpochAck,
  EpochSealsAdded,
  ApiKeyInfo,
  CreatedApiKey,
  WebSignInCreated,
  PushSubscriptionCreated,
  PushRemoved,
  WebPushInfo,
  MeshAnalytics,
};

/** Query schemas by route (`METHOD /path`); a route with query parameters but no entry here is reported. */
const QUERY_SCHEMAS: Record<string, z.ZodObject> = {
  'GET /api/v1/me/notifications': NotificationsQuery,
  'GET /api/v1/notifications': NotificationsQuery,
  'GET /api/v1/me/activity': ActivityQuery,
  'GET /api/v1/topics/{name}/messages': HistoryQuery,
  'GET /api/v1/messages': MessagesQuery,
  'GET /api/v1/search': SearchQuery,
  'GET /api/v1/topics/{name}/stream': StreamQuery,
  'GET /api/v1/topics/{name}/epochs': EpochsQuery,
  'GET /api/v1/members': MembersQuery,
  'GET /api/v1/peers': MembersQuery,
  'GET /api/v1/analytics': AnalyticsQuery,
};

/** Path parameters by name. */
export const PARAM_SCHEMAS: Record<string, z.ZodType> = { name: TopicName, id: ApiKeyId, epoch: EpochParam };

export interface BearerRoute {
  /** `METHOD /path` as the document writes it: the route's key in the case labels. */
  key: string;
  method: string;
  template: string;
  need: ApiKeyCapability;
  pathParams: string[];
  /** The query schema; null for a route that reads no query (its query string is ignored). */
  query: z.ZodObject | null;
  queryParams: string[];
  /** The request body's component name, or null for a route without one. */
  body: string | null;
  success: number;
  /** The success body: a schema, or 'sse' for an event stream. */
  response: z.ZodType | 'sse';
  /** Path parameters and query are validated before the key (the stream route has no guard). */
  pipesFirst: boolean;
}

export interface RouteTable {
  routes: BearerRoute[];
  /** Routes signed with a member key (§4.5): fuzzed by rest.ts' model, not here. */
  signed: string[];
  /** What the fuzzer cannot model: each one is a violation, so a new route is never silently skipped. */
  problems: string[];
}

interface OpenApiOperation {
  description?: string;
  security?: Array<Record<string, unknown>>;
  parameters?: Array<{ name: string; in: string }>;
  requestBody?: { content?: Record<string, { schema?: { $ref?: string } }> };
  responses?: Record<string, { content?: Record<string, { schema?: { $ref?: string; type?: string; items?: { $ref?: string } } }> }>;
}

const refName = (ref: string | undefined): string | undefined => ref?.replace(/^#\/components\/schemas\//, '');

/** The bearer routes of an OpenAPI document, with the schemas that model each part. */
export function bearerRoutes(doc: unknown): RouteTable {
  const paths = (doc as { paths?: Record<string, Record<string, OpenApiOperation>> } | null)?.paths ?? {};
  const table: RouteTable = { routes: [], signed: [], problems: [] };
  for (const [template, ops] of Object.entries(paths)) {
    for (const [m, op] of Object.entries(ops)) {
      const method = m.toUpperCase();
      const key = `${method} ${template}`;
      const schemes = (op.security ?? []).flatMap((s) => Object.keys(s));
      if (schemes.includes('claudemesh-sig')) {
        table.signed.push(key);
        continue;
      }
      if (!schemes.includes('bearer')) {
        table.problems.push(`${key}: neither a bearer nor a signed route`);
        continue;
      }
      const need = ApiKeyCapability.safeParse(/Needs an API key with the `(\w+)` capability/.exec(op.description ?? '')?.[1]);
      if (!need.success) {
        table.problems.push(`${key}: its description names no capability`);
        continue;
      }
      const params = op.parameters ?? [];
      const pathParams = params.filter((p) => p.in === 'path').map((p) => p.name);
      const queryParams = params.filter((p) => p.in === 'query').map((p) => p.name);
      const unknownParam = pathParams.find((p) => !PARAM_SCHEMAS[p]);
      if (unknownParam) table.problems.push(`${key}: no schema for the path parameter ${unknownParam}`);
      const query = QUERY_SCHEMAS[key] ?? null;
      const modelled = Object.keys(query?.shape ?? {}).sort().join(',');
      if (modelled !== [...queryParams].sort().join(',')) table.problems.push(`${key}: the document's query (${queryParams.join(',')}) is not the modelled one (${modelled})`);
      const body = refName(op.requestBody?.content?.['application/json']?.schema?.$ref) ?? null;
      if (body !== null && !BODY_SCHEMAS[body]) table.problems.push(`${key}: no schema for the request body ${body}`);
      const [status, answer] = Object.entries(op.responses ?? {}).find(([s]) => s.startsWith('2')) ?? ['0', {}];
      let response: z.ZodType | 'sse' | undefined;
      if (answer.content?.['text/event-stream']) response = 'sse';
      else {
        const schema = answer.content?.['application/json']?.schema;
        const single = RESPONSE_SCHEMAS[refName(schema?.$ref) ?? ''];
        const item = RESPONSE_SCHEMAS[refName(schema?.items?.$ref) ?? ''];
        response = schema?.type === 'array' ? item?.array() : single;
      }
      if (!response) {
        table.problems.push(`${key}: no schema for its ${status} answer`);
        continue;
      }
      if (unknownParam || (body !== null && !BODY_SCHEMAS[body])) continue;
      table.routes.push({ key, method, template, need: need.data, pathParams, query, queryParams, body, success: Number(status), response, pipesFirst: response === 'sse' });
    }
  }
  return table;
}
