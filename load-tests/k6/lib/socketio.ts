/**
 * Engine.IO v4 / Socket.IO v5 framing: the module lives in src/protocol (the Node harness's
 * protocol-level display client speaks it too); k6 loads it from there by relative path.
 */
export * from '../../src/protocol/socketio.ts';
