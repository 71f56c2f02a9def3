/**
 * What a simulated display does with an `orders` batch: the module lives in src/protocol (the
 * Node harness's protocol-level display client does the same); k6 loads it by relative path.
 */
export * from '../../src/protocol/deliveries.ts';
