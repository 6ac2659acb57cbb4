import { RequestMethod, type INestApplication } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { ModulesContainer } from '@nestjs/core';

/** One HTTP route as Nest mapped it, e.g. `POST /api/v1/meshes/:meshId/apikeys`. */
export interface Route {
  method: string;
  path: string;
}

const join = (...parts: string[]): string => `/${parts.flatMap((p) => p.split('/')).filter(Boolean).join('/')}`;
const asList = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : [typeof v === 'string' ? v : '']);

/** Every route of every controller the broker runs, read from Nest's own metadata (what it routes). */
export function routeTable(app: INestApplication): Route[] {
  const routes: Route[] = [];
  for (const mod of app.get(ModulesContainer).values()) {
    for (const wrapper of mod.controllers.values()) {
      const type = wrapper.metatype as (new (...args: never[]) => unknown) | null;
      if (!type) continue;
      const bases = asList(Reflect.getMetadata(PATH_METADATA, type));
      const proto = type.prototype as object;
      for (const name of Object.getOwnPropertyNames(proto)) {
        // Methods only: reading a getter on the prototype would run it without an instance.
        const handler = Object.getOwnPropertyDescriptor(proto, name)?.value as unknown;
        if (typeof handler !== 'function' || name === 'constructor') continue;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        const paths = Reflect.getMetadata(PATH_METADATA, handler) as unknown;
        if (method === undefined || paths === undefined) continue;
        for (const base of bases) for (const path of asList(paths)) routes.push({ method: RequestMethod[method], path: join(base, path) });
      }
    }
  }
  return routes;
}
