/** Reported in logs (`version`) — the package version. */
export const EDGE_VERSION = '0.1.0';
