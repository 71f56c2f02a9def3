/**
 * Preloaded (`node --expose-gc --import`) into the services a soak spawns: SIGUSR2 runs a full
 * garbage collection. Before each growth sample the soak asks for one, so what it measures is what
 * a process keeps, not old-space garbage a lazy collector has not come back for yet (a service at
 * 20 orders/s can go an hour without a major GC while its heap and RSS climb with dead objects).
 * Never loaded outside the soak.
 */
const gc = (globalThis as { gc?: () => void }).gc;
if (gc !== undefined) process.on('SIGUSR2', () => gc());
