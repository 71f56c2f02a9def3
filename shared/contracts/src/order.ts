/**
 * The order: one TypeBox schema is the source of the runtime validator, the TypeScript type and
 * the OpenAPI document. `additionalProperties: false` everywhere, and every string, array and map
 * is bounded, so a request can never grow a stream message or a display's memory without limit.
 */
import { FormatRegistry, Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import type { ErrorBody } from './http.js';
import { ID_PATTERN, ORDER_ID_PATTERN } from './ids.js';

/** Items per order */
export const ORDER_ITEMS_MAX = 200;
/** Characters of an item name */
export const ITEM_NAME_MAX = 200;
/** Quantity of one item line */
export const ITEM_QTY_MAX = 999;
/** Modifiers per item */
export const ITEM_MODIFIERS_MAX = 20;
/** Characters per modifier */
export const ITEM_MODIFIER_MAX = 100;
/** Characters of item notes */
export const ITEM_NOTES_MAX = 500;
/** Characters of an item SKU */
export const ITEM_SKU_MAX = 64;
/** Target displays of one order */
export const ORDER_DISPLAY_IDS_MAX = 50;
/** Characters of the customer name */
export const CUSTOMER_NAME_MAX = 100;
/** Metadata entries */
export const METADATA_KEYS_MAX = 20;
/** Characters of a metadata key */
export const METADATA_KEY_MAX = 64;
/** Characters of a metadata value */
export const METADATA_VALUE_MAX = 256;
/** Orders per `POST /v1/orders/batch` */
export const ORDER_BATCH_MAX = 100;
/** Validation errors reported per order; a hostile body must not produce megabytes of errors */
export const VALIDATION_ERRORS_MAX = 20;

/** Metadata keys: 1–64 characters, no control characters. */
const METADATA_KEY_PATTERN = `^[^\\u0000-\\u001F\\u007F]{1,${METADATA_KEY_MAX}}$`;

// RFC 3339 date-time (the JSON Schema `date-time` format), checked for calendar validity too.
const DATE_TIME_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** Days of each month in a common year (February of a leap year: 29). */
const DAYS_IN_MONTH: readonly number[] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export function isDateTime(value: string): boolean {
  const m = DATE_TIME_RE.exec(value);
  if (m === null) return false;
  // Read one by one (no slice/map/array per call: this runs on every order with a createdAt).
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!;
  if (day > daysInMonth || Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 60) return false;
  if (m[7] !== undefined && (Number(m[8]) > 23 || Number(m[9]) > 59)) return false;
  return true;
}

// TypeBox's compiler rejects a string with an unregistered format, so the format lives with the schema.
FormatRegistry.Set('date-time', isDateTime);

const Id = (description: string) => Type.String({ pattern: ID_PATTERN, description });

export const OrderItemSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: ITEM_NAME_MAX }),
    qty: Type.Integer({ minimum: 1, maximum: ITEM_QTY_MAX }),
    modifiers: Type.Optional(Type.Array(Type.String({ maxLength: ITEM_MODIFIER_MAX }), { maxItems: ITEM_MODIFIERS_MAX })),
    notes: Type.Optional(Type.String({ maxLength: ITEM_NOTES_MAX })),
    sku: Type.Optional(Type.String({ maxLength: ITEM_SKU_MAX })),
  },
  { additionalProperties: false },
);
export type OrderItem = Static<typeof OrderItemSchema>;

export const ORDER_PRIORITIES = ['normal', 'rush'] as const;
export const OrderPrioritySchema = Type.Union([Type.Literal('normal'), Type.Literal('rush')], { default: 'normal' });
export type OrderPriority = Static<typeof OrderPrioritySchema>;

/**
 * The order as upstream systems send it. `priority` and `metadata` carry defaults, so the
 * `Order` type (the value after `validateOrder`, or after Fastify/ajv with `useDefaults`) has them
 * set while callers may omit them. The tenant is never in the body: it comes from the token.
 */
