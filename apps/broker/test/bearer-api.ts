import { signedRequest, type CreateApiKeyBody, type CreatedApiKey } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import type { TestBroker, TestMesh } from '../../../test/helpers/broker.js';

/** What a bearer request answered: the status and the parsed JSON body. */
export interface Answer<T = unknown> {
  status: number;
  body: T;
}

/** A request as a person with only `fetch` would make it: `Authorization: Bearer <key>` (or another header). */
export async function api<T = unknown>(tb: TestBroker, auth: string | null, method: string, path: string, body?: unknown): Promise<Answer<T>> {
  const headers: Record<string, string> = {};
  if (auth !== null) headers['authorization'] = auth.startsWith('cmk_') ? `Bearer ${auth}` : auth;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${tb.url}/api/v1${path}`, { method, headers, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

/** `status` for a success, `status CODE` for an error: one comparable cell of a matrix. */
export function cell(a: Answer): string {
  const code = (a.body as { error?: { code?: string } } | null)?.error?.code;
  return a.status < 400 ? String(a.status) : `${a.status} ${code ?? '?'}`;
}

/** A member issues a key with a signed request, as the CLI does (POST /api/v1/meshes/:id/apikeys). */
export function issueKey(tb: TestBroker, mesh: TestMesh, by: Identity, body: CreateApiKeyBody): Promise<CreatedApiKey> {
  return signedRequest<CreatedApiKey>(tb.url, by, mesh.meshId, 'POST', `/api/v1/meshes/${mesh.meshId}/apikeys`, body);
}
