/**
 * Reads V8 heap snapshots (bench/session-memory.mjs --snapshot writes them) without DevTools:
 *
 *   node --max-old-space-size=4096 services/edge/bench/heap-retainers.mjs <after.heapsnapshot> [--base <before.heapsnapshot> --per <N>] [--top 40] [--retainers <name>[,<name>…]] [--depth 8]
 *
 * Prints self size and count per kind of object (constructor name; closures by function name;
 * strings, arrays, code and system objects by V8's type), or, with `--base`, the difference
 * after − before divided by `--per` (bytes and objects per connected display). `--retainers`
 * prints, for a few instances of each named kind, the chains of objects that keep them alive
 * (strong edges only, up to `--depth` hops): who holds the upgrade request, a Timeout, a string.
 * `--holders <name>[,<name>…]`: every instance's direct holders (kind and field, two hops for the
 * entries of a Map, Set or array), counted: which structures the instances of a kind hang off.
 * `--retained <name>[,<name>…]`: for a few instances, what would be freed if nothing pointed at the
 * instance (everything only it keeps reachable), by kind.
 */
import { readFileSync } from 'node:fs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? dflt : argv[i + 1];
};
const file = argv[0];
const baseFile = opt('base', undefined);
const per = Number(opt('per', '1'));
const top = Number(opt('top', '40'));
const retainersOf = opt('retainers', undefined)?.split(',');
const depth = Number(opt('depth', '8'));
const retainedOf = opt('retained', undefined)?.split(',');
const holdersOf = opt('holders', undefined)?.split(',');

function load(path) {
  const snap = JSON.parse(readFileSync(path, 'utf8'));
  const meta = snap.snapshot.meta;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const iType = meta.node_fields.indexOf('type');
  const iName = meta.node_fields.indexOf('name');
  const iSize = meta.node_fields.indexOf('self_size');
  const iEdges = meta.node_fields.indexOf('edge_count');
  const { nodes, edges, strings } = snap;
  const count = nodes.length / nf;
  const firstEdge = new Uint32Array(count + 1);
  for (let n = 0, e = 0; n < count; n++) {
    firstEdge[n] = e;
    e += nodes[n * nf + iEdges] * ef;
    firstEdge[n + 1] = e;
  }
  const type = (n) => nodeTypes[nodes[n * nf + iType]];
  const name = (n) => strings[nodes[n * nf + iName]];
  const size = (n) => nodes[n * nf + iSize];
  const kind = (n) => {
    const t = type(n);
    if (t === 'object') return name(n);
    if (t === 'closure') return `closure ${name(n) || '(anonymous)'}`;
    if (t === 'native') return `native ${name(n)}`;
    if (t === 'hidden' || t === 'code' || t === 'array') return `(${t}) ${name(n).replace(/\d+/g, '#').slice(0, 60)}`;
    return `(${t})`;
  };
  return { nf, ef, nodes, edges, strings, edgeTypes, count, firstEdge, type, name, size, kind };
}

function histogram(h) {
  const m = new Map();
  for (let n = 0; n < h.count; n++) {
    const k = h.kind(n);
    const e = m.get(k) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += h.size(n);
    m.set(k, e);
  }
  return m;
}

const after = load(file);
const hAfter = histogram(after);
let rows;
if (baseFile !== undefined) {
  const hBase = histogram(load(baseFile));
  rows = [...new Set([...hAfter.keys(), ...hBase.keys()])].map((k) => {
    const a = hAfter.get(k) ?? { count: 0, bytes: 0 };
    const b = hBase.get(k) ?? { count: 0, bytes: 0 };
    return { kind: k, count: (a.count - b.count) / per, bytes: (a.bytes - b.bytes) / per };
  });
} else rows = [...hAfter].map(([kind, e]) => ({ kind, ...e }));
rows.sort((x, y) => y.bytes - x.bytes);
const total = rows.reduce((s, r) => s + r.bytes, 0);
process.stdout.write(`${baseFile === undefined ? 'total' : `per ${per}: after − before`}: ${Math.round(total)} bytes\n`);
for (const r of rows.slice(0, top)) process.stdout.write(`${String(Math.round(r.bytes)).padStart(10)} B ${r.count.toFixed(per === 1 ? 0 : 2).padStart(10)}  ${r.kind}\n`);

