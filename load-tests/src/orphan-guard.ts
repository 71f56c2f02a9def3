/**
 * Preloaded (`node --import`) into every service the bench spawns: when the bench process dies
 * in any way, the service's stdin pipe reaches EOF and the service is killed, so a crashed or
 * SIGKILLed bench never leaves services running. The handle is unref'd: it never keeps a
 * service alive on its own.
 */
process.stdin.on('end', () => process.kill(process.pid, 'SIGKILL'));
process.stdin.on('error', () => process.kill(process.pid, 'SIGKILL'));
process.stdin.resume();
if ('unref' in process.stdin && typeof process.stdin.unref === 'function') process.stdin.unref();
