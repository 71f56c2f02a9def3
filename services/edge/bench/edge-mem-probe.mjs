/**
 * `NODE_OPTIONS="--import <this file>" EDGE_MEM_PROBE_OUT=<file>`: a process whose INSTANCE_ID
 * starts with `edge` appends one JSON line per second to `<file>.<pid>`: RSS and its parts
 * (`process.memoryUsage()`: V8 heap used/committed, external, array buffers), the committed and
 * used size of each V8 heap space, and the heap a major GC left behind (`gc` performance
 * entries), so a bench run shows whether RSS under delivery load is live objects, young- or
 * old-generation headroom, or memory outside V8. Measurement only; never loaded by the service.
 */
const out = process.env.EDGE_MEM_PROBE_OUT;
if (out && (process.env.INSTANCE_ID ?? '').startsWith('edge')) {
  const { appendFileSync } = await import('node:fs');
  const v8 = await import('node:v8');
  const { PerformanceObserver, constants } = await import('node:perf_hooks');
  const file = `${out}.${process.pid}`;
  // EDGE_MEM_PROBE_V8_FLAGS: V8 flags to try on the edge only (NODE_OPTIONS refuses most GC flags).
  if (process.env.EDGE_MEM_PROBE_V8_FLAGS) v8.setFlagsFromString(process.env.EDGE_MEM_PROBE_V8_FLAGS);
  const MB = 2 ** 20;
  let majors = 0;
  let minors = 0;
  let gcMs = 0;
  let liveAfterMajor = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMs += e.duration;
      const kind = e.detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        majors++;
        liveAfterMajor = v8.getHeapStatistics().used_heap_size;
      } else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) minors++;
    }
  }).observe({ entryTypes: ['gc'] });
  const t0 = Date.now();
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    const spaces = {};
    for (const s of v8.getHeapSpaceStatistics()) spaces[s.space_name.replace('_space', '')] = [+(s.space_size / MB).toFixed(1), +(s.space_used_size / MB).toFixed(1)];
    const r = (x) => +(x / MB).toFixed(1);
    appendFileSync(
      file,
      `${JSON.stringify({ t: Math.round((Date.now() - t0) / 1000), rss: r(m.rss), heapTotal: r(m.heapTotal), heapUsed: r(m.heapUsed), external: r(m.external), arrayBuffers: r(m.arrayBuffers), liveAfterMajor: r(liveAfterMajor), majors, minors, gcMs: Math.round(gcMs), spaces })}\n`,
    );
  }, 1000);
  timer.unref();
  // SIGUSR2 starts V8's sampling heap profiler (every allocation site, including objects the
  // scavenger or a major GC already collected: what is allocated, not what survived; with
  // EDGE_MEM_PROBE_PROMOTED=1 only what survived the young generation — what grows old space
  // between major GCs — whether a major GC collected it since or not); the next
  // SIGUSR2 writes `<file>.<n>.heapprofile` (open it in Chrome DevTools, Memory tab).
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  let session;
  let profiles = 0;
  // EDGE_MEM_PROBE_GC=1: SIGUSR2 instead runs full GCs and appends one `{ event: 'gc' }` line with
  // what they left (heap used, RSS, external): the live set, not garbage a lazy collector has not
  // come back for. EDGE_MEM_PROBE_SNAPSHOT=1 also writes `<file>.<n>.heapsnapshot` then
  // (bench/heap-retainers.mjs reads it). bench/session-memory.mjs signals before and after the
  // displays connect: the difference over the displays is the memory per connected display.
  if (process.env.EDGE_MEM_PROBE_GC === '1') {
    v8.setFlagsFromString('--expose-gc');
    const { runInNewContext } = await import('node:vm');
    const gc = runInNewContext('gc');
    let snapshots = 0;
    process.on('SIGUSR2', () => {
      // From a fresh task, twice: weak references and finalizers settle between the passes.
      setImmediate(() => {
        gc();
        setImmediate(() => {
          gc();
          const m = process.memoryUsage();
          appendFileSync(file, `${JSON.stringify({ event: 'gc', t: Math.round((Date.now() - t0) / 1000), rssBytes: m.rss, heapUsedBytes: m.heapUsed, externalBytes: m.external, arrayBuffersBytes: m.arrayBuffers, handles: process.getActiveResourcesInfo().length })}\n`);
          if (process.env.EDGE_MEM_PROBE_SNAPSHOT === '1') v8.writeHeapSnapshot(`${file}.${++snapshots}.heapsnapshot`);
        });
      });
    });
  } else process.on('SIGUSR2', () => {
    void (async () => {
      if (session === undefined) {
        session = new Session();
        session.connect();
        await session.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: process.env.EDGE_MEM_PROBE_PROMOTED !== '1' });
        return;
      }
      const { profile } = await session.post('HeapProfiler.stopSampling');
      session.disconnect();
      session = undefined;
      writeFileSync(`${file}.${++profiles}.heapprofile`, JSON.stringify(profile));
    })();
  });
}
