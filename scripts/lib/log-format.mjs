// Turns pino JSON lines into one short human line: time, level, message, and the ids that matter.

const LEVELS = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** Fields worth a glance, in display order. Everything else stays in the raw JSON (`--json`). */
export const KEY_FIELDS = [
  'reqId',
  'requestId',
  'correlationId',
  'traceId',
  'tenantId',
  'storeId',
  'station',
  'displayId',
  'orderId',
  'deliveryId',
  'clientId',
  'kid',
  'stream',
  'consumer',
  'subject',
  'code',
  'port',
  'address',
  'url',
  'statusCode',
  'responseTime',
  'durationMs',
];

const ANSI = {
  reset: '\x1b[0m',
  dim: '\x1b[2m',
  bold: '\x1b[1m',
  red: '\x1b[31m',
  yellow: '\x1b[33m',
  magentaBright: '\x1b[95m',
};

/** Distinct prefix colours, handed out in start order. */
export const PALETTE = ['\x1b[36m', '\x1b[35m', '\x1b[33m', '\x1b[32m', '\x1b[34m', '\x1b[96m', '\x1b[95m', '\x1b[93m', '\x1b[92m', '\x1b[94m'];

/** Whether to colour output: a TTY, unless NO_COLOR; FORCE_COLOR forces it on. */
export function useColor(stream = process.stdout, env = process.env) {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY);
}

export function paint(color, text, enabled) {
  return enabled && color ? `${color}${text}${ANSI.reset}` : text;
}

function clock(time) {
  const d = typeof time === 'number' || typeof time === 'string' ? new Date(time) : new Date();
  if (Number.isNaN(d.getTime())) return String(time);
  return d.toTimeString().slice(0, 8) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

function levelName(level) {
  if (typeof level === 'number') return LEVELS[level] ?? String(level);
  if (typeof level === 'string') return level.toUpperCase();
  return 'INFO';
}

function levelColor(name) {
  if (name === 'WARN') return ANSI.yellow;
  if (name === 'ERROR' || name === 'FATAL') return ANSI.red;
  if (name === 'DEBUG' || name === 'TRACE') return ANSI.dim;
  return '';
}

function show(value) {
  if (typeof value === 'string') return /\s/.test(value) || value === '' ? JSON.stringify(value) : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

const NATS_LINE = /^\[\d+\] \d{4}\/\d\d\/\d\d (\d\d:\d\d:\d\d\.\d{3})\d* \[(INF|WRN|ERR|DBG|TRC|FTL)\] ?(.*)$/;
const NATS_LEVELS = { INF: 'INFO', WRN: 'WARN', ERR: 'ERROR', DBG: 'DEBUG', TRC: 'TRACE', FTL: 'FATAL' };
const REDIS_LINE = /^\d+:[XCSM] \d+ \w{3} \d{4} (\d\d:\d\d:\d\d\.\d{3}) ([.\-*#]) (.*)$/;
// Redis logs its start-up banner at "warning" (#) so it shows at the default verbosity; only
// lines that say so are shown as warnings.
const REDIS_LEVELS = { '.': 'DEBUG', '-': 'DEBUG', '*': 'INFO', '#': 'INFO' };

/** nats-server and redis-server lines in the same `time LEVEL msg` shape as the services' logs. */
function formatServerLine(line, color) {
  const n = NATS_LINE.exec(line);
  const r = n ? null : REDIS_LINE.exec(line);
  const m = n ?? r;
  if (!m) return null;
  const level = n ? NATS_LEVELS[m[2]] : m[2] === '#' && /\bWARNING\b/i.test(m[3]) ? 'WARN' : REDIS_LEVELS[m[2]];
  return `${paint(ANSI.dim, m[1], color)} ${paint(levelColor(level), level.padEnd(5), color)} ${m[3]}`;
}

/**
 * Formats one output line. In `json` mode every line comes back unchanged. Otherwise a pino object
 * becomes `HH:MM:SS.mmm LEVEL msg key=value ...` (plus the stack of an error logged at error level
 * or above), nats-server and redis-server lines get the same `time LEVEL msg` shape, and anything
 * else (stack traces, plain prints) is left alone.
 */
export function formatLogLine(line, { json = false, color = false } = {}) {
  if (json) return line;
  if (!line.startsWith('{')) return formatServerLine(line, color) ?? line;
  let obj;
  try {
    obj = JSON.parse(line);
  } catch {
    return line;
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return line;
  const level = levelName(obj.level);
  const parts = [paint(ANSI.dim, clock(obj.time), color), paint(levelColor(level), level.padEnd(5), color)];
  const msg = obj.msg ?? obj.message;
  if (msg !== undefined) parts.push(String(msg));
  const fields = [];
  for (const key of KEY_FIELDS) {
    if (obj[key] !== undefined && obj[key] !== null) fields.push(`${key}=${show(obj[key])}`);
  }
  // fastify's request/response serializers nest these.
  if (obj.req && typeof obj.req === 'object') {
    if (obj.req.method) fields.push(`method=${obj.req.method}`);
    if (obj.req.url) fields.push(`url=${show(obj.req.url)}`);
  }
  if (obj.res && typeof obj.res === 'object' && obj.res.statusCode !== undefined) {
    fields.push(`statusCode=${obj.res.statusCode}`);
  }
  const err = obj.err ?? obj.error;
  if (err && typeof err === 'object') {
    const code = err.code ? ` [${err.code}]` : '';
    fields.push(`err=${show(`${err.type ?? 'Error'}${code}: ${err.message ?? ''}`)}`);
  }
  if (fields.length) parts.push(paint(ANSI.dim, fields.join(' '), color));
  let out = parts.join(' ');
  const isSevere = typeof obj.level === 'number' ? obj.level >= 50 : level === 'ERROR' || level === 'FATAL';
  if (isSevere && err && typeof err.stack === 'string') {
    out += `\n${err.stack
      .split('\n')
      .slice(1)
      .map((l) => `    ${l.trim()}`)
      .join('\n')}`;
  }
  return out;
}
