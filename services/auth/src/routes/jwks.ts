/**
 * `GET /.well-known/jwks.json` — current, next and previous public keys. Every replica serves
 * the same document (same bytes, same ETag) because every replica watches the same keyring.
 */
import type { FastifyInstance } from 'fastify';
import type { AuthContext } from '../context.js';

export function jwksRoutes(app: FastifyInstance, ctx: AuthContext): void {
  app.get('/.well-known/jwks.json', { logLevel: 'warn' }, async (req, reply) => {
    const doc = ctx.keys.jwks();
    void reply.header('cache-control', `public, max-age=${ctx.config.jwksMaxAgeSeconds}`).header('etag', doc.etag);
    const inm = req.headers['if-none-match'];
    if (inm !== undefined && inm.split(',').some((t) => t.trim() === doc.etag)) return reply.code(304).send();
    return reply.type('application/json; charset=utf-8').send(doc.body);
  });
}