if (retainersOf !== undefined) {
  const h = after;
  // Reverse strong edges: who points at each node.
  const retainerCount = new Uint32Array(h.count);
  const weak = new Set(['weak']);
  const edgeType = (e) => h.edgeTypes[h.edges[e]];
  const to = (e) => h.edges[e + 2] / h.nf;
  for (let n = 0; n < h.count; n++) for (let e = h.firstEdge[n]; e < h.firstEdge[n + 1]; e += h.ef) if (!weak.has(edgeType(e))) retainerCount[to(e)]++;
  const firstRet = new Uint32Array(h.count + 1);
  for (let n = 0; n < h.count; n++) firstRet[n + 1] = firstRet[n] + retainerCount[n];
  const fill = firstRet.slice(0, h.count);
  const retNode = new Uint32Array(firstRet[h.count]);
  const retEdge = new Uint32Array(firstRet[h.count]);
  for (let n = 0; n < h.count; n++) {
    for (let e = h.firstEdge[n]; e < h.firstEdge[n + 1]; e += h.ef) {
      if (weak.has(edgeType(e))) continue;
      const t = to(e);
      retNode[fill[t]] = n;
      retEdge[fill[t]++] = e;
    }
  }
  const edgeName = (e) => {
    const t = edgeType(e);
    const v = h.edges[e + 1];
    return t === 'element' || t === 'hidden' ? `[${v}]` : String(h.strings[v]);
  };
  const label = (n) => `${h.kind(n)}${h.type(n) === 'string' ? ` "${h.name(n).slice(0, 40)}"` : ''} @${n}`;
  for (const want of retainersOf) {
    // `str:<prefix>`: strings starting with it; otherwise a kind as printed above. Samples are
    // spread over the instances (the first ones are often the process's own, not a session's).
    const all = [];
    const str = want.startsWith('str:') ? want.slice(4) : undefined;
    for (let n = 0; n < h.count; n++) {
      if (str === undefined ? h.kind(n) === want : h.type(n) === 'string' && h.name(n).startsWith(str)) all.push(n);
    }
    const samples = [...new Set([all[Math.floor(all.length / 2)], all[all.length - 1]])].filter((n) => n !== undefined);
    process.stdout.write(`\nretainers of ${want} (${all.length} instances; ${samples.length} samples):\n`);
    for (const s of samples) {
      process.stdout.write(`${label(s)}\n`);
      const walk = (n, d, seen, indent) => {
        if (d >= depth) return;
        let shown = 0;
        for (let i = firstRet[n]; i < firstRet[n + 1] && shown < 6; i++) {
          const r = retNode[i];
          // Code objects (feedback, scope infos) name things; they do not keep instances alive.
          if (seen.has(r) || h.type(r) === 'code' || h.type(r) === 'synthetic') continue;
          shown++;
          process.stdout.write(`${indent}<- .${edgeName(retEdge[i])} of ${label(r)}\n`);
          seen.add(r);
          walk(r, d + 1, seen, `${indent}  `);
          seen.delete(r);
        }
      };
      walk(s, 0, new Set([s]), '  ');
    }
  }
}

if (retainedOf !== undefined) {
  const h = after;
  const edgeType = (e) => h.edgeTypes[h.edges[e]];
  const to = (e) => h.edges[e + 2] / h.nf;
  const reach = (start, skip) => {
    const seen = new Uint8Array(h.count);
    const stack = [start];
    seen[start] = 1;
    if (skip !== undefined) seen[skip] = 1;
    while (stack.length > 0) {
      const n = stack.pop();
      for (let e = h.firstEdge[n]; e < h.firstEdge[n + 1]; e += h.ef) {
        if (edgeType(e) === 'weak') continue;
        const t = to(e);
        if (seen[t] === 0) {
          seen[t] = 1;
          stack.push(t);
        }
      }
    }
    if (skip !== undefined && start !== skip) seen[skip] = 0;
    return seen;
  };
  for (const want of retainedOf) {
    const all = [];
    for (let n = 0; n < h.count; n++) if (h.kind(n) === want) all.push(n);
    const samples = [...new Set([all[Math.floor(all.length / 3)], all[Math.floor((2 * all.length) / 3)]])].filter((n) => n !== undefined);
    process.stdout.write(`\nretained by one ${want} (${all.length} instances):\n`);
    for (const x of samples) {
      const fromRoot = reach(0, x);
      const fromX = reach(x);
      const kinds = new Map();
      let total = 0;
      for (let n = 0; n < h.count; n++) {
        if (fromX[n] === 1 && fromRoot[n] === 0) {
          total += h.size(n);
          const k = h.kind(n);
          kinds.set(k, (kinds.get(k) ?? 0) + h.size(n));
        }
      }
      const parts = [...kinds].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, b]) => `${k} ${b}`);
      process.stdout.write(`  @${x}: ${total} bytes: ${parts.join(', ')}\n`);
    }
  }
}

if (holdersOf !== undefined) {
  const h = after;
  const edgeType = (e) => h.edgeTypes[h.edges[e]];
  const to = (e) => h.edges[e + 2] / h.nf;
  const wanted = new Set(holdersOf);
  const parents = new Map();
  for (let n = 0; n < h.count; n++) {
    for (let e = h.firstEdge[n]; e < h.firstEdge[n + 1]; e += h.ef) {
      const t = edgeType(e);
      if (t === 'weak' || h.type(n) === 'code' || h.type(n) === 'synthetic') continue;
      const c = to(e);
      if (!wanted.has(h.kind(c)) && !(h.type(c) === 'array' || h.kind(c).startsWith('(array)'))) continue;
      const v = h.edges[e + 1];
      const name = t === 'element' || t === 'hidden' ? '[]' : String(h.strings[v]).replace(/^[A-Za-z0-9_-]{20}$/, '<sid>');
      let list = parents.get(c);
      if (list === undefined) parents.set(c, (list = []));
      list.push([n, name]);
    }
  }
  const describe = (n, hops) => {
    const list = parents.get(n) ?? [];
    if (list.length === 0) return '(root)';
    const [p, name] = list[0];
    const k = h.kind(p);
    if (hops > 0 && (h.type(p) === 'array' || k === 'Map' || k === 'Set')) return `${describe(p, hops - 1)} > ${k}${name}`;
    return `${k}.${name}`;
  };
  for (const want of holdersOf) {
    const counts = new Map();
    let total = 0;
    for (let n = 0; n < h.count; n++) {
      if (h.kind(n) !== want) continue;
      total++;
      const d = describe(n, 2);
      counts.set(d, (counts.get(d) ?? 0) + 1);
    }
    process.stdout.write(`\nholders of ${want} (${total}):\n`);
    for (const [d, c] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, 15)) process.stdout.write(`${String(c).padStart(8)}  ${d}\n`);
  }
}