export const OrderSchema = Type.Object(
  {
    orderId: Type.String({ pattern: ORDER_ID_PATTERN, description: 'Upstream order id; the idempotency key with the tenant' }),
    storeId: Id('Store the order belongs to'),
    station: Id('Station (kitchen line, pickup board, ...) whose displays show the order'),
    items: Type.Array(OrderItemSchema, { minItems: 1, maxItems: ORDER_ITEMS_MAX }),
    displayIds: Type.Optional(
      Type.Array(Type.String({ pattern: ID_PATTERN }), {
        minItems: 1,
        maxItems: ORDER_DISPLAY_IDS_MAX,
        uniqueItems: true,
        description: 'Targeted delivery: only these displays receive the order',
      }),
    ),
    priority: OrderPrioritySchema,
    createdAt: Type.Optional(
      Type.String({ format: 'date-time', description: 'When the upstream system created the order (RFC 3339); absent: the acceptance time (`acceptedAt`)' }),
    ),
    customer: Type.Optional(
      Type.Object({ name: Type.Optional(Type.String({ maxLength: CUSTOMER_NAME_MAX })) }, { additionalProperties: false }),
    ),
    metadata: Type.Record(
      Type.String({ pattern: METADATA_KEY_PATTERN }),
      Type.String({ maxLength: METADATA_VALUE_MAX }),
      { maxProperties: METADATA_KEYS_MAX, additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);
export type Order = Static<typeof OrderSchema>;

export const OrderBatchSchema = Type.Object(
  { orders: Type.Array(OrderSchema, { minItems: 1, maxItems: ORDER_BATCH_MAX }) },
  { additionalProperties: false },
);
export type OrderBatch = Static<typeof OrderBatchSchema>;

/** The batch wrapper alone: items are validated one by one, so one bad order does not sink the batch. */
const OrderBatchShapeSchema = Type.Object(
  { orders: Type.Array(Type.Unknown(), { minItems: 1, maxItems: ORDER_BATCH_MAX }) },
  { additionalProperties: false },
);

export const ORDER_ENVELOPE_VERSION = 1;

/** What ingest publishes on ORDERS (the message body); the stream sequence travels beside it. */
export const OrderEnvelopeSchema = Type.Object(
  {
    v: Type.Literal(ORDER_ENVELOPE_VERSION),
    tenant: Type.String({ pattern: ID_PATTERN }),
    order: OrderSchema,
    acceptedAt: Type.Integer({ minimum: 0, description: 'Epoch ms when ingest accepted the order' }),
    traceId: Type.String({ minLength: 1, maxLength: 128 }),
  },
  { additionalProperties: false },
);
export type OrderEnvelope = Static<typeof OrderEnvelopeSchema>;

export interface ValidationIssue {
  /** JSON pointer of the offending value, e.g. `/items/0/qty`; `` for the root. */
  path: string;
  message: string;
}

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; errors: ValidationIssue[] };
export type OrderValidation = { ok: true; order: Order } | { ok: false; errors: ValidationIssue[] };
export type OrderBatchValidation =
  | { ok: true; results: OrderValidation[] }
  | { ok: false; errors: ValidationIssue[] };

// Compiled once at module load: validation is on every ingest request.
const orderCheck = TypeCompiler.Compile(OrderSchema);
const batchShapeCheck = TypeCompiler.Compile(OrderBatchShapeSchema);
const envelopeCheck = TypeCompiler.Compile(OrderEnvelopeSchema);

function issues<T extends TSchema>(check: TypeCheck<T>, value: unknown): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  for (const e of check.Errors(value)) {
    out.push({ path: e.path, message: e.message });
    if (out.length >= VALIDATION_ERRORS_MAX) break;
  }
  return out;
}

/** `schema` or anything below it declares a `default`. */
function declaresDefault(schema: unknown): boolean {
  if (schema === null || typeof schema !== 'object') return false;
  if (Array.isArray(schema)) return schema.some(declaresDefault);
  return Object.entries(schema).some(([k, v]) => k === 'default' || declaresDefault(v));
}

/**
 * The defaults of OrderSchema's own properties, in schema order — or undefined when a deeper
 * schema declares one too, and only TypeBox's full walk applies them all.
 */
const TOP_LEVEL_DEFAULTS: ReadonlyArray<readonly [string, unknown]> | undefined = (() => {
  const out: Array<readonly [string, unknown]> = [];
  for (const [key, schema] of Object.entries(OrderSchema.properties) as Array<[string, TSchema]>) {
    const own: Record<string, unknown> = schema;
    if (Object.entries(own).some(([k, v]) => k !== 'default' && declaresDefault(v))) return undefined;
    if ('default' in own) out.push([key, own.default]);
  }
  return out;
})();

/**
 * `Value.Default(OrderSchema, Value.Clone(value))` without the deep clone and the schema walk
 * (3 % of ingest's CPU per order): while only OrderSchema's own properties have defaults, those
 * are all the walk sets, so a shallow copy with them applied — the way TypeBox's `ValueOrDefault`
 * applies one — is the same value, and the caller's object stays untouched.
 */
function withDefaults(value: unknown): unknown {
  if (TOP_LEVEL_DEFAULTS === undefined || value === null || typeof value !== 'object' || Array.isArray(value) || Object.hasOwn(value, '__proto__')) {
    // An own `__proto__` key (JSON.parse makes one) is a data property to a spread but a prototype
    // to TypeBox's clone: such input takes TypeBox's own path, so the answer never depends on which.
    return Value.Default(OrderSchema, Value.Clone(value));
  }
  // Object.assign onto a literal, not a spread: V8 gives a spread's copy a map of its own, and adding
  // the defaults to it then builds new maps on every call — 3.5 µs against 0.1 µs, and the schema
  // check reads the result faster too (issue 14). Without an own `__proto__` (above) the two copy
  // the same own enumerable properties.
  const copy: Record<string, unknown> = Object.assign({}, value as Record<string, unknown>);
  for (const [key, fallback] of TOP_LEVEL_DEFAULTS) {
    const given = copy[key];
    if (given === undefined) copy[key] = Value.Clone(fallback);
    else if (typeof given === 'object' && given !== null && typeof fallback === 'object' && fallback !== null) {
      copy[key] = Object.assign(Value.Clone(fallback), given);
    }
  }
  return copy;
}

/** Applies defaults to a copy of `value` (the caller's object is not mutated) and checks it. */
export function validateOrder(value: unknown): OrderValidation {
  const candidate = withDefaults(value);
  if (orderCheck.Check(candidate)) return { ok: true, order: candidate };
  return { ok: false, errors: issues(orderCheck, candidate) };
}

/**
 * Checks the batch wrapper (`{ orders: [...] }`, 1–ORDER_BATCH_MAX entries), then each order on
 * its own: `results[i]` is the outcome of `orders[i]`.
 */
export function validateOrderBatch(value: unknown): OrderBatchValidation {
  if (!batchShapeCheck.Check(value)) return { ok: false, errors: issues(batchShapeCheck, value) };
  return { ok: true, results: value.orders.map((o) => validateOrder(o)) };
}

/** Checks a message read from ORDERS; consumers must not trust bytes just because they came from the stream. */
export function validateOrderEnvelope(value: unknown): ValidationResult<OrderEnvelope> {
  if (envelopeCheck.Check(value)) return { ok: true, value };
  return { ok: false, errors: issues(envelopeCheck, value) };
}

/** Target display of a targeted order, with the ORDERS sequence of its own publish. */
export interface OrderTargetAccepted {
  displayId: string;
  /** Order stream (`ORDERS_P<i>`) that stored the publish to this display. */
  stream: string;
  seq: number;
  duplicate: boolean;
}

/** `202` body of `POST /v1/orders`. */
export interface OrderAccepted {
  orderId: string;
  /** True when the order was already accepted (same idempotency key); nothing new was published. */
  duplicate: boolean;
  /** Order stream (`ORDERS_P<i>`, the store's partition) that stored the order: `seq` is a sequence of it. */
  stream: string;
  /** Sequence of the publish in `stream` (for a targeted order, of its first target). */
  seq: number;
  /** Epoch ms when ingest accepted the order. */
  acceptedAt: number;
  /** Trace id carried in NATS headers to the edge and the DLQ (from `traceparent` or generated). */
  traceId: string;
  /** Present for targeted orders (`displayIds`): one entry per target display. */
  targets?: OrderTargetAccepted[];
}

/** One entry of the `POST /v1/orders/batch` answer; `index` is the position in the request. */
/** Outcome of one order of a batch, the same vocabulary as `orderwire_ingest_orders_total`. */
export type OrderOutcome = 'accepted' | 'duplicate' | 'rejected' | 'failed';

export type OrderBatchItemResult =
  | ({ index: number; ok: true; status: 202; outcome: 'accepted' | 'duplicate' } & OrderAccepted)
  | { index: number; ok: false; status: number; outcome: 'rejected' | 'failed'; orderId?: string; error: ErrorBody['error'] };

export interface OrderBatchResponse {
  results: OrderBatchItemResult[];
  accepted: number;
  rejected: number;
}
