import { get } from 'node:http';

export interface HttpResult {
  readonly status: number;
  readonly body: string;
}

/**
 * Minimal GET without keep-alive: a pooled socket to a server we are about to kill
 * would only produce noise, and it must not hold the event loop open.
 */
export function httpGet(url: string, timeoutMs: number): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export async function httpGetJson<T>(url: string, timeoutMs: number): Promise<{ status: number; json: T }> {
  const res = await httpGet(url, timeoutMs);
  return { status: res.status, json: JSON.parse(res.body) as T };
}
